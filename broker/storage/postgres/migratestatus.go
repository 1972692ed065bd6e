package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

// MigrationStatus reports which embedded migrations the database at dsn has
// applied, without applying any (Open applies them).
func MigrationStatus(ctx context.Context, dsn string) ([]storage.MigrationState, error) {
	migs, err := sqlstore.ReadMigrations(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("storage: postgres: invalid DSN")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: open: %w", err)
	}
	defer pool.Close()
	b := &backend{pool: pool}
	var has bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&has); err != nil {
		return nil, b.wrap("migration status", err)
	}
	states, err := sqlstore.MigrationStates(ctx, querier{pool}, migs, has)
	if err != nil {
		return nil, b.wrap("migration status", err)
	}
	return states, nil
}

package broker

import (
	"context"
	"fmt"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/postgres"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

// MigrationStatus reports the schema migrations of the store cfg names, applied
// or pending, without applying any (OpenStore applies them).
func MigrationStatus(ctx context.Context, cfg *config.Config) ([]storage.MigrationState, error) {
	if cfg.Store.Driver == "postgres" {
		dsn, err := cfg.Store.PostgresDSN.Read()
		if err != nil {
			return nil, fmt.Errorf("broker: store.postgres_dsn: %w", err)
		}
		return postgres.MigrationStatus(ctx, string(dsn))
	}
	return sqlite.MigrationStatus(ctx, cfg.Store.SQLitePath)
}

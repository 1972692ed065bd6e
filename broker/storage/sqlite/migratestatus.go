package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

// MigrationStatus reports which embedded migrations the database at path has
// applied, without applying any (Open applies them). A file that does not exist
// is not created: every migration is then pending.
func MigrationStatus(ctx context.Context, path string) ([]storage.MigrationState, error) {
	migs, err := sqlstore.ReadMigrations(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("storage: sqlite: %w", err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return sqlstore.MigrationStates(ctx, nil, migs, false)
	}
	db, err := sql.Open("sqlite", path+fmt.Sprintf("?_busy_timeout=%d&_query_only=1", busyTimeoutMS))
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n); err != nil {
		return nil, fmt.Errorf("storage: sqlite: migration status: %w", err)
	}
	states, err := sqlstore.MigrationStates(ctx, querier{db}, migs, n > 0)
	if err != nil {
		return nil, fmt.Errorf("storage: sqlite: %w", err)
	}
	return states, nil
}

package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// MigrationStates compares the embedded migrations with those recorded in
// schema_migrations, without changing anything. hasTable says whether
// schema_migrations exists (a new database has none: every migration is pending).
// The result is in version order; versions recorded but not embedded are Unknown.
func MigrationStates(ctx context.Context, q Querier, migs []Migration, hasTable bool) ([]storage.MigrationState, error) {
	type rec struct {
		name string
		at   int64
	}
	applied := map[int]rec{}
	if hasTable {
		rows, err := q.Query(ctx, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
		if err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		for rows.Next() {
			var v int
			var r rec
			if err := rows.Scan(&v, &r.name, &r.at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read schema_migrations: %w", err)
			}
			applied[v] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
	}
	out := make([]storage.MigrationState, 0, len(migs)+len(applied))
	known := map[int]bool{}
	for _, m := range migs {
		known[m.Version] = true
		st := storage.MigrationState{Version: m.Version, Name: m.Name}
		if r, ok := applied[m.Version]; ok {
			st.Applied, st.AppliedAt = true, time.Unix(0, r.at).UTC()
		}
		out = append(out, st)
	}
	for v, r := range applied {
		if !known[v] {
			out = append(out, storage.MigrationState{Version: v, Name: r.name, Applied: true, AppliedAt: time.Unix(0, r.at).UTC(), Unknown: true})
		}
	}
	slices.SortFunc(out, func(a, b storage.MigrationState) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

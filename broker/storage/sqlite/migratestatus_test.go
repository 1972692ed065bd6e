package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	states, err := sqlite.MigrationStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) < 4 || states[0].Version != 1 || states[0].Name != "0001_initial.sql" {
		t.Fatalf("states = %+v", states)
	}
	for _, s := range states {
		if s.Applied || s.Unknown {
			t.Errorf("%s applied on a missing file", s.Name)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("MigrationStatus created the file (stat: %v)", err)
	}
	s, err := sqlite.Open(ctx, path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	states, err = sqlite.MigrationStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if !s.Applied || s.AppliedAt.IsZero() {
			t.Errorf("%s not applied after Open", s.Name)
		}
	}
}

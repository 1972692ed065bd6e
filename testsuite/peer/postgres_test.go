package peer

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	pg := StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query := func(dsn string) (string, error) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return "", err
		}
		defer c.Close(ctx)
		var v string
		err = c.QueryRow(ctx, "SELECT current_database() || ' ' || current_setting('listen_addresses')").Scan(&v)
		return v, err
	}
	v, err := query(pg.DSN)
	if err != nil || v != "justiceconnect 127.0.0.1" {
		t.Fatalf("query = %q, %v; want database justiceconnect listening on 127.0.0.1 only", v, err)
	}
	dsn := pg.NewDatabase(t)
	if v, err := query(dsn); err != nil || v != "test_1 127.0.0.1" {
		t.Fatalf("new database: %q, %v", v, err)
	}
	pg.Stop()
	if _, err := query(pg.DSN); err == nil {
		t.Fatalf("query succeeded on a stopped server")
	}
	pg.Start(t)
	if _, err := query(pg.DSN); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	pg.Kill()
	pg.Restart(t)
	if _, err := query(dsn); err != nil {
		t.Fatalf("after crash and restart: %v", err)
	}
}

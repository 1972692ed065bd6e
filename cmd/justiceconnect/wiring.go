package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// The administration commands reach the configured store and keys through these
// hooks, set once before main runs, so that each command file stays free of wiring.
func init() {
	openStore = func(ctx context.Context, cfg *config.Config) (storage.Store, error) {
		return broker.OpenStore(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	migrationStatus = broker.MigrationStatus
	openKeyManager = func(ctx context.Context, path string) (*keys.Manager, storage.AuditStore, func() error, error) {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, nil, nil, err
		}
		raw, err := cfg.Keys.KEK.Read()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("keys.kek: %w", err)
		}
		kek, err := keys.ParseKEK(raw)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("keys.kek: %w", err)
		}
		store, err := openStore(ctx, cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		m := keys.NewManager(store, kek, keys.Options{Algorithms: cfg.Keys.Algorithms,
			MaxTokenLifetime: time.Duration(cfg.Keys.MaxTokenLifetime)})
		return m, store, store.Close, nil
	}
	checkProviderSettings = func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
		t, ok := providerTypes[p.Type]
		if !ok {
			return []config.Problem{{Path: "type", Message: fmt.Sprintf("unknown provider type %q", p.Type)}}
		}
		return t.check(cfg, p)
	}
}

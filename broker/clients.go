package broker

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// syncClients writes the clients declared in configuration to the store at start, so
// every node serves the same registry; clients added with the CLI are left alone.
func syncClients(ctx context.Context, store storage.Store, cfg *config.Config, now func() time.Time) error {
	hash := func(secret []byte) ([]byte, error) { return bcrypt.GenerateFromPassword(secret, bcrypt.DefaultCost) }
	for i, cc := range cfg.Clients {
		c, err := config.ToStorageClient(cc, hash)
		if err != nil {
			return fmt.Errorf("broker: clients[%d]: %w", i, err)
		}
		c.UpdatedAt = now().UTC()
		if c.CreatedAt.IsZero() {
			c.CreatedAt = c.UpdatedAt
		}
		if err := store.UpsertClient(ctx, c); err != nil {
			return fmt.Errorf("broker: store client %s: %w", c.ID, err)
		}
	}
	return nil
}

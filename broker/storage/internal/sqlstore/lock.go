package sqlstore

import (
	"context"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// AdvisoryLocker is implemented by backends whose database is shared between
// processes (PostgreSQL). A backend without it serves one process (SQLite), so
// every lock is granted.
type AdvisoryLocker interface {
	// TryAdvisoryLock is storage.Locker's method; errors are the driver's, the
	// store wraps them.
	TryAdvisoryLock(ctx context.Context, name string) (lease storage.Lease, ok bool, err error)
}

// TryAdvisoryLock implements storage.Locker.
func (s *Store) TryAdvisoryLock(ctx context.Context, name string) (storage.Lease, bool, error) {
	l, isLocker := s.b.(AdvisoryLocker)
	if !isLocker {
		return storage.GrantedLease{}, true, nil
	}
	lease, ok, err := l.TryAdvisoryLock(ctx, name)
	if err != nil {
		return nil, false, s.wrap("advisory lock "+name, err)
	}
	if !ok {
		return nil, false, nil
	}
	return wrappedLease{lease, s, name}, true, nil
}

// wrappedLease wraps the driver's errors from Held like every other store error.
type wrappedLease struct {
	storage.Lease
	s    *Store
	name string
}

func (l wrappedLease) Held(ctx context.Context) error {
	if err := l.Lease.Held(ctx); err != nil {
		return l.s.wrap("advisory lock "+l.name, err)
	}
	return nil
}

package sqlstore

import (
	"context"
)

// AdvisoryLocker is implemented by backends whose database is shared between
// processes (PostgreSQL). A backend without it serves one process (SQLite), so
// every lock is granted.
type AdvisoryLocker interface {
	// TryAdvisoryLock is storage.Locker's method; errors are the driver's, the
	// store wraps them.
	TryAdvisoryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// TryAdvisoryLock implements storage.Locker.
func (s *Store) TryAdvisoryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	l, isLocker := s.b.(AdvisoryLocker)
	if !isLocker {
		return func() {}, true, nil
	}
	unlock, ok, err = l.TryAdvisoryLock(ctx, name)
	if err != nil {
		return nil, false, s.wrap("advisory lock "+name, err)
	}
	return unlock, ok, nil
}

// Package postgres is storage.Store on PostgreSQL through pgx/v5 (pgxpool), the store
// several broker nodes share. Transactions run at READ COMMITTED: the conditional
// updates that must not race (code invalidation, refresh rotation, flow versions,
// one-time markers) are single statements whose row locks make the second of two
// concurrent writers see the first one's result. Audit appends take a transaction-
// scoped advisory lock so that the hash chain stays linear across nodes. Migrations
// in migrations/ run at Open under a transaction-scoped advisory lock, so nodes
// starting together apply each migration once.
package postgres

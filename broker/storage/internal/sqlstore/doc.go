// Package sqlstore is the SQL implementation of storage.Store shared by the sqlite
// and postgres packages. It holds every query and the fosite request (de)serialisation
// once; each database package supplies a Backend (connections, transactions, the
// audit-chain lock, error classification) and its own embedded migrations. Queries
// are written with "?" placeholders in the SQL subset both SQLite (3.35+) and
// PostgreSQL understand (ON CONFLICT, RETURNING); the postgres backend rewrites the
// placeholders to $n.
package sqlstore

// Package sqlite is the embedded default store: storage.Store on one SQLite file
// through the pure-Go modernc.org/sqlite driver (no cgo, zero setup). The database
// runs in WAL mode so that reads (a pool of read-only connections) never wait for
// the writer; all writes go through a single connection whose transactions start
// with BEGIN IMMEDIATE, so a transaction never discovers halfway that another one
// holds the write lock (SQLITE_BUSY), and busy_timeout covers other processes
// (the CLI) writing the same file. Migrations in migrations/ run at Open.
package sqlite

// Package multinode runs several justiceconnect serve processes on one PostgreSQL
// database, behind a load balancer played by the test's HTTP client: every request
// of a login goes to another node, nodes are killed and stopped mid-flight, and the
// database restarts under load (issue #7). The binary is built once per run; a
// missing PostgreSQL is a failure, not a skip.
package multinode

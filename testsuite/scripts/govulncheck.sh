#!/usr/bin/env bash
# govulncheck.sh scans both modules with govulncheck (pinned version, fetched through
# the Go module proxy). It uses the Go vulnerability database when it answers and the
# local copy in testsuite/vulndb otherwise (see its README), and says which.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=v1.9.0
gobin="$(go env GOPATH)/bin"
if ! "$gobin/govulncheck" -version 2>/dev/null | grep -q "govulncheck@$version"; then
  GOFLAGS=-mod=mod go install "golang.org/x/vuln/cmd/govulncheck@$version"
fi
db=https://vuln.go.dev
if ! curl -fsS -m 5 -o /dev/null "$db/index/db.json" 2>/dev/null; then
  db="file://$(pwd)/testsuite/vulndb"
  echo "govulncheck: the online database is unreachable; using the local copy $db"
fi
"$gobin/govulncheck" -db "$db" ./...
(cd claims && "$gobin/govulncheck" -db "$db" ./...)

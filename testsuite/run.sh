#!/usr/bin/env bash
# run.sh is the one command that runs every test of JusticeConnect (README.md):
# it installs the real peers the testsuite needs (Debian packages, npm packages from
# the lock file), checks formatting, vets, scans for known vulnerabilities, and runs
# the Go tests of both modules, the testsuite included (it starts OpenLDAP,
# PostgreSQL, SimpleSAMLphp, oidc-provider, openid-client, Apache and Chromium as
# local processes itself).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing peers"
./testsuite/scripts/install-peers.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
(cd claims && go vet ./...)
# The profiling endpoint is only in builds with -tags pprof (docs/PERFORMANCE.md).
go vet -tags pprof ./cmd/justiceconnect

echo "== govulncheck"
./testsuite/scripts/govulncheck.sh

echo "== tests (claims module)"
(cd claims && go test -race -count=1 ./...)

echo "== tests (broker, providers, testsuite)"
go test -race -count=1 -timeout 20m ./...
go test -race -count=1 -tags pprof -run TestStartPprof ./cmd/justiceconnect

echo "== fuzzing (bounded: FUZZEXECS executions each target)"
./testsuite/scripts/fuzz.sh

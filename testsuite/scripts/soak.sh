#!/bin/sh
# soak.sh runs the memory soak of issue #8 against a demo broker on 127.0.0.1:
# first the capacity (the mix, unpaced, CAPACITY_RUN long), then the same mix paced
# at FRACTION of it for SOAK, with the broker's RSS sampled every SAMPLE. The load
# tool's JSON report (OUT/soak.json) holds the timeline and the least-squares RSS
# slope in MB/hour, printed at the end.
#
#   testsuite/scripts/soak.sh                            # from the module root: 30 min
#   SOAK=5m SAMPLE=30s OUT=/tmp/soak testsuite/scripts/soak.sh
#
# Loopback only, bounded in time (CAPACITY_RUN + SOAK + a few seconds of set-up).
set -eu
cd "$(dirname "$0")/../.."
SOAK=${SOAK:-30m}
SAMPLE=${SAMPLE:-1m}
FRACTION=${FRACTION:-0.7}
CAPACITY_RUN=${CAPACITY_RUN:-20s}
CONC=${CONC:-32}
PORT=${PORT:-18291}
OUT=${OUT:-$(mktemp -d /tmp/jc-soak.XXXXXX)}
mkdir -p "$OUT"
echo "soak: results in $OUT"

go build -o "$OUT/justiceconnect" ./cmd/justiceconnect
go build -o "$OUT/justiceconnect-load" ./cmd/justiceconnect-load
JC=$OUT/justiceconnect
LOAD=$OUT/justiceconnect-load

PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null || true; done' EXIT INT TERM
. testsuite/scripts/demo-lib.sh
demo_start demo "$PORT"
PID=$(cat "$OUT/demo.pid")
demo_admin demo "$PORT"
AUD=https://api.justice.example/load
EX=$("$JC" clients add --config "$OUT/demo-admin.yaml" --json --id load-exchanger --name "Load exchanger" --kind first_party \
	--redirect-uri http://127.0.0.1/callback --scope openid --scope profession --grant-type authorization_code \
	--grant-type urn:ietf:params:oauth:grant-type:token-exchange --audience $AUD | jq -r '.client_id + ":" + .client_secret')

COMMON="--demo-json $OUT/demo.json --scenario mix --exchange-client $EX --exchange-audience $AUD --concurrency $CONC --pid $PID --store-file $OUT/demo/justiceconnect.db --json"
echo "soak: capacity, $CAPACITY_RUN unpaced; load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$LOAD" $COMMON --duration "$CAPACITY_RUN" --progress=false >"$OUT/capacity.json" 2>"$OUT/capacity.err"
CAP=$(jq .ops_per_s "$OUT/capacity.json")
RATE=$(echo "$CAP $FRACTION" | awk '{printf "%.0f", $1 * $2}')
echo "soak: capacity $CAP ops/s; soaking at $RATE ops/s for $SOAK, RSS every $SAMPLE; load average $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
"$LOAD" $COMMON --duration "$SOAK" --rate "$RATE" --sample-every "$SAMPLE" --progress=false >"$OUT/soak.json" 2>"$OUT/soak.err" || rc=$?
tail -n +1 "$OUT/soak.err" | sed -n '/^timeline/,$p'
echo "soak: load average at the end $(cut -d' ' -f1-3 /proc/loadavg); exit $rc"
jq -r '"soak: \(.ops_per_s | floor) ops/s for \(.duration_s | floor) s (target \(.target_rate)), \(.errors) errors, peak RSS \(.broker.peak_rss_bytes / 1048576 | floor) MB, RSS slope \(.rss_slope_mb_per_hour) MB/hour"' "$OUT/soak.json"
exit $rc

#!/bin/sh
# datasize.sh measures what a big store costs (issue #8): two demo brokers run side
# by side on 127.0.0.1, one on an empty store and one on a store filled with
# ROWS realistic rows (`justiceconnect-load fill`: SSO sessions, codes, access and
# refresh tokens of logins at three applications), EXPIRED (0.5) of them expired.
#
#  1. cleanup: right after the filled broker starts, an SSO load runs on it for
#     CLEAN_S seconds with a timeline every second; its first cleanup (one minute
#     after start) deletes the expired half meanwhile. A cleanup that held the
#     SQLite writer would show as one second's max and p99. It prints how fast
#     the cleanup deleted the token rows expired at start and how fast the flows
#     added others (both counted every 2 s): it keeps up when the first is at
#     least the second. The same run on the empty broker follows, as the
#     baseline (the filled broker's cleanup may still be running meanwhile).
#  2. rates: cc, sso, refresh and introspect, DURATION each, alternating the empty
#     and the filled broker, ROUNDS rounds (order swapped every round, so a drift
#     of the shared machine's load hits both alike). The ratio filled/empty of each
#     is printed; the JSON reports stay in OUT.
#
#   testsuite/scripts/datasize.sh                 # from the module root
#   ROWS=2000000 DURATION=10s ROUNDS=2 OUT=/tmp/ds testsuite/scripts/datasize.sh
#
# Each rate run starts a new broker process, the empty one on a fresh copy of its
# prepared store; FRESH=0 keeps both running from one run to the next instead
# (as before 2026-12-03 evening: the "empty" store then filled up as it went).
#
# CLEAN_RATE=430 paces the cleanup phase's SSO load to that many flows per second
# in all (the load tool's --rate; 0, the default: as fast as it goes).
# JC_BIN=/path/to/justiceconnect runs another build of the broker (an older
# commit, to compare its cleanup); RATES=0 stops after the cleanup phase;
# KEEP_SEED=1 keeps a copy of the filled data directory before the broker runs on
# it (OUT/filled-seed) and SEED_DIR=that copy starts from it instead of filling.
#
# FILL_ARGS adds flags to the fill (`--audit=false`: no audit events, as the
# fill before 2026-12-07 evening).
#
# It also prints, per operation, the broker's CPU, write calls, bytes written and
# pages dirtied for the disk, empty -> filled (the load tool's --pid report).
#
# Loopback only; bounded: about 3 min of fill for 2M rows, then
# 2*CLEAN_S + 8*ROUNDS*DURATION of load. Needs sqlite3 and jq.
set -eu
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-2000000}
EXPIRED=${EXPIRED:-0.5}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CLEAN_S=${CLEAN_S:-100}
CLEAN_RATE=${CLEAN_RATE:-0}
CONC=${CONC:-32}
PORT_E=${PORT_E:-18281}
PORT_F=${PORT_F:-18282}
OUT=${OUT:-$(mktemp -d /tmp/jc-datasize.XXXXXX)}
mkdir -p "$OUT"
echo "datasize: results in $OUT"

RATES=${RATES:-1}
FRESH=${FRESH:-1}
if [ -n "${JC_BIN:-}" ]; then
	cp "$JC_BIN" "$OUT/justiceconnect"
else
	go build -o "$OUT/justiceconnect" ./cmd/justiceconnect
fi
go build -o "$OUT/justiceconnect-load" ./cmd/justiceconnect-load
JC=$OUT/justiceconnect
LOAD=$OUT/justiceconnect-load

PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

. testsuite/scripts/demo-lib.sh

# prepare NAME PORT: creates the store with the demo and two more applications,
# so that logins reach three clients.
prepare() {
	demo_start "$1" "$2"
	demo_admin "$1" "$2"
	for app in load-app-2 load-app-3; do
		"$JC" clients add --config "$OUT/$1-admin.yaml" --json --id $app --name "Load $app" --kind first_party \
			--redirect-uri http://127.0.0.1/callback >/dev/null
	done
	demo_stop "$1"
}

prepare empty "$PORT_E"
cp -r "$OUT/empty" "$OUT/empty-prepared"
[ -n "${SEED_DIR:-}" ] || prepare filled "$PORT_F"
if [ -n "${SEED_DIR:-}" ]; then
	# A filled data directory of an earlier run: its store, secrets and key.
	rm -rf "$OUT/filled"
	cp -r "$SEED_DIR" "$OUT/filled"
	echo "datasize: filled store copied from $SEED_DIR"
else
	echo "datasize: filling $ROWS rows ($EXPIRED of them expired)"
	# shellcheck disable=SC2086 # FILL_ARGS is a list of flags
	"$LOAD" fill --sqlite "$OUT/filled/justiceconnect.db" --rows "$ROWS" --expired "$EXPIRED" ${FILL_ARGS:-} >"$OUT/fill.json"
	cat "$OUT/fill.json"
	if [ "${KEEP_SEED:-0}" = 1 ]; then cp -r "$OUT/filled" "$OUT/filled-seed"; fi
fi

count() {
	sqlite3 "$OUT/$1/justiceconnect.db" "SELECT (SELECT count(*) FROM oauth_access_tokens) + (SELECT count(*) FROM oauth_refresh_tokens) + (SELECT count(*) FROM oauth_codes) + (SELECT count(*) FROM sso_sessions)"
}

# run NAME SCENARIO TAG [ARGS...]: one load run against broker NAME.
run() {
	name=$1 sc=$2 tag=$3
	shift 3
	echo "$(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $name $sc $tag, $(count "$name") rows" | tee -a "$OUT/loadavg.log"
	"$LOAD" --demo-json "$OUT/$name.json" --scenario "$sc" --concurrency "$CONC" --pid "$(cat "$OUT/$name.pid")" \
		--store-file "$OUT/$name/justiceconnect.db" --progress=false --json "$@" >"$OUT/$tag.json" 2>"$OUT/$tag.err" || {
		echo "datasize: $tag failed (exit $?)" >&2
		tail -20 "$OUT/$tag.err" >&2
	}
}

# restart NAME: a new broker process for the next run, on the store as prepared
# for the empty one. Otherwise the "empty" store keeps what every run before left
# in it (about 50,000 rows per 20 s of SSO flows: half a million by the last
# scenario), and only one of the two brokers would start each run warm.
restart() {
	demo_stop "$1"
	port=$PORT_F
	if [ "$1" = empty ]; then
		rm -rf "$OUT/empty"
		cp -r "$OUT/empty-prepared" "$OUT/empty"
		port=$PORT_E
	fi
	demo_start "$1" "$port"
}

demo_start empty "$PORT_E"
T0NS=$(date +%s%N)
demo_start filled "$PORT_F"
echo "datasize: rows in the filled store at start: $(count filled)"

# tokens NAME: the token rows that had expired when the filled broker started
# (the cleanup's backlog), all token rows, and the SSO sessions (with the token
# rows, what count NAME counts), in one read of the store.
tokens() {
	backlog="" all=""
	for t in oauth_access_tokens oauth_refresh_tokens oauth_codes; do
		backlog="$backlog${backlog:+ + }(SELECT count(*) FROM $t WHERE expires_at < $T0NS)"
		all="$all${all:+ + }(SELECT count(*) FROM $t)"
	done
	sqlite3 -separator ' ' "$OUT/$1/justiceconnect.db" "SELECT $backlog, $all, (SELECT count(*) FROM sso_sessions)"
}
# Every 2 s: seconds, all rows, the backlog left, all token rows. The row count
# shows when the cleanup ran; the backlog how fast it deletes, counted directly.
(
	t0=$(date +%s)
	while :; do
		set -- $(tokens filled)
		echo "$(($(date +%s) - t0)) $(($2 + $3)) $1 $2"
		sleep 2
	done
) >"$OUT/filled-rows.log" 2>/dev/null &
PIDS="$PIDS $!"
COUNTER=$!
run filled sso cleanup-filled --duration "${CLEAN_S}s" --sample-every 1s --rate "$CLEAN_RATE"
kill $COUNTER
echo "datasize: rows after the first cleanup: $(count filled)"
# The broker logs each cleanup that deleted rows, with its duration.
if grep -q 'cleanup: expired rows deleted' "$OUT/filled.err"; then
	grep -h 'cleanup: expired rows deleted' "$OUT/filled.err" | sed 's/^/datasize: filled broker: /'
else
	echo "datasize: the filled broker's first cleanup had not finished by the end of the run"
fi
run empty sso cleanup-empty --duration "${CLEAN_S}s" --sample-every 1s --rate "$CLEAN_RATE"

for name in filled empty; do
	jq -r "\"cleanup run on $name: \" + (.ops[] | select(.op == \"sso\") | \"\(.per_s | floor) sso/s, p99 \(.p99_ms) ms, max \(.max_ms) ms\") + \"; worst second: p99 \" + ([.samples[].p99_ms] | max | tostring) + \" ms, max \" + ([.samples[].max_ms] | max | tostring) + \" ms; \" + ([.samples[] | select(.ok == 0 and .interval_s > 0.9)] | length | tostring) + \" seconds without a completed flow, \" + (.errors | tostring) + \" errors\"" "$OUT/cleanup-$name.json"
done
echo "filled store rows over time (s rows): $(awk '{printf "%s %s ", $1, $2}' "$OUT/filled-rows.log" | cut -c1-600)"
# From 75 s on (the first cleanup starts a minute after the broker), least-squares
# slopes: how fast the backlog shrinks, and how fast the token rows that were
# not in it grow (what the flows leave behind; the cleanup keeps up when it
# deletes at least that). The broker does not delete new rows yet: they expire
# later than the run ends, codes a day after expiring (sqlstore.CodeRetention).
awk '$1 >= 75 && NF >= 4 { n++; x += $1; xx += $1 * $1; b += $3; xb += $1 * $3; l += $4 - $3; xl += $1 * ($4 - $3) }
	END { if (n < 3) { print "datasize: too few samples after 75 s to tell the cleanup'"'"'s rate"; exit }
		d = n * xx - x * x
		printf "datasize: from 75 s on, the cleanup deleted %.0f rows/s of the tokens expired at start; the other token rows grew by %.0f rows/s (%d samples)\n", -(n * xb - x * b) / d, (n * xl - x * l) / d, n }' "$OUT/filled-rows.log"
[ "$RATES" != 0 ] || exit 0

for sc in cc sso refresh introspect; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		if [ $((r % 2)) -eq 1 ]; then order="empty filled"; else order="filled empty"; fi
		for name in $order; do
			[ "$FRESH" = 0 ] || restart "$name"
			run "$name" "$sc" "$sc-$name-$r" --duration "$DURATION"
		done
		r=$((r + 1))
	done
done

echo
echo "datasize: filled store ${SEED_DIR:-of $ROWS rows}; ratios filled/empty of the mean ops/s over $ROUNDS rounds; the worst p99 in ms"
printf '%-11s %10s %10s %7s %9s %9s\n' scenario empty/s filled/s ratio p99-empty p99-filled
for sc in cc sso refresh introspect; do
	e=$(jq -s "map(.ops[] | select(.op == \"$sc\") | .per_s) | add / length" "$OUT"/$sc-empty-*.json)
	f=$(jq -s "map(.ops[] | select(.op == \"$sc\") | .per_s) | add / length" "$OUT"/$sc-filled-*.json)
	pe=$(jq -s "map(.ops[] | select(.op == \"$sc\") | .p99_ms) | max" "$OUT"/$sc-empty-*.json)
	pf=$(jq -s "map(.ops[] | select(.op == \"$sc\") | .p99_ms) | max" "$OUT"/$sc-filled-*.json)
	printf '%-11s %10.1f %10.1f %7.3f %9.1f %9.1f\n' "$sc" "$e" "$f" "$(echo "$f $e" | awk '{print $1/$2}')" "$pe" "$pf"
done

# The broker's CPU and I/O per operation (the load tool's --pid report): counts
# a noisy machine does not change, so they show what a big store costs even when
# the rates above drift. Disk KB: pages the broker dirtied for the disk.
echo
echo "datasize: per operation, empty -> filled (mean over $ROUNDS rounds)"
printf '%-11s %19s %19s %19s %21s\n' scenario "CPU ms" "write calls" "KB written" "disk KB dirtied"
for sc in cc sso refresh introspect; do
	line=$(printf '%-11s' "$sc")
	for q in '.broker.cpu_seconds * 1000 / (.ops[] | select(.op == $sc) | .ok)' '.broker.io.per_op.write_calls' \
		'.broker.io.per_op.written_bytes / 1024' '.broker.io.per_op.disk_write_bytes / 1024'; do
		e=$(jq -s --arg sc "$sc" "map($q) | add / length" "$OUT"/$sc-empty-*.json)
		f=$(jq -s --arg sc "$sc" "map($q) | add / length" "$OUT"/$sc-filled-*.json)
		line="$line $(printf '%8.2f -> %8.2f' "$e" "$f")"
	done
	echo "$line"
done

# demo-lib.sh: shell functions shared by datasize.sh and soak.sh, sourced after
# they set JC (the broker binary), OUT (their output directory) and PIDS (the
# processes they end on exit).

# demo_start NAME PORT: runs the demo on 127.0.0.1:PORT with its store in
# $OUT/NAME, its output in $OUT/NAME.out and .err, its PID in $OUT/NAME.pid, and
# waits for the JSON line it prints once it serves ($OUT/NAME.json).
demo_start() {
	# A fresh output file: the demo's redirection happens after the fork, so the
	# old one could be read (then truncated) first.
	rm -f "$OUT/$1.out" "$OUT/$1.json"
	"$JC" demo --addr "127.0.0.1:$2" --data "$OUT/$1" >"$OUT/$1.out" 2>>"$OUT/$1.err" &
	echo $! >"$OUT/$1.pid"
	PIDS="$PIDS $!"
	i=0
	until grep -q '^{"issuer"' "$OUT/$1.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "$(basename "$0"): demo $1 did not start" >&2; cat "$OUT/$1.err" >&2; exit 1; }
		sleep 0.2
	done
	grep '^{"issuer"' "$OUT/$1.out" | tail -1 >"$OUT/$1.json"
}

# demo_stop NAME: ends the demo started as NAME and waits until it is gone.
demo_stop() {
	kill "$(cat "$OUT/$1.pid")"
	while kill -0 "$(cat "$OUT/$1.pid")" 2>/dev/null; do sleep 0.1; done
}

# demo_admin NAME PORT: writes $OUT/NAME-admin.yaml, the configuration with which
# `justiceconnect clients add` reaches the store of the demo NAME.
demo_admin() {
	cat >"$OUT/$1-admin.yaml" <<EOA
issuer: "http://127.0.0.1:$2"
mode: development
insecure_allow_http_issuer: true
store: {driver: sqlite, sqlite_path: "$OUT/$1/justiceconnect.db"}
keys: {kek: {file: "$OUT/$1/kek"}}
EOA
}

# bench/restart_dynalite.sh - sourced by the benchmark scripts that need a
# fresh dynalite more than once: restart_dynalite [LATENCY_MS] stops the
# one started before (if any) and starts another (--latency-ms when given),
# on a free loopback port; sets $url and $dyn_pid. Needs $out (a scratch
# folder); the caller's EXIT trap stops the last one.
dyn_pid=
restart_dynalite() {
    [ -n "$dyn_pid" ] && kill $dyn_pid 2>/dev/null && wait $dyn_pid 2>/dev/null || true
    node tests/dynalite/start.js ${1:+--latency-ms "$1"} > "$out/port" &
    dyn_pid=$!
    tries=0
    while ! grep -q LISTENING "$out/port" 2>/dev/null; do
        if ! kill -0 $dyn_pid 2>/dev/null || [ $tries -ge 300 ]; then
            echo "bench: dynalite did not start (make deps installs it)" >&2; exit 1
        fi
        tries=$((tries + 1)); sleep 0.1
    done
    url=http://127.0.0.1:$(awk '{print $2}' "$out/port")
}

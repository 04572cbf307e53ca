#!/bin/sh
# bench/verify_latency.sh BEFORE AFTER [ITEMS] [ROUNDS] - the verify phase of
# vams/v2.4-to-v2.5 (--verify-only) of two builds, taking turns, against two
# dynalites seeded alike: one answering at once and one 30 ms late. Prints
# each run's verify time at 0 and 30 ms and the ratio (throughput at 30 ms
# over throughput at 0 ms; 1.0 is server-bound). Turns and rounds (default
# 4) spread a shared machine's noise over both builds. Each binary runs the
# migrations of its own tree.
set -eu
cd "$(dirname "$0")/.."
before=$1 after=$2
items=${3:-23000}
rounds=${4:-4}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
out=$(mktemp -d)
pids=
trap 'kill $pids 2>/dev/null; rm -rf "$out"' EXIT

# start MS: a dynalite adding MS per request; its URL in $out/url.MS
start() {
    node tests/dynalite/start.js --latency-ms "$1" > "$out/port.$1" &
    pids="$pids $!"
    tries=0
    while ! grep -q LISTENING "$out/port.$1" 2>/dev/null; do
        [ $tries -ge 300 ] && { echo "bench: dynalite did not start" >&2; exit 1; }
        tries=$((tries + 1)); sleep 0.1
    done
    echo "http://127.0.0.1:$(awk '{print $2}' "$out/port.$1")" > "$out/url.$1"
}

# verify BIN MS: the verify phase's seconds
verify() {
    "$1" run vams/v2.4-to-v2.5 --config "$out/config.json" --endpoint-url "$(cat "$out/url.$2")" \
        --state-dir "$out/state" --quiet --verify-only --report "$out/report.json" > /dev/null 2>&1
    BENCH_REPORT=$out/report.json build/mighost eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        for _, p in ipairs(r.phases) do if p.name == "verify" then print(p.duration_seconds) end end'
}

start 0
start 30
for ms in 0 30; do
    url=$(cat "$out/url.$ms")
    build/mighost run --endpoint-url "$url" scripts/vams_seed.lua "prefix=b-" "items=$items" > /dev/null
    build/mighost run --endpoint-url "$url" scripts/vams_tables.lua "b-" > "$out/tables"
    awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
        "$out/tables" > "$out/config.json"
    build/mighost run vams/v2.4-to-v2.5 --config "$out/config.json" --endpoint-url "$url" \
        --state-dir "$out/state.$ms" --quiet --yes > /dev/null 2>&1
done
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $items source items"
for r in $(seq "$rounds"); do
    for bin in "$before" "$after"; do
        d0=$(verify "$bin" 0)
        d30=$(verify "$bin" 30)
        awk -v b="$bin" -v a="$d0" -v c="$d30" 'BEGIN {
            printf "%-40s verify %6.3f s at 0 ms, %6.3f s at 30 ms: ratio %.2f\n", b, a, c, a / c }'
    done
done

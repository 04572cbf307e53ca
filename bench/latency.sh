#!/bin/sh
# bench/latency.sh MIGHOST [ITEMS] [LATENCIES] - vams/v2.4-to-v2.5 and the
# plain copy against dynalite with N ms added to every request (default
# "0 10 30"): items/s per phase, the requests in flight each phase chose,
# client CPU per 100k source items and peak RSS; and, with
# BASELINE=1, the same run one request at a time (--concurrency 1
# --segments 1: what a sequential script does) as the baseline.
set -eu
cd "$(dirname "$0")/.."
mighost=${1:-build/mighost}
items=${2:-23000}
latencies=${3:-"0 10 30"}
baseline=${BASELINE:-0}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
out=$(mktemp -d)
. bench/restart_dynalite.sh
trap '[ -n "$dyn_pid" ] && kill $dyn_pid 2>/dev/null; rm -rf "$out"' EXIT

# measure LABEL N MIGRATION ARGS...: one line (wall, items/s, CPU per 100k,
# peak RSS) and one per phase (items/s, client CPU, in flight chosen) from
# the report.
measure() {
    label=$1 n=$2; shift 2
    rm -rf "$out/state"
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run "$@" --endpoint-url "$url" \
        --state-dir "$out/state" --quiet --yes --report "$out/report.json" > /dev/null 2> "$out/err" \
        || { cat "$out/err" >&2; exit 1; }
    read -r wall user sys rss < "$out/time"
    awk -v l="$label" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "  %-34s %7.2f s %7.0f items/s  cpu %.2f s (%.2f s/100k)  rss %d MB\n",
               l, w, n / w, u + s, (u + s) / n * 100000, r / 1024 }'
    BENCH_REPORT=$out/report.json "$mighost" eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        for _, p in ipairs(r.phases) do
          local d = p.duration_seconds or 0
          local n = p.scanned or 0
          if p.verification then
            n = 0
            for _, c in ipairs(p.verification.checks or {}) do n = n + (c.checked or 0) end
          end
          local f = {}
          for op, v in pairs(p.in_flight or {}) do f[#f + 1] = ("%s %d (max %d)"):format(op, v.final, v.max) end
          table.sort(f)
          -- Client CPU in the phase and peak RSS so far (older reports have neither).
          local cpu = p.cpu_seconds and ("cpu %5.2f s  rss %3.0f MB  "):format(p.cpu_seconds,
            p.peak_rss_mb or 0) or ""
          print(("    %-20s %7.2f s %8d items %8.0f items/s  %s%s"):format(p.name, d, n,
            d > 0 and n / d or 0, cpu, #f > 0 and ("in flight: " .. table.concat(f, ", ")) or ""))
        end'
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$mighost" --version 2>/dev/null | head -1)"
# seed_vams: fresh v2.4 tables of $items source items; sets $n.
seed_vams() {
    "$mighost" run --endpoint-url "$url" scripts/vams_seed.lua "prefix=b-" "items=$items" > "$out/seed"
    n=$(awk '$1 == "source_items" {print $2}' "$out/seed")
    "$mighost" run --endpoint-url "$url" scripts/vams_tables.lua "b-" > "$out/tables"
    awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
        "$out/tables" > "$out/config.json"
}

for ms in $latencies; do
    restart_dynalite "$ms"
    seed_vams
    echo "latency $ms ms: vams/v2.4-to-v2.5, $n source items"
    measure "run (copy, backfill, verify)" "$n" vams/v2.4-to-v2.5 --config "$out/config.json"
    "$mighost" run --endpoint-url "$url" bench/lua/write.lua plain_src "$items" 16 > /dev/null
    "$mighost" run --endpoint-url "$url" bench/lua/create_table.lua plain_dst > /dev/null
    echo "latency $ms ms: plain copy, $items items"
    measure "copy + verify" "$items" bench/lua/plain_copy.lua --set source=plain_src --set destination=plain_dst
    if [ "$baseline" = 1 ]; then
        restart_dynalite "$ms"
        seed_vams
        measure "vams, sequential baseline" "$n" vams/v2.4-to-v2.5 --config "$out/config.json" \
            --concurrency 1 --segments 1
    fi
done

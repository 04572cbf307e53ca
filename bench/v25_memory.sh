#!/bin/sh
# bench/v25_memory.sh MIGHOST [SIZES] [COPY_ITEMS] - peak RSS and client CPU
# of vams/v2.4-to-v2.5 (copy, backfill, verify; --yes) on SIZES source items
# (default "10000 100000 500000"), each on a fresh dynalite seeded by
# scripts/vams_seed.lua; then, with COPY_ITEMS (default 100000; 0: none), the
# plain copy script bench/lua/copy.lua (16 segments, 16 in flight) on a
# table of that many items. MIGHOST is the binary measured (another tree's
# build runs with its own migrations); the seeding always uses
# build/mighost, so both sides get the same data.
set -eu
cd "$(dirname "$0")/.."
mighost=${1:-build/mighost}
sizes=${2:-"10000 100000 500000"}
copy_items=${3:-100000}
seeder=build/mighost
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
out=$(mktemp -d)
. bench/restart_dynalite.sh
trap '[ -n "$dyn_pid" ] && kill $dyn_pid 2>/dev/null; rm -rf "$out"' EXIT

# line LABEL N: wall, CPU (user + sys) and per 100k, peak RSS from $out/time
line() {
    read -r wall user sys rss < "$out/time"
    awk -v l="$1" -v n="$2" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "%-34s %8d items %8.2f s  cpu %6.2f s (%5.2f s/100k)  peak rss %3d MB\n",
               l, n, w, u + s, (u + s) / n * 100000, r / 1024 }'
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $mighost"
for n in $sizes; do
    restart_dynalite
    "$seeder" run --endpoint-url "$url" scripts/vams_seed.lua "prefix=m-" "items=$n" > "$out/seed"
    items=$(awk '$1 == "source_items" {print $2}' "$out/seed")
    "$seeder" run --endpoint-url "$url" scripts/vams_tables.lua "m-" > "$out/tables"
    awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
        "$out/tables" > "$out/config.json"
    rm -rf "$out/state"
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run vams/v2.4-to-v2.5 \
        --config "$out/config.json" --endpoint-url "$url" --state-dir "$out/state" --quiet --yes \
        --report "$out/report.json" > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
    line "vams/v2.4-to-v2.5 run" "$items"
    BENCH_REPORT=$out/report.json "$seeder" eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        local t = {}
        for _, p in ipairs(r.phases) do t[#t + 1] = ("%s %.2f s"):format(p.name, p.duration_seconds or 0) end
        print("    load " .. io.open("/proc/loadavg"):read("l"):match("^(%S+ %S+ %S+)") ..
              "; phases: " .. table.concat(t, ", "))'
done
if [ "$copy_items" -gt 0 ]; then
    restart_dynalite
    "$seeder" run --endpoint-url "$url" bench/lua/write.lua src "$copy_items" 16 > /dev/null
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run --endpoint-url "$url" \
        bench/lua/copy.lua src dst 16 16 > /dev/null
    line "plain copy (bench/lua/copy.lua)" "$copy_items"
fi

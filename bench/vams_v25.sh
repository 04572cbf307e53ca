#!/bin/sh
# bench/vams_v25.sh BUILD_DIR [SIZES] - the VAMS v2.4 -> v2.5 migration on
# seeded data of SIZES source items (asset versions + file versions +
# metadata rows; default "10000 100000") against dynalite: wall time, source
# items per second, client CPU and peak RSS of the dry run, the real run
# (which includes its verification) and --verify-only.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
sizes=${2:-"10000 100000"}
mighost=$build/mighost
. bench/dynalite.sh

# measure WHAT N ARGS...: runs the migration with ARGS; one line of wall
# time, N/s, client CPU and peak RSS.
measure() {
    what=$1 n=$2; shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run vams/v2.4-to-v2.5 \
        --config "$out/config.json" --endpoint-url "$url" --state-dir "$out/state" --quiet \
        --report "$out/report.json" "$@" > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
    read -r wall user sys rss < "$out/time"
    printf '%-30s %s\n' "$what" "$(awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "%8d items %7.2f s %7.0f items/s  cpu %.2fs (%.2fs/100k)  rss %d MB",
               n, w, n / w, u + s, (u + s) / n * 100000, r / 1024 }')"
}

echo "vams v2.4 -> v2.5; dynalite (in-memory, one Node process) on 127.0.0.1"
for n in $sizes; do
    p=bench$n-
    "$mighost" run --endpoint-url "$url" scripts/vams_seed.lua "prefix=$p" "items=$n" > "$out/seed"
    items=$(awk '$1 == "source_items" {print $2}' "$out/seed")
    awk '/^assets/ {a = $2} /^asset versions/ {v = $3} /^file versions/ {f = $3} /^metadata rows/ {m = $3}
        END {printf "data: %d assets, %d asset versions, %d file versions, %d metadata rows\n", a, v, f, m}' \
        "$out/seed"
    "$mighost" run --endpoint-url "$url" scripts/vams_tables.lua "$p" > "$out/tables"
    awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
        "$out/tables" > "$out/config.json"
    measure "dry-run" "$items" --dry-run
    measure "run (copy, backfill, verify)" "$items" --yes
    BENCH_REPORT=$out/report.json "$mighost" eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        local t = {}
        for _, p in ipairs(r.phases) do
          t[#t + 1] = ("%s %.2f s"):format(p.name, p.duration_seconds or 0)
        end
        print("  phases: " .. table.concat(t, ", "))'
    measure "verify-only" "$items" --verify-only
done

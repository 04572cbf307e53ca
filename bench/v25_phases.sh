#!/bin/sh
# bench/v25_phases.sh N ROUNDS MIGHOST... - client CPU of vams/v2.4-to-v2.5
# per phase (the report's cpu_seconds / duration_seconds) on N source items,
# ROUNDS times, the binaries taking turns, each run on a fresh dynalite and
# fresh data (scripts/vams_seed.lua, seeded by build/mighost). A binary in
# another tree runs that tree's migrations; a copied binary runs
# $MIGHOST_MIGRATIONS (default: this tree's).
set -eu
cd "$(dirname "$0")/.."
n=$1 rounds=$2
shift 2
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
here=$(pwd)
out=$(mktemp -d)
. bench/restart_dynalite.sh
trap '[ -n "$dyn_pid" ] && kill $dyn_pid 2>/dev/null; rm -rf "$out"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $n source items"
r=0
while [ $r -lt "$rounds" ]; do
    for bin in "$@"; do
        tree=$(cd "$(dirname "$bin")/.." && pwd)
        if [ -d "$tree/migrations/vams" ]; then mig=$tree/migrations; else mig=${MIGHOST_MIGRATIONS:-$here/migrations}; fi
        restart_dynalite
        build/mighost run --endpoint-url "$url" scripts/vams_seed.lua "prefix=m-" "items=$n" > "$out/seed"
        build/mighost run --endpoint-url "$url" scripts/vams_tables.lua "m-" > "$out/tables"
        awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
            "$out/tables" > "$out/config.json"
        rm -rf "$out/state"
        MIGHOST_MIGRATIONS=$mig /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$bin" run vams/v2.4-to-v2.5 \
            --config "$out/config.json" --endpoint-url "$url" --state-dir "$out/state" --quiet --yes \
            --report "$out/report.json" > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
        BENCH_REPORT=$out/report.json BENCH_BIN=$bin BENCH_TIME="$(cat "$out/time")" build/mighost eval '
            local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
            local wall, user, sys, rss = os.getenv("BENCH_TIME"):match("(%S+) (%S+) (%S+) (%S+)")
            local t = {}
            for _, p in ipairs(r.phases) do
              t[#t + 1] = ("%s %.2f/%.2f"):format(p.name, p.cpu_seconds or 0, p.duration_seconds or 0)
            end
            print(("%s: %.2f s, cpu %.2f s, peak rss %d MB; phases (cpu/wall s): %s"):format(
              os.getenv("BENCH_BIN"), wall, user + sys, rss // 1024, table.concat(t, ", ")))'
    done
    r=$((r + 1))
done

#!/bin/sh
# bench/callgrind.sh vams|copy N MIGHOST [lean] - instructions (valgrind
# --tool=callgrind, whole process) of a vams/v2.4-to-v2.5 run on N source
# items, or of the plain copy (bench/lua/copy.lua) of N items; prints the
# total and the Lua state's allocations. The profile stays in
# callgrind.out.<pid> in a temporary folder named on stderr.
set -eu
cd "$(dirname "$0")/.."
what=$1 n=$2 bin=$3 mode=${4:-}
tree=$(cd "$(dirname "$bin")/.." && pwd)
if [ -d "$tree/migrations/vams" ]; then export MIGHOST_MIGRATIONS=$tree/migrations; fi
. bench/dynalite.sh
keep=$(mktemp -d)
echo "callgrind profile in $keep" >&2
cg="valgrind --tool=callgrind --callgrind-out-file=$keep/callgrind.out"
if [ "$what" = vams ]; then
    build/mighost run --endpoint-url "$url" scripts/vams_seed.lua "prefix=p-" "items=$n" > "$out/seed"
    build/mighost run --endpoint-url "$url" scripts/vams_tables.lua "p-" > "$out/tables"
    awk '{printf "%s\"%s\": \"%s\"", (NR > 1 ? ",\n" : "{\n"), $1, $2} END {print "\n}"}' \
        "$out/tables" > "$out/config.json"
    $cg "$bin" run vams/v2.4-to-v2.5 --config "$out/config.json" --endpoint-url "$url" \
        --state-dir "$out/state" --quiet --yes > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
else
    build/mighost run --endpoint-url "$url" bench/lua/write.lua src "$n" 16 > /dev/null
    $cg "$bin" run --endpoint-url "$url" bench/lua/copy.lua src dst 16 16 $mode > /dev/null 2> "$out/err" ||
        { cat "$out/err" >&2; exit 1; }
fi
total=$(awk '/^summary:/ {print $2}' "$keep/callgrind.out")
# The Lua allocator's calls: the liblua caller of realloc with the most calls.
allocs=$(callgrind_annotate --tree=caller "$keep/callgrind.out" 2>/dev/null | awk '
    /^ *$/ { max = 0; next }
    /< .*liblua/ { c = $0; sub(/.*\(/, "", c); sub(/x\).*/, "", c); gsub(/,/, "", c)
                   if (c + 0 > max) max = c + 0 }
    /\* .*malloc\.c:realloc / { print max; exit }')
echo "$what $n $(basename "$bin") $mode: $total instructions, Lua allocations ${allocs:-?}"

#!/bin/sh
# bench/memory.sh BUILD_DIR [SIZES] - peak RSS of a scan-transform-write copy
# at growing table sizes, and the resident memory along the largest copy:
# memory must not grow with the table.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
sizes=${2:-"20000 200000"}
. bench/dynalite.sh
for n in $sizes; do
    "$build/mighost" run --endpoint-url "$url" bench/lua/write.lua "mem_src_$n" "$n" 16 > /dev/null
    /usr/bin/time -f "%M" -o "$out/rss" "$build/mighost" run --endpoint-url "$url" \
        bench/lua/copy_rss.lua "mem_src_$n" "mem_dst_$n" 4 16 $((n / 10)) > "$out/line"
    echo "$(head -1 "$out/line")  peak RSS $(( $(cat "$out/rss") / 1024 )) MB"
    tail -1 "$out/line"
done

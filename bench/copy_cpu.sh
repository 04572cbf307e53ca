#!/bin/sh
# bench/copy_cpu.sh BEFORE AFTER [ITEMS] [ROUNDS] - client CPU of the plain
# copy (bench/lua/copy.lua, 16 segments, 16 in flight) on ITEMS items
# (default 100000): BEFORE with tables, AFTER with tables and with lean
# items, taking turns ROUNDS times (default 3) on one dynalite.
set -eu
cd "$(dirname "$0")/.."
before=$1 after=$2 n=${3:-100000} rounds=${4:-3}
. bench/dynalite.sh
build/mighost run --endpoint-url "$url" bench/lua/write.lua src "$n" 16 > /dev/null
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $n items"
i=0
while [ $i -lt "$rounds" ]; do
    for run in "before $before table" "after $after table" "after $after lean"; do
        set -- $run
        mode=$3
        [ "$mode" = table ] && mode=
        /usr/bin/time -f "%e %U %S %M" -o "$out/t" "$2" run --endpoint-url "$url" bench/lua/copy.lua \
            src "d$i$1$3" 16 16 $mode > /dev/null
        read -r w u s m < "$out/t"
        awk -v l="$1 $3" -v w="$w" -v u="$u" -v s="$s" -v m="$m" -v n="$n" 'BEGIN {
            printf "%-14s wall %6.2f s  cpu %5.2f s (%4.2f s/100k)  peak rss %3d MB\n",
                   l, w, u + s, (u + s) / n * 100000, m / 1024 }'
    done
    i=$((i + 1))
done

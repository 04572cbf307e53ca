#!/bin/sh
# bench/copy.sh BUILD_DIR [ITEMS] - scan, batch-write and copy throughput
# against dynalite, client CPU and peak RSS, and the same copy with boto3.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
items=${2:-100000}
mighost=$build/mighost
. bench/dynalite.sh

# Runs mighost; prints its line plus client CPU seconds and peak RSS.
measure() {
    /usr/bin/time -f "%U %S %M" -o "$out/time" "$@" > "$out/line"
    read -r user sys rss < "$out/time"
    line=$(cat "$out/line")
    n=$(echo "$line" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "items") print $i}' | head -1)
    cpu=$(echo "$user $sys" | awk '{print $1 + $2}')
    per=$(echo "$cpu $n" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2 * 100000; else print "-" }')
    echo "$line  cpu ${cpu}s (${per}s/100k)  rss $((rss / 1024)) MB"
}

run() { measure "$mighost" run --endpoint-url "$url" "$@"; }

echo "items: $items; dynalite (in-memory, one Node process) on 127.0.0.1"
for w in 1 4 16; do run bench/lua/write.lua "bench_w$w" "$items" "$w"; done
for s in 1 4 16; do run bench/lua/scan.lua bench_w16 "$s"; done
for s in 1 4 16; do run bench/lua/copy.lua bench_w16 "bench_copy$s" "$s" 16; done
if /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
    measure /usr/bin/python3 bench/boto3_copy.py "$url" bench_w16 bench_boto3
else
    echo "boto3 copy: skipped (apt-get install python3-boto3)"
fi

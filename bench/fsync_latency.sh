#!/bin/sh
# bench/fsync_latency.sh MIGHOST [ITEMS] [FSYNC_MS] - vams/v2.4-to-v2.5 at
# 30 ms a request (bench/latency.sh), first as it is, then with every fsync
# of mighost taking FSYNC_MS (default 5) longer (bench/slow_fsync.c, built
# here with cc and preloaded): what a slow disk under the undo journal
# costs a run.
set -eu
cd "$(dirname "$0")/.."
mighost=$(cd "$(dirname "${1:-build/mighost}")" && pwd)/$(basename "${1:-build/mighost}")
items=${2:-23000}
ms=${3:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -shared -fPIC -O2 -o "$out/slow_fsync.so" bench/slow_fsync.c -ldl
printf '#!/bin/sh\nexport LD_PRELOAD=%s SLOW_FSYNC_US=%d\nexec %s "$@"\n' \
    "$out/slow_fsync.so" $((ms * 1000)) "$mighost" > "$out/slow"
chmod +x "$out/slow"
echo "# fsync as it is"
sh bench/latency.sh "$mighost" "$items" 30 | grep -v 'plain copy' | sed -n '/vams/,/^    verify/p'
echo "# every fsync $ms ms longer"
sh bench/latency.sh "$out/slow" "$items" 30 | grep -v 'plain copy' | sed -n '/vams/,/^    verify/p'

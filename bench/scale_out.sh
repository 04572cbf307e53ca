#!/bin/sh
# bench/scale_out.sh BUILD_DIR [ITEMS] - one copy run on 1, 2, 4 and 8
# workers (--coordinate) against an endpoint that adds 20 ms to every
# DynamoDB request and serves each client (access key) one request
# at a time (fakeaws --latency-ms 20 --client-in-flight 1, in front of
# dynalite), so a worker cannot go faster by opening more connections.
# Each worker gets its own temporary key from fakeaws's container
# credentials endpoint, as ECS tasks do. Prints items per second.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
items=${2:-20000}
mighost=$(pwd)/$build/mighost
. bench/dynalite.sh
node tests/fakeaws/server.js --upstream "$url" --latency-ms 20 --client-in-flight 1 > "$out/fport" &
fake_pid=$!
trap 'kill $dyn_pid $fake_pid 2>/dev/null; rm -rf "$out"' EXIT
while ! grep -q LISTENING "$out/fport" 2>/dev/null; do sleep 0.1; done
fake=http://127.0.0.1:$(awk '{print $2}' "$out/fport")
fixture=tests/integration/scale/fixture.lua
"$mighost" run "$fixture" seed bench_src "$items" --endpoint-url "$url"
echo "items: $items; each DynamoDB request +20 ms, at most 1 in flight per client; $(nproc) cores"
for n in 1 2 4 8; do
    "$mighost" run "$fixture" create "bench_dst$n" --endpoint-url "$url"
    start=$(date +%s.%N)
    pids=
    for w in $(seq 1 "$n"); do
        env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
            AWS_CONTAINER_CREDENTIALS_FULL_URI="$fake/container-credentials" \
            AWS_CONTAINER_AUTHORIZATION_TOKEN=container-token \
            "$mighost" run tests/integration/migrations/scale_out.lua --table bench_src \
            --dest "bench_dst$n" --tasks false --verify false --yes --quiet \
            --coordinate "bench_coord$n" --worker-id "w$w" --segments 32 \
            --endpoint-url "$fake" --report "$out/report-$n-$w.json" 2> "$out/err-$n-$w" &
        pids="$pids $!"
    done
    for p in $pids; do wait "$p" || { echo "a worker failed:"; cat "$out"/err-$n-*; exit 1; }; done
    end=$(date +%s.%N)
    echo "$n $start $end" | awk -v items="$items" '{ s = $3 - $2; printf "%d workers: %.1f s, %d items/s\n", $1, s, items / s }'
done

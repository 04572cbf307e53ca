#!/bin/sh
# bench/bedrock_v1.sh BUILD_DIR [SIZES] - bedrock-chat/v0-to-v1 issuing
# RunTask for SIZES bots (default "1000 5000"; plus dataset A's 3) against
# tests/fakeaws (SigV4-checked, shape-checked) in front of dynalite: wall
# time, bots per second, client CPU and peak RSS with the rate limit lifted
# (the engine's own speed), then 300 bots at ECS's RunTask rate (burst 100,
# 20 per second), which should take about 10 s with no throttling.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
sizes=${2:-"1000 5000"}
mighost=$build/mighost
. bench/dynalite.sh

node tests/fakeaws/server.js --upstream "$url" --access-key bench --secret bench > "$out/fake" &
fake_pid=$!
trap 'kill $fake_pid $dyn_pid 2>/dev/null; rm -rf "$out"' EXIT
while ! grep -q LISTENING "$out/fake" 2>/dev/null; do sleep 0.1; done
fake=http://127.0.0.1:$(awk '{print $2}' "$out/fake")

# measure WHAT TABLE N ARGS...: one run; wall time, bots/s, CPU, peak RSS,
# and fakeaws's RunTask and throttle counts.
measure() {
    what=$1 table=$2 n=$3; shift 3
    curl -s -X POST "$fake/__reset" > /dev/null
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run bedrock-chat/v0-to-v1 \
        --endpoint-url "$fake" --table "$table" --cluster bench-cluster --task-definition bench-td \
        --subnets subnet-0123456789abcdef0 --security-groups sg-0fedcba9876543210 \
        --state-dir "$out/state" --report "$out/report.json" --quiet --yes "$@" \
        > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
    read -r wall user sys rss < "$out/time"
    stats=$(curl -s "$fake/__stats")
    calls=$(printf '%s' "$stats" | sed -n 's/.*"AmazonEC2ContainerServiceV20141113.RunTask":\([0-9]*\).*/\1/p')
    throttled=$(printf '%s' "$stats" | sed -n 's/.*"ecs-rate":\([0-9]*\).*/\1/p')
    printf '%-28s %s, RunTask calls %s, throttled %s\n' "$what" "$(awk -v n="$n" -v w="$wall" \
        -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "%6d bots %6.2f s %7.0f bots/s  cpu %.2fs  rss %d MB", n, w, n / w, u + s, r / 1024 }')" \
        "${calls:-0}" "${throttled:-0}"
}

echo "bedrock-chat/v0-to-v1: RunTask through tests/fakeaws (SigV4 and request shapes checked) on 127.0.0.1"
for n in $sizes; do
    "$mighost" run --endpoint-url "$url" tests/integration/bedrock/v1_fixture.lua "bots$n" many "$n" > /dev/null
    measure "no rate limit" "bots$n" $((n + 3)) --run-task-rate 1000000 --run-task-burst 1000000
done
"$mighost" run --endpoint-url "$url" tests/integration/bedrock/v1_fixture.lua bots300 many 297 > /dev/null
curl -s -X POST "$fake/__config" -d '{"ecs_rate":20,"ecs_burst":100}' > /dev/null
measure "ECS rate (100, 20/s)" bots300 300

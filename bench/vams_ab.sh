#!/bin/sh
# bench/vams_ab.sh BUILD_DIR [SCALE] - vams/ab-deployment against the local
# servers (dynalite; s3rver behind tests/fakeaws; cognito-local): stack A
# is the test's (2,301 objects, 1,170 x SCALE items, 50 users; default
# SCALE 10). Prints objects/s and items/s of the move, then the same move
# made the old way (bench/ab_old_way.py: one CopyObject / PutItem at a time)
# into another empty stack.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
scale=${2:-10}
mighost=$build/mighost
. bench/dynalite.sh
pids=$dyn_pid
trap 'kill $pids 2>/dev/null; rm -rf "$out"' EXIT

# start NAME CMD...: a server in the background; its URL in $started.
start() {
    name=$1; shift
    "$@" > "$out/$name.port" 2> "$out/$name.err" &
    pids="$pids $!"
    tries=0
    until grep -q LISTENING "$out/$name.port" 2>/dev/null; do
        [ $tries -lt 300 ] || { echo "bench: $name did not start" >&2; cat "$out/$name.err" >&2; exit 1; }
        tries=$((tries + 1)); sleep 0.1
    done
    started=http://127.0.0.1:$(awk '{print $2}' "$out/$name.port")
}
start s3rver node --openssl-legacy-provider tests/s3rver/start.js "$out/s3"; s3=$started
start cognito node tests/cognito-local/start.js "$out/cognito"; cognito=$started
start fakeaws node tests/fakeaws/server.js --upstream "$url" --s3-upstream "$s3"; fake=$started
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test-secret AWS_ENDPOINT_URL=$fake \
    AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=$cognito HOME=$out

stack() {   # stack SIDE MODE: tables, pool and buckets; prints the pool id
    "$mighost" run tests/integration/vams/ab_fixture.lua bench "$1" "$2" "$scale" | awk '/^POOL/ {print $2}'
    node tests/integration/vams/ab_seed_s3.js "$s3" bench "$1" "$([ "$2" = source ] && echo source || echo empty)" > /dev/null
}
mapping() {  # mapping SIDE > file
    "$mighost" eval '
      local side, t = arg and arg[1], {}
      for _, n in ipairs{"databaseStorageTable", "assetStorageTable", "commentStorageTable",
                         "pipelineStorageTable", "metadataStorageTable"} do
        t[#t + 1] = {tableDescriptor = n, tables = {from = "bench-a-" .. n, to = "bench-" .. os.getenv("SIDE") .. "-" .. n}}
      end
      print(require("mighost.json").encode{regionFrom = "us-east-1", regionTo = "us-east-1",
        VAMS_S3Bucket_Mapping = {{bucketDescriptor = "assets", buckets = {from = "bench-a-assets", to = "bench-" .. os.getenv("SIDE") .. "-assets"}},
                                 {bucketDescriptor = "aux", buckets = {from = "bench-a-aux", to = "bench-" .. os.getenv("SIDE") .. "-aux"}}},
        VAMS_DynamoDBTable_Mapping = t})'
}
pool_a=$(stack a source)
pool_b=$(stack b empty)
SIDE=b mapping > "$out/b.json"
echo "vams/ab-deployment; dynalite, s3rver behind fakeaws, cognito-local on 127.0.0.1; 2 cores shared"
/usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run vams/ab-deployment --mapping "$out/b.json" \
    --from-user-pool "$pool_a" --to-user-pool "$pool_b" --multipart-threshold 8388608 --part-size 5242880 \
    --yes --quiet --state-dir "$out/state" --report "$out/report.json" 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
read -r wall user sys rss < "$out/time"
BENCH_REPORT=$out/report.json "$mighost" eval '
  local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
  local by = {}
  for _, p in ipairs(r.phases) do by[p.name] = p end
  local t, b, u = by.tables, by.buckets, by.users
  print(("mighost: %d objects in %.2f s (%.0f objects/s, %.1f MB copied), %d items in %.2f s (%.0f items/s), "
    .. "%d users in %.2f s; verification %.2f s"):format(b.written, b.duration_seconds,
    b.written / b.duration_seconds, b.notes.objects.bytes_copied / 1e6, t.written, t.duration_seconds,
    t.written / t.duration_seconds, u.written, u.duration_seconds, by.verify.duration_seconds))'
echo "mighost: whole run $wall s, client cpu $(echo "$user + $sys" | bc) s, peak rss $((rss / 1024)) MB"
stack old empty > /dev/null
SIDE=old mapping > "$out/old.json"
python3 bench/ab_old_way.py "$fake" "$out/old.json"

# bench/dynalite.sh - sourced by the benchmark scripts: a scratch folder
# ($out), a dynalite on a free loopback port ($url, stopped on exit), and
# fake credentials (nothing here ever reaches AWS).
out=$(mktemp -d)
trap 'kill $dyn_pid 2>/dev/null; rm -rf "$out"' EXIT
node tests/dynalite/start.js > "$out/port" &
dyn_pid=$!
# Up to 30 s; a dynalite that died or never started is an error, not a hang.
tries=0
while ! grep -q LISTENING "$out/port" 2>/dev/null; do
    if ! kill -0 $dyn_pid 2>/dev/null || [ $tries -ge 300 ]; then
        echo "bench: dynalite did not start (make deps installs it)" >&2
        exit 1
    fi
    tries=$((tries + 1))
    sleep 0.1
done
url=http://127.0.0.1:$(awk '{print $2}' "$out/port")
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

#!/bin/sh
# scripts/demo.sh BUILD_DIR - the VAMS v2.4 -> v2.5 migration end to end on a
# local DynamoDB (dynalite on 127.0.0.1, fake credentials: never AWS):
# tables, sample data, config file, dry run, real run, verification.
# Reports go to $DEMO_DIR (default ./demo-output); $DEMO_ASSETS sets the
# number of sample assets (default 2000). Run by `make demo`.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
mighost=$build/mighost
demo=${DEMO_DIR:-demo-output}
assets=${DEMO_ASSETS:-2000}
migration=vams/v2.4-to-v2.5
prefix=vams-demo-

tmp=$(mktemp -d)
dyn_pid=
stop() {
    if [ -n "$dyn_pid" ]; then kill "$dyn_pid" 2>/dev/null || :; wait "$dyn_pid" 2>/dev/null || :; fi
    rm -rf "$tmp"
}
trap stop EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

started=$(date +%s)
step=0
section() {
    step=$((step + 1))
    printf '\n=== %d. %s\n' "$step" "$1"
}
# step_run WANT CMD...: runs CMD; any exit code other than WANT ends the demo
# with CMD's code (checked by hand: set -e is off inside functions called
# from conditions, and we must also catch an unexpected 0).
step_run() {
    want=$1; shift
    rc=0
    "$@" || rc=$?
    if [ "$rc" -eq 130 ]; then echo "demo: interrupted" >&2; exit 130; fi
    if [ "$rc" -ne "$want" ]; then
        echo "demo: FAILED at step $step: exit $rc (expected $want): $*" >&2
        [ "$rc" -ne 0 ] && exit "$rc"
        exit 1
    fi
}
if [ ! -x "$mighost" ]; then echo "demo: $mighost not found: run make first" >&2; exit 2; fi
mkdir -p "$demo"
rm -f "$demo/dry-run.json" "$demo/run.json" "$demo/verify.json"

echo "mighost demo: migrate a VAMS v2.4 deployment's DynamoDB data to v2.5"
echo "(everything runs on a local DynamoDB-compatible server; nothing goes to AWS)"

section "Start a local DynamoDB (dynalite, in memory)"
# In its own session when possible: Ctrl-C reaches only mighost, which then
# lands its writes in flight on a server still running.
detach=
command -v setsid > /dev/null && detach=setsid
$detach node tests/dynalite/start.js > "$tmp/port" 2> "$tmp/dynalite.log" &
dyn_pid=$!
waited=0
while ! grep -q LISTENING "$tmp/port" 2>/dev/null; do
    if ! kill -0 "$dyn_pid" 2>/dev/null || [ "$waited" -ge 300 ]; then
        echo "demo: dynalite did not start (run make deps):" >&2
        cat "$tmp/dynalite.log" >&2
        exit 3
    fi
    sleep 0.1
    waited=$((waited + 1))
done
url=http://127.0.0.1:$(awk '{print $2}' "$tmp/port")
# Fake credentials and no instance metadata: only the local server can answer.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
echo "listening on $url"

section "Create the VAMS tables (v2.4 tables and the new v2.5 V2 tables, real keys and GSIs)"
step_run 0 "$mighost" run --endpoint-url "$url" scripts/vams_tables.lua "$prefix" > "$tmp/tables"
awk '{printf "  %-48s %s\n", $1, $2}' "$tmp/tables"

section "Seed a v2.4 sample: $assets assets in 6 databases, with orphans, archived and duplicate assets"
step_run 0 "$mighost" run --endpoint-url "$url" scripts/vams_seed.lua "prefix=$prefix" "assets=$assets" dups=2 > "$tmp/seed"
grep -v '^source_items' "$tmp/seed" | sed 's/^/  /'

section "Config file (the reference script's keys)"
config=$tmp/vams-config.json
{
    echo '{'
    echo '  "_comment": "VAMS v2.4 -> v2.5 (mighost run vams/v2.4-to-v2.5 --config FILE). Table names are the stack outputs whose keys contain Table.",'
    awk '{printf "  \"%s\": \"%s\"%s\n", $1, $2, NR < 6 ? "," : ""}' "$tmp/tables"
    echo '}'
} > "$config"
cp "$config" "$demo/config.json"
sed 's/^/  /' "$config"

run() { "$mighost" run "$migration" --config "$config" --endpoint-url "$url" --state-dir "$tmp/state" "$@"; }

section "Dry run: reads everything, writes nothing (--dry-run --sample 2)"
step_run 0 run --dry-run --sample 2 --report "$demo/dry-run.json"

section "A real run refuses while the duplicate assetIds are undecided (exit 2, nothing written)"
step_run 2 run --yes --report "$tmp/refused.json"

section "Migrate (--yes --duplicate-assets=skip: their versions stay in V1, listed in the report)"
step_run 0 run --yes --duplicate-assets=skip --report "$demo/run.json"

section "Verify what is there now (--verify-only)"
step_run 0 run --verify-only --duplicate-assets=skip --report "$demo/verify.json"

printf '\n=== Done in %d s. Reports (JSON) in %s/:\n' "$(( $(date +%s) - started ))" "$demo"
echo "  config.json    the config file used"
echo "  dry-run.json   what a run would write, duplicates, archived assets, orphans"
echo "  run.json       the migration: per phase counts, skipped, orphaned and failed items"
echo "  verify.json    the verification checks"

#!/bin/sh
# bench/bedrock_v3.sh BUILD_DIR [USERS] [CONVERSATIONS] [LARGE] [CONCURRENCIES] - the
# Bedrock Chat v2 -> v3 migration on seeded data (bench/lua/bedrock_v3_seed.lua:
# 3 bots and 2 aliases per user, CONVERSATIONS with 1-6 KB message maps,
# LARGE of them near 400 KB, a related document for every third) against
# dynalite: wall time, source items per second, client CPU and peak RSS of
# the dry-run, the real run (which includes its verification) and
# --verify-only. Defaults: 1000 users, 50000 conversations, 100 large.
# CONCURRENCIES (default "16"): the real run once per --user-concurrency
# value (the later runs rewrite the same items).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
users=${2:-1000}
convs=${3:-50000}
large=${4:-100}
concurrencies=${5:-16}
mighost=$build/mighost
. bench/dynalite.sh

measure() {
    what=$1 n=$2; shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run bedrock-chat/v2-to-v3 \
        --v2-conversation-table b-v2 --v3-conversation-table b-v3conv --v3-bot-table b-v3bots \
        --endpoint-url "$url" --state-dir "$out/state" --quiet --report "$out/report.json" "$@" \
        > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
    read -r wall user sys rss < "$out/time"
    printf '%-34s %s\n' "$what" "$(awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "%8d items %7.2f s %7.0f items/s  cpu %.2fs (%.2fs/100k)  rss %d MB",
               n, w, n / w, u + s, (u + s) / n * 100000, r / 1024 }')"
}

phases() {
    BENCH_REPORT=$out/report.json "$mighost" eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        local t = {}
        for _, p in ipairs(r.phases) do
          t[#t + 1] = ("%s %.2f s"):format(p.name, p.duration_seconds or 0)
          if p.notes and p.notes.summary then
            local s = p.notes.summary
            t[#t + 1] = ("(users %d, bots %d, aliases %d + %d skipped, conversations %d, documents %d, %d owner lookups)")
              :format(s.total_users, s.total_bots, s.total_aliases, s.total_skipped_aliases,
                      s.total_conversations, s.total_related_documents, s.owner_lookups)
          end
          if p.verification then t[#t + 1] = p.verification.ok and "(verified)" or "(VERIFICATION FAILED)" end
        end
        print("  phases: " .. table.concat(t, ", "))'
}

echo "bedrock-chat v2 -> v3; dynalite (in-memory, one Node process) on 127.0.0.1"
start=$(date +%s)
"$mighost" run --endpoint-url "$url" bench/lua/bedrock_v3_seed.lua b "$users" "$convs" "$large" > "$out/seed"
echo "data ($(($(date +%s) - start)) s to seed): $(grep -v source_items "$out/seed" | tr '\n' ';' | sed 's/;$//; s/;/, /g')"
items=$(awk '$1 == "source_items" {print $2}' "$out/seed")
measure "dry-run" "$items" --dry-run
for c in $concurrencies; do
    measure "run (migrate, verify), $c at once" "$items" --yes --user-concurrency "$c"
    phases
done
measure "verify-only" "$items" --verify-only

#!/bin/sh
# bench/vams_v24.sh BUILD_DIR [CONSTRAINTS] [METADATA] - vams/v2.3-to-v2.4
# on seeded v2.3 data (default 10,000 constraints and 100,000 metadata
# records, bench/lua/vams_v24_seed.lua) against dynalite: wall time, source
# records per second, client CPU and peak RSS of the dry run, the real run
# (with its verification), a re-run (everything already there), the
# cleanup run (--delete-old-data) and --verify-only. The reindex is skipped
# (--skip-reindex): there is no Lambda here.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
nc=${2:-10000}
nm=${3:-100000}
mighost=$build/mighost
. bench/dynalite.sh

measure() {
    what=$1 n=$2; shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$out/time" "$mighost" run vams/v2.3-to-v2.4 \
        --config "$out/config.json" --endpoint-url "$url" --state-dir "$out/state" --quiet \
        --report "$out/report.json" --skip-reindex "$@" > /dev/null 2> "$out/err" || { cat "$out/err" >&2; exit 1; }
    read -r wall user sys rss < "$out/time"
    printf '%-34s %s\n' "$what" "$(awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        printf "%8d records %7.2f s %7.0f records/s  cpu %.2fs (%.2fs/100k)  rss %d MB",
               n, w, n / w, u + s, (u + s) / n * 100000, r / 1024 }')"
    BENCH_REPORT=$out/report.json "$mighost" eval '
        local r = require("mighost.json").decode(assert(io.open(os.getenv("BENCH_REPORT"))):read("a"))
        local t = {}
        for _, p in ipairs(r.phases) do
          if p.status ~= "skipped" then
            t[#t + 1] = ("%s %.2f s (w %d, d %d)"):format(p.name, p.duration_seconds or 0,
              p.would_write or p.written or 0, p.would_delete or p.deleted or 0)
          end
        end
        print("    phases: " .. table.concat(t, ", "))'
}

echo "vams v2.3 -> v2.4; dynalite (in-memory, one Node process) on 127.0.0.1"
p=bench24
"$mighost" run --endpoint-url "$url" tests/integration/vams/v24_fixture.lua "$p" empty > /dev/null
"$mighost" run --endpoint-url "$url" bench/lua/vams_v24_seed.lua "$p" "$nc" "$nm" > "$out/seed"
cat "$out/seed" | tr '\n' ' '; echo
n=$((nc + nm + 72))
cat > "$out/config.json" <<J
{"auth_entities_table_name": "$p-auth", "constraints_table_name": "$p-constraints",
 "old_metadata_table_name": "$p-meta-old", "new_metadata_table_name": "$p-meta-new",
 "old_metadata_schema_table_name": "$p-schema-old", "new_metadata_schema_table_name": "$p-schema-new",
 "reindexer_function_name": "bench-reindexer"}
J
measure "dry-run" "$n" --dry-run
measure "run (write, verify)" "$n" --yes
measure "re-run (all present)" "$n" --yes
measure "verify-only" "$n" --verify-only
measure "cleanup (--delete-old-data)" "$n" --yes --delete-old-data

#!/bin/sh
# tests/scripts/docs_options.sh - the docs cannot drift from the options.
#
# For each packaged migration (`mighost list`), every option, config key and
# stack output that `mighost describe NAME` lists must appear on its page,
# docs/migrations/APP-NAME.md; every option `mighost run NAME --help` lists
# must appear on that page too (the options every run shares are listed
# there by tools/docs_params.py, and explained in docs/running.md or
# docs/commands.md, which must mention each). Run by tests/run-tests
# (MIGHOST_BIN).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
mighost=${MIGHOST_BIN:-$root/build/mighost}
cd "$root" || exit 2
failed=0
names=$("$mighost" list | awk '{print $1}')
[ -n "$names" ] || { echo "docs_options: mighost list printed nothing" >&2; exit 1; }
for name in $names; do
    page=docs/migrations/$(echo "$name" | tr / -).md
    if [ ! -f "$page" ]; then
        echo "docs_options: $name has no page $page" >&2
        failed=1
        continue
    fi
    own=$("$mighost" describe "$name" | sed -n \
        -e 's/^  \(--[a-z0-9-]*\).*/\1/p' \
        -e 's/^ *config key: \([A-Za-z0-9_]*\).*/\1/p' \
        -e 's/^ *stack output: \([A-Za-z0-9_]*\).*/\1/p' | sort -u)
    shared=$("$mighost" run "$name" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
    n=0
    for word in $own; do
        n=$((n + 1))
        grep -q -F -- "$word" "$page" || { echo "docs_options: $page does not mention $word" >&2; failed=1; }
    done
    for opt in $shared; do
        n=$((n + 1))
        grep -q -F -- "$opt" "$page" ||
            { echo "docs_options: $page does not mention $opt (run tools/docs_params.py)" >&2; failed=1; }
        grep -q -F -- "$opt" docs/running.md docs/commands.md ||
            { echo "docs_options: neither docs/running.md nor docs/commands.md explain $opt" >&2; failed=1; }
    done
    echo "docs_options: $name: $n options, config keys and stack outputs checked against $page"
done
exit "$failed"

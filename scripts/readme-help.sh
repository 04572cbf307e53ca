#!/bin/sh
# scripts/readme-help.sh [BIN] - rewrites the command reference in docs/commands.md (the
# lines between "<!-- help:begin -->" and "<!-- help:end -->") from the help
# the commands print, which comes from the tables their parsers read.
# tests/integration/test_cli checks that docs/commands.md matches.
set -eu
bin=${1:-build/mighost}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
    echo '<!-- help:begin -->'
    echo '```'
    # Without the first line (it carries the version).
    "$bin" --help | tail -n +3
    echo '```'
    for cmd in run list describe check status history undo ctl new launch eval call; do
        echo
        echo "#### \`mighost $cmd\`"
        echo
        echo '```'
        "$bin" "$cmd" --help
        echo '```'
    done
    echo '<!-- help:end -->'
} > "$out"
awk -v gen="$out" '
    /^<!-- help:begin -->$/ { while ((getline line < gen) > 0) print line; skip = 1; next }
    /^<!-- help:end -->$/ { skip = 0; next }
    !skip { print }
' docs/commands.md > docs/commands.md.new
mv docs/commands.md.new docs/commands.md

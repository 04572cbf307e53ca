#!/bin/sh
# layers.sh - no source file includes a header of a layer above its own.
#
# The layers, bottom to top: src/base, src/net, src/aws, src/lua,
# src/bindings, src/cli (docs/design.md). The Makefile gives each layer only
# its own and the lower include paths, so a reach-up fails to compile; this
# check also catches what the compiler cannot see: a relative path
# ("../cli/cli.h"), a header name that exists in two layers, a folder under
# src/ that is not a layer, and a core file that includes a test header.
set -u
cd "$(dirname "$0")/../.." || exit 2
layers="base net aws lua bindings cli"
# One awk pass: first the headers (name -> layer), then every include line.
ls src/*/*.h | awk -F/ '{print $3, $2}' > "${TMPDIR:-/tmp}/layers.$$"
grep -H -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src/*/*.c src/*/*.h |
awk -v layers="$layers" -v dirs="$(ls -d src/*/ | tr '\n' ' ')" -v map="${TMPDIR:-/tmp}/layers.$$" '
BEGIN {
    n = split(layers, l, " ")
    for (i = 1; i <= n; i++) rank[l[i]] = i
    split(dirs, d, " ")
    for (i in d) {
        name = d[i]; sub(/^src\//, "", name); sub(/\/$/, "", name)
        if (name != "" && !(name in rank)) { print "layers: src/" name "/ is not a layer (" layers ")"; bad = 1 }
    }
    while ((getline line < map) > 0) {
        split(line, f, " ")
        if (f[1] in owner) { print "layers: header " f[1] " is in two layers: " owner[f[1]] " and " f[2]; bad = 1 }
        owner[f[1]] = f[2]
    }
}
{
    file = $0; sub(/:.*/, "", file)
    inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
    split(file, p, "/"); own = p[2]
    if (inc ~ /\//) { print "layers: " file " includes \"" inc "\": a path; include by name"; bad = 1; next }
    if (!(inc in owner)) { print "layers: " file " includes \"" inc "\", which is in no layer (a test header?)"; bad = 1; next }
    if (rank[owner[inc]] > rank[own]) { print "layers: " file " includes src/" owner[inc] "/" inc ": a layer above its own"; bad = 1 }
}
END {
    if (!bad) print "layers: every include stays in its layer or below (" layers ")"
    exit bad
}'
rc=$?
rm -f "${TMPDIR:-/tmp}/layers.$$"
exit $rc

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
rank() {
    i=0
    for l in $layers; do
        [ "$l" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    echo -1
}
fail=0
for dir in src/*/; do
    l=$(basename "$dir")
    [ "$(rank "$l")" -ge 0 ] || { echo "layers: $dir is not a layer ($layers)"; fail=1; }
done
# Each header name belongs to one layer.
dups=$(ls src/*/*.h | xargs -n1 basename | sort | uniq -d)
[ -z "$dups" ] || { echo "layers: header names in more than one layer: $dups"; fail=1; }
for f in src/*/*.c src/*/*.h; do
    own=$(rank "$(basename "$(dirname "$f")")")
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
        */*) echo "layers: $f includes \"$inc\": a path; include by name, the layer's include path finds it"
             fail=1; continue ;;
        esac
        found=$(ls src/*/"$inc" 2>/dev/null | head -1)
        if [ -z "$found" ]; then
            echo "layers: $f includes \"$inc\", which is in no layer (a test header?)"
            fail=1
            continue
        fi
        theirs=$(rank "$(basename "$(dirname "$found")")")
        if [ "$theirs" -gt "$own" ]; then
            echo "layers: $f includes $found: a layer above its own"
            fail=1
        fi
    done
done
[ $fail -eq 0 ] && echo "layers: every include stays in its layer or below ($layers)"
exit $fail

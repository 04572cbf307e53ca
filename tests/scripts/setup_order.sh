#!/bin/sh
# tests/scripts/setup_order.sh - the set-up targets read the packages' build
# flags only after the dependency step has run.
#
# On a new machine the Lua, libcurl, json-c and cmocka development files
# appear only once `make deps` has installed them; a Makefile that asks
# pkg-config for flags before that compiles without include paths (the first
# `make demo` then fails on lua.h). Here pkg-config is a stand-in that fails
# until a stand-in deps step has run, and `make -n` shows what each target
# would compile: every compile line must carry the flags that pkg-config
# gives after deps, and no pkg-config call may come before it. A plain
# `make` without deps must stop with a message that says to run them.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mighost-setup-order.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
# This runs inside `make test`: the outer make's flags must not leak in.
unset MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES

cat >"$tmp/pkg-config" <<'EOS'
#!/bin/sh
dir=$(dirname "$0")
if [ -e "$dir/deps-ran" ]; then
    echo "after $*" >>"$dir/calls"
    case "$*" in
        *--cflags*) echo "-DSETUP_ORDER_FLAGS_AFTER_DEPS" ;;
        *) echo "-lsetup_order_after_deps" ;;
    esac
else
    echo "before $*" >>"$dir/calls"
    exit 1
fi
EOS
printf '#!/bin/sh\ntouch "%s/deps-ran"\n' "$tmp" >"$tmp/deps"
chmod +x "$tmp/pkg-config" "$tmp/deps"

failed=0
fail() { echo "setup_order: $*" >&2; failed=1; }

for target in demo test check valgrind bench; do
    rm -rf "$tmp/deps-ran" "$tmp/calls" "$tmp/build" "$tmp/build-san"
    out=$(make -n -C "$root" --no-print-directory "$target" BUILD="$tmp/build" \
          SAN_BUILD="$tmp/build-san" PKG_CONFIG="$tmp/pkg-config" DEPS="$tmp/deps" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] || { fail "make -n $target: exit $rc"; echo "$out" | tail -5 >&2; continue; }
    [ -e "$tmp/deps-ran" ] || fail "make -n $target: the deps step did not run"
    if grep -q '^before' "$tmp/calls" 2>/dev/null; then
        fail "make -n $target: pkg-config was asked before deps ran: $(grep '^before' "$tmp/calls" | head -1)"
    fi
    compiles=$(echo "$out" | grep -c ' -c -o .*\.o ')
    with_flags=$(echo "$out" | grep ' -c -o .*\.o ' | grep -c -- '-DSETUP_ORDER_FLAGS_AFTER_DEPS')
    [ "$compiles" -gt 0 ] || fail "make -n $target: no compile line (is the build dir fresh?)"
    [ "$compiles" -eq "$with_flags" ] ||
        fail "make -n $target: $((compiles - with_flags)) of $compiles compile lines lack the flags read after deps"
    links=$(echo "$out" | grep -c -- '-lsetup_order_after_deps')
    [ "$links" -gt 0 ] || fail "make -n $target: no link line with the libraries read after deps"
    echo "setup_order: make $target: deps first, then $compiles compile lines with the packages' flags"
done

# Without deps, a plain build stops and says what to run.
rm -rf "$tmp/deps-ran" "$tmp/build"
out=$(make -n -C "$root" --no-print-directory BUILD="$tmp/build" PKG_CONFIG="$tmp/pkg-config" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
    fail "make without deps: exit 0 although pkg-config fails"
elif ! echo "$out" | grep -q 'run `make deps`'; then
    fail "make without deps: no hint to run make deps: $(echo "$out" | tail -1)"
else
    echo "setup_order: make without deps stops: $(echo "$out" | grep -o 'the development files.*' | head -1)"
fi

exit "$failed"

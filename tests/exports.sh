# exports.sh: libshelf.so exports only the public API: every defined dynamic
# symbol starts with shelf_ (the build uses -fvisibility=hidden and SHELF_API
# marks the exports), and every SHELF_API declaration is exported.
set -u
lib=${1:?usage: exports.sh LIBSHELF.so}
cd "${SHELF_SRC:?}" || exit 1
syms=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)
[ -n "$syms" ] || { echo "no symbols read from $lib"; echo "0 passed, 1 failed"; exit 1; }
fail=0
stray=$(printf '%s\n' "$syms" | grep -v '^shelf_' || true)
if [ -n "$stray" ]; then
    echo "exported without the shelf_ prefix:"; printf '%s\n' "$stray"; fail=1
fi
declared=$(grep -hE '^SHELF_API ' include/shelf/*.h | grep -oE '\bshelf_[a-z0-9_]+\(' | tr -d '(' | sort -u)
missing=$(printf '%s\n' "$declared" | while read -r s; do
    printf '%s\n' "$syms" | grep -qx "$s" || echo "$s"; done)
if [ -n "$missing" ]; then
    echo "declared SHELF_API but not exported:"; printf '%s\n' "$missing"; fail=1
fi
echo "$(printf '%s\n' "$syms" | wc -l) symbols exported, $(printf '%s\n' "$declared" | wc -l) declared"
if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail

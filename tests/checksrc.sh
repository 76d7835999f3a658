# checksrc.sh: the house rules a compiler does not check (curl's checksrc):
# no banned functions in the sources, every C file opens with a comment,
# public headers declare only shelf_ names, and the program and the
# examples include no internal header.
set -u
cd "${SHELF_SRC:?}" || exit 1
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find include lib cli tests fuzz bench examples -name '*.[ch]')

banned=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|strtok)[[:space:]]*\(' $files | grep -v 'snprintf\|vsnprintf' || true)
if [ -n "$banned" ]; then
    echo "banned functions:"; echo "$banned"; fail=1
fi
for f in $files; do
    head -c 3 "$f" | grep -q '^/\*' || { echo "$f: does not open with a comment"; fail=1; }
done
internal=$(grep -nE '#include "[^"]*_int\.h"|#include "\.\./lib' cli/*.[ch] examples/*.c bench/*.c 2>/dev/null || true)
if [ -n "$internal" ]; then
    echo "internal headers used outside lib/:"; echo "$internal"; fail=1
fi
exported=$(grep -hE '^SHELF_API ' include/shelf/*.h | grep -vE '\bshelf_[a-z0-9_]+\(' || true)
if [ -n "$exported" ]; then
    echo "public declarations without the shelf_ prefix:"; echo "$exported"; fail=1
fi
if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail

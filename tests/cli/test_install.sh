# test_install.sh: `cmake --install` puts the library, headers, pkg-config
# file, program, man page and the daemon's systemd unit under a prefix, and a program built with
# `pkg-config --cflags --libs shelf` against them runs.
. "$(dirname "$0")/lib.sh"
: "${SHELF_BUILD:?}" "${SHELF_SRC:?}"

P="$T/prefix"
expect 0 "cmake --install" cmake --install "$SHELF_BUILD" --prefix "$P"
PC=$(find "$P" -name shelf.pc | head -1)
check "shelf.pc installed" -n "$PC"
check "header installed" -f "$P/include/shelf/shelf.h"
check "program installed" -x "$P/bin/shelf"
check "man page installed" -f "$P/share/man/man1/shelf.1"
check "daemon unit installed" -f "$P/lib/systemd/user/shelf-daemon.service"
contains "the unit runs the installed program" "$(cat "$P/lib/systemd/user/shelf-daemon.service")" \
    "ExecStart=$P/bin/shelf daemon"
expect 0 "systemd reads the unit" systemd-analyze verify --man=no "$P/lib/systemd/user/shelf-daemon.service"
export PKG_CONFIG_PATH="$(dirname "$PC")"
expect 0 "pkg-config knows shelf" pkg-config --cflags --libs shelf
contains "include path under the prefix" "$out" "-I$(dirname "$PC")/../../include"
LIBDIR=$(pkg-config --variable=libdir shelf)
# shellcheck disable=SC2046
expect 0 "build embed.c from the installed files" \
    ${CC:-cc} ${SHELF_TEST_CFLAGS:-} -o "$T/embed" "$SHELF_SRC/examples/embed.c" $(pkg-config --cflags --libs shelf)
mkdir -p "$T/s"
"$SHELF_TG" "$T/s/Tom Low.wav"
expect 0 "the installed library works" env LD_LIBRARY_PATH="$LIBDIR" "$T/embed" "$T/l" "$T/s" tom
contains "it found the sample" "$out" "Tom Low.wav"
finish

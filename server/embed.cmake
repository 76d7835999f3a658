# embed.cmake: write ui.c, the files of server/ui/ as C arrays, for the
# server to serve from memory (serve_int.h: serve_ui_files).  Run at build
# time by server/CMakeLists.txt:
#
#   cmake -DUI_DIR=server/ui -DOUT=build/.../ui.c -P server/embed.cmake
#
# Every file below UI_DIR is embedded under its path there ("index.html",
# "img/logo.svg"), except hidden files and editor backups; its ETag is the
# SHA-256 of its bytes.  file(READ ... HEX) does the work, so no xxd is
# needed.
if(NOT UI_DIR OR NOT OUT)
  message(FATAL_ERROR "embed.cmake: set UI_DIR and OUT")
endif()
file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${UI_DIR}" "${UI_DIR}/*")
list(SORT files)
set(arrays "")
set(table "")
set(n 0)
foreach(f IN LISTS files)
  if(f MATCHES "(^|/)\\." OR f MATCHES "~$")
    continue()
  endif()
  file(READ "${UI_DIR}/${f}" hex HEX)
  file(SHA256 "${UI_DIR}/${f}" sum)
  string(LENGTH "${hex}" len)
  math(EXPR size "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
  string(REPLACE "\\" "\\\\" cname "${f}")
  string(REPLACE "\"" "\\\"" cname "${cname}")
  string(APPEND arrays "/* ${f} */\nstatic const unsigned char file${n}[] = {\n${bytes}0x00\n};\n\n")
  string(APPEND table "    { \"${cname}\", file${n}, ${size}, \"\\\"${sum}\\\"\" },\n")
  math(EXPR n "${n} + 1")
endforeach()
set(text "/* ui.c: the files of server/ui/, written by server/embed.cmake; do not edit. */\n")
string(APPEND text "#include \"serve_int.h\"\n\n${arrays}")
string(APPEND text "const serve_file serve_ui_files[] = {\n${table}    { NULL, NULL, 0, NULL }\n};\n")
string(APPEND text "const size_t serve_ui_count = ${n};\n")
file(WRITE "${OUT}" "${text}")

# test_embed.sh: the embedding example, built against the shared library's
# public API, imports a folder and searches it.
. "$(dirname "$0")/lib.sh"
: "${SHELF_EMBED:?}"

mkdir -p "$T/s/Perc"
"$SHELF_TG" "$T/s/Perc/Shaker 1.wav" "$T/s/Perc/Conga Low.wav"
expect 0 "embed finds a sample" "$SHELF_EMBED" "$T/elib" "$T/s" shak
contains "embed imported two" "$out" "imported 2"
contains "embed printed the match" "$out" "Perc/Shaker 1.wav"
expect 1 "embed: no match" "$SHELF_EMBED" "$T/elib" "$T/s" zzzz
contains "embed rescan unchanged" "$out" "unchanged 2"
# shelf_search: the query language (a negation, OR) and the total
expect 0 "embed runs a query" "$SHELF_EMBED" "$T/elib" "$T/s" "shak OR conga -low"
contains "embed: the query's match" "$out" "Perc/Shaker 1.wav"
contains "embed: the total" "$out" "1 found"
finish

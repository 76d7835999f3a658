# test_docs.sh: `shelf help`, doc/shelf.1 and README.md list the same
# commands and exit statuses (scripts/gen-docs checks them against the one
# table in cli/help.c), and the check fails when one of them is out of step.
. "$(dirname "$0")/lib.sh"

GEN="$SHELF_SRC/scripts/gen-docs"
expect 0 "README and the man page agree with shelf help" python3 "$GEN" --check "$SHELF"
expect 0 "help" "$SHELF" help
for cmd in "stream stress" "cache pin" "store optimize" "backup repair-index" "export-media" \
           "automation add"; do
    contains "help lists $cmd" "$out" "  $cmd"
done
contains "help lists exit status 8" "$out" "  8    wrong or missing password"
contains "help lists exit status 9" "$out" "  9    a backup finished"
expect 0 "help --json" "$SHELF" --json help
check "help --json lists repair-index" "$(json '"backup repair-index" in [c["name"] for c in j["commands"]]')" = True
check "help --json lists the exit statuses" "$(json '[e["code"] for e in j["exit_statuses"]]' | tr -d " '")" = "[0,1,2,3,4,5,6,7,8,9,10,11,12,16+,130]"

# The check fails when a document is out of step.
mkdir -p "$T/src/doc"
cp "$SHELF_SRC/README.md" "$T/src/README.md"
cp "$SHELF_SRC/doc/shelf.1" "$T/src/doc/shelf.1"
expect 0 "a copy is in step" python3 "$GEN" --check --src "$T/src" "$SHELF"
sed -i '/^- Streaming:/d' "$T/src/README.md"
expect 1 "README without a line of the list" python3 "$GEN" --check --src "$T/src" "$SHELF"
contains "README named" "$err" "README.md's command list is out of step"
expect 0 "gen-docs writes it again" python3 "$GEN" --src "$T/src" "$SHELF"
expect 0 "in step after writing" python3 "$GEN" --check --src "$T/src" "$SHELF"
contains "the list is back" "$(cat "$T/src/README.md")" '- Streaming: `stream stress|monitor|render`'

python3 - "$T/src/doc/shelf.1" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
# drop the entry of store frag, and exit status 9
s = re.sub(r"\.TP\n\\fBstore frag\\fP[^\n]*\n[^\n]*\n", "", s)
s = s.replace(".TP\n.B 9\n", ".TP\n.B 10\n")
# document a command help does not know
s = s.replace(".SS Maintenance\n", ".SS Maintenance\n.TP\n\\fBstore defrag\\fP\nNothing.\n.TP\n.B frobnicate\nNothing.\n")
open(p, "w").write(s)
EOF
expect 1 "man page out of step" python3 "$GEN" --check --src "$T/src" "$SHELF"
contains "missing entry named" "$err" "does not mention 'store frag'"
contains "unknown command named" "$err" "documents 'frobnicate'"
contains "unknown subcommand named" "$err" "documents 'store defrag'"
contains "exit statuses compared" "$err" "EXIT STATUS lists"
finish

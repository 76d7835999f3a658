#!/bin/bash
# test_serve_docs_browser: patches and projects in the page of `shelf serve`,
# in Debian's chromium driven headless by playwright-core
# (tests/browser/docs.js): the switch, list and search, the parameter view,
# the history timeline, the diff of two versions, revert, undo, a stale
# apply, and the three-way merge dialog, all by keyboard, with names in
# accents, CJK and emoji.  Screenshots go to build/*/test-artifacts/serve_docs_browser/.
. "$(dirname "$0")/lib.sh"

PW="$SHELF_SRC/tests/servers/node_modules/playwright-core"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$PW" ] || ! command -v node >/dev/null; then
    echo "skip: needs /usr/bin/chromium, node and playwright-core (scripts/install-deps)"
    exit 77
fi

PATCH="Ça 鼓 🥁 pad"
MERGE="Merge Me 合并 🎛"
PROJECT="Sông 曲 🎹 live"
expect 0 "init" "$SHELF" init
expect 0 "a patch" "$SHELF" --json patch new "$PATCH" --author "Zoë" --category pad
P=$(json 'j["id"]')
expect 0 "another patch" "$SHELF" patch new "Plain Bass" --category bass
expect 0 "version 2" "$SHELF" patch set "$P" params/filter/cutoff=1200 params/filter/res=0.3 comment=warm -m "brighter ☀"
expect 0 "version 3" "$SHELF" patch set "$P" params/filter/cutoff=900 params/amp/pan=0.5 -m "warmer 鼓"
# A patch with a branch beside its main line: version 3 (main) and 4 (the
# head, from 2) both change the cutoff, the comment and a parameter whose
# path has accents, CJK, an emoji and a space.
expect 0 "the merge patch" "$SHELF" --json patch new "$MERGE"
M=$(json 'j["id"]')
ODD="params/tón 鼓/level 🎚"
expect 0 "merge: version 2" "$SHELF" patch set "$M" params/filter/cutoff=1000 comment=a "$ODD=3" -m base
expect 0 "merge: version 3" "$SHELF" patch set "$M" params/filter/cutoff=900 "comment=main ✓" "$ODD=4" -m "main line"
"$SHELF" --json patch show "$M@2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d["params"]["filter"]["cutoff"] = 3000
d["comment"] = "théirs 🎸"
d["params"]["tón 鼓"]["level 🎚"] = 9
json.dump(d, open(sys.argv[1], "w"))' "$T/branch.json"
expect 0 "merge: version 4, a branch from 2" "$SHELF" patch edit "$M@2" --file "$T/branch.json" -m "branch 枝"
expect 0 "a project" "$SHELF" --json project new "$PROJECT" --tempo 120
expect 0 "project version 2" "$SHELF" project set "$(json 'j["id"]')" tempo=98 -m slower

serve_start
if [ -z "$url" ]; then
    finish
    exit $?
fi

browser_run serve_docs_browser docs.js "patches and projects in chromium" \
    SHELF_PATCH_ID="$P" SHELF_PATCH_NAME="$PATCH" SHELF_MERGE_NAME="$MERGE" SHELF_PROJECT_NAME="$PROJECT"
bg_stop
finish

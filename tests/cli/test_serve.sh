# test_serve.sh: `shelf serve`, the local web UI's server and JSON API, end
# to end: tests/cli/test_serve.py (Python's standard library only) makes a
# library in this test's temp folder, starts the server and checks its
# security rules, every endpoint, audio, peaks, start-up and stop.  Then
# the start at scale: with 120,000 samples the server answers searches (by
# SQL; facets wait, with none) while its index is still being built on a
# second handle, and takes the index once built (session: building, then
# not; one build; the same matches).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || { echo "skipped: python3 not installed (scripts/install-deps)"; exit 77; }
if python3 "$(dirname "$0")/test_serve.py" "$T"; then
    ok "the server and its API (test_serve.py)"
else
    fail "the server and its API (test_serve.py)"
fi

L="$T/big"
mkdir -p "$T/one"
"$SHELF_TG" --frames 4410 "$T/one/kick.wav"
expect 0 "a library" "$SHELF" -L "$L" init
expect 0 "a root" "$SHELF" -L "$L" import "$T/one"
bulk_samples "$L/shelf.db" 120000 || fail "bulk rows"
# the builder waits 3 s before it builds (a test knob), so "while it
# builds" is certain however fast the machine
SHELF_SERVE_INDEX_DELAY_MS=3000 serve_start -L "$L"
if [ -n "$url" ]; then
    python3 - "$url" <<'EOF' && ok "answers while the index builds, then takes it" || fail "answers while the index builds, then takes it"
import json, sys, time, urllib.parse, urllib.request
u = urllib.parse.urlsplit(sys.argv[1])
tok = urllib.parse.parse_qs(u.query)["token"][0]
def get(p):
    r = urllib.request.Request("http://%s%s" % (u.netloc, p), headers={"X-Shelf-Token": tok})
    return json.loads(urllib.request.urlopen(r, timeout=120).read())
s0 = get("/api/session")
r0 = get("/api/search?q=bulk+11999")
f0 = get("/api/facets?q=bulk")
s1 = get("/api/session")
print("    first session: %s; search: %d matches in %.1f ms" % (s0["index"], r0["total"], r0["ms"]))
assert s0["index"]["building"] is True and s0["preload_bytes"] == 0, s0
assert s1["index"]["building"] is True and s1["preload_bytes"] == 0, ("the search waited for the index", s1)
assert f0["building"] is True and f0["facets"] == {}, ("facets built an index of their own", f0)
deadline = time.time() + 240
while get("/api/session")["index"]["building"] and time.time() < deadline:
    time.sleep(0.05)
r1 = get("/api/search?q=bulk+11999")
f1 = get("/api/facets?q=bulk")
s2 = get("/api/session")
print("    then: %s, %d bytes; search: %d matches in %.1f ms" % (s2["index"], s2["preload_bytes"], r1["total"], r1["ms"]))
assert s2["index"]["building"] is False and s2["index"]["builds"] == 1 and s2["preload_bytes"] > 0, s2
assert r1["total"] == r0["total"] == 11, (r0["total"], r1["total"])
assert sorted(i["id"] for i in r0["items"]) == sorted(i["id"] for i in r1["items"])
assert f1["building"] is False and f1["facets"]["category"][0]["count"] == 120000, f1["facets"].get("category")
EOF
fi
bg_stop
grep -v "^shelf serve: stopped" "$T/serve.err" | sed 's/^/    serve: /' >&2
finish

#!/usr/bin/env python3
"""test_serve.py: `shelf serve` end to end, with Python's standard library
only (http.client, wave).  Run by test_serve.sh, which passes its temp folder.

It makes a library of its own (WAVs with accents, CJK, emoji, spaces, a
newline and bytes that are not UTF-8 in their names, and an AIFF), starts
`shelf serve --port 0`, and checks the security rules (token exchange,
cookie, Host allow-list, mutations from the page only, body limit, no
CORS, the headers on every response, paths that try to leave), the JSON
API (session, search, facets, samples, tags, rating, favourite, bulk tags,
collections, errors), audio (the file itself with ranges and ETags, AIFF
decoded to WAV, a missing file), peaks, the start-up line (text, --json),
--open, a port in use and a clean stop on SIGTERM and SIGINT.  Every server
it starts is killed on every way out (finally, SIGTERM and SIGINT here, and
PR_SET_PDEATHSIG when this script is killed outright).
"""
import glob
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import check, fail, finish, kill_all, ok, spawn  # noqa: E402

SHELF = os.environ["SHELF"]
TG = os.environ["SHELF_TG"]
SRC = os.environ["SHELF_SRC"]
T = sys.argv[1]


def start(lib, *args, env=None):
    """Start `shelf -L lib serve ARGS`; returns (process, first stdout line)."""
    return spawn(SHELF, lib, *args, env=env)


def stop(p, sig=signal.SIGTERM):
    """Signal p; its exit status and standard error."""
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return p.returncode, p.stderr.read().decode("utf-8", "replace")


# ---- the library ---------------------------------------------------------------------

src = os.path.join(T, "src").encode()
os.makedirs(os.path.join(src, b"dossier \xc3\xa9"))
NAMES = [
    b"dossier \xc3\xa9/caf\xc3\xa9.wav",
    "鼓 キック.wav".encode(),
    "🥁 emoji.wav".encode(),
    b"two words.wav",
    b"new\nline.wav",
    b"bad\xff\xfe.wav",
    b"kick hard.wav",
    b"pad warm.wav",
    b"gone.wav",
]
for i, n in enumerate(NAMES):
    subprocess.run([TG.encode(), b"--seed", str(i + 1).encode(), b"--frames", b"20000",
                    os.path.join(src, n)], check=True)
AIFF = b"snare aiff.aiff"
subprocess.run([TG.encode(), b"--format", b"aiff", b"--channels", b"2", b"--frames", b"12345",
                os.path.join(src, AIFF)], check=True)
NAMES.append(AIFF)
lib = os.path.join(T, "lib")
subprocess.run([SHELF, "-L", lib, "init"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([SHELF.encode(), b"-L", lib.encode(), b"import", src], check=True, stdout=subprocess.DEVNULL)
rows = json.loads(subprocess.run([SHELF, "-L", lib, "--json", "ls"], check=True,
                                 capture_output=True).stdout)
N = len(NAMES)
check("imported every file", len(rows) == N, "%d rows" % len(rows))


def unescape(text):
    """A name's text back to its bytes (doc/formats.md, names that are not UTF-8)."""
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())


def stem(n):
    return os.path.splitext(os.path.basename(n))[0]


ids = {unescape(r["name"]): r["id"] for r in rows}
KICK = ids[b"kick hard"]
PAD = ids[b"pad warm"]
SNARE = ids[b"snare aiff"]
GONE = ids[b"gone"]
os.unlink(os.path.join(src, b"gone.wav"))       # missing from now on
subprocess.run([SHELF.encode(), b"-L", lib.encode(), b"import", src], check=True, stdout=subprocess.DEVNULL)

# ---- start ------------------------------------------------------------------------------

try:
    srv, line = start(lib, "--port", "0")
    m = re.fullmatch(r"shelf serve: http://127\.0\.0\.1:(\d+)/\?token=([0-9a-f]{64})\n", line)
    check("one line with the address and the token", m is not None, repr(line))
    if not m:
        kill_all()
        sys.exit(1)
    PORT, TOKEN = int(m.group(1)), m.group(2)
    HOST = "127.0.0.1:%d" % PORT
    ORIGIN = "http://" + HOST
    COOKIE = {"Cookie": "shelf=" + TOKEN}
    MUT = {"Cookie": "shelf=" + TOKEN, "X-Shelf-Token": TOKEN, "Origin": ORIGIN,
           "Content-Type": "application/json"}

    CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "media-src 'self'; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
           "base-uri 'none'; form-action 'self'")
    seen = {"n": 0, "bad": []}

    def req(method, path, headers=None, body=None, host=None):
        """One request on its own connection: (status, headers dict (lowercase), body)."""
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host or HOST)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        seen["n"] += 1
        if h.get("content-security-policy") != CSP or h.get("x-content-type-options") != "nosniff" or \
                h.get("referrer-policy") != "no-referrer" or h.get("x-frame-options") != "DENY" or \
                "cache-control" not in h or any(k.startswith("access-control-") for k in h):
            seen["bad"].append("%s %s -> %d %s" % (method, path, r.status, h))
        return r.status, h, data

    def jreq(method, path, headers=None, body=None, host=None):
        st, h, data = req(method, path, headers, body, host)
        try:
            return st, h, json.loads(data)
        except ValueError:
            return st, h, data

    def get(path, **kw):
        return jreq("GET", path, COOKIE, **kw)

    def post(path, obj, headers=None):
        return jreq("POST", path, headers if headers is not None else MUT,
                    obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    def is_error(v):
        return isinstance(v, dict) and list(v) == ["error"] and isinstance(v["error"], str) and \
            "\n" not in v["error"]

    # ---- the server is the one the test started --------------------------------------
    st, h, s = get("/api/session")
    # the index is built in the background: wait until it is taken, then
    # every search below is the in-memory engine's
    deadline = time.time() + 60
    while st == 200 and s.get("index", {}).get("building") and time.time() < deadline:
        time.sleep(0.05)
        st, h, s = get("/api/session")
    check("session: the index built in the background is taken", st == 200 and
          s["index"]["building"] is False, str(s))
    check("session: 200", st == 200, str(st))
    check("session: the test's library answers", s.get("library") == os.path.realpath(lib), str(s))
    check("session: counts", s.get("samples") == N and s.get("missing") == 1, str(s))
    check("session: token, version, API version 1", s.get("token") == TOKEN and isinstance(s.get("version"), str)
          and s.get("api") == 1 and set(s) == {"api", "token", "library", "version", "samples", "missing",
                                                 "preload_bytes", "index"}, str(s))
    check("session: the index built once", s.get("index", {}).get("builds") == 1 and
          s["index"].get("fallbacks") == 0 and s["index"].get("fallback_why") == "", str(s))
    check("session: preloaded", isinstance(s.get("preload_bytes"), int) and s["preload_bytes"] > 0, str(s))
    check("session: no-store", h.get("cache-control") == "no-store", str(h))

    # ---- the token --------------------------------------------------------------------
    st, h, _ = req("GET", "/?token=" + TOKEN)
    cookie = h.get("set-cookie", "")
    check("token exchange: 303 to /", st == 303 and h.get("location") == "/", "%d %s" % (st, h))
    check("token exchange: the cookie", cookie.startswith("shelf=%s;" % TOKEN), cookie)
    check("token exchange: HttpOnly, SameSite=Strict, Path=/",
          all(a in [x.strip() for x in cookie.split(";")] for a in ("HttpOnly", "SameSite=Strict", "Path=/")),
          cookie)
    st, h, _ = req("GET", "/?token=" + "0" * 64)
    check("wrong token in the address: 401, no cookie", st == 401 and "set-cookie" not in h, str(st))
    st, h, body = req("GET", "/")
    check("page without the cookie: 401 HTML", st == 401 and h.get("content-type", "").startswith("text/html")
          and b"shelf serve" in body and b"printed" in body, "%d %s" % (st, body[:200]))
    st, h, v = jreq("GET", "/api/session")
    check("API without a token: 401 JSON", st == 401 and is_error(v), "%d %s" % (st, v))
    st, h, v = jreq("GET", "/api/session", {"Cookie": "shelf=" + "f" * 64})
    check("wrong cookie: 401", st == 401 and is_error(v), str(st))
    st, h, v = jreq("GET", "/api/session", {"X-Shelf-Token": TOKEN[:-1] + ("0" if TOKEN[-1] != "0" else "1")})
    check("wrong header token: 401", st == 401, str(st))
    st, h, v = jreq("GET", "/api/session", {"Cookie": "shelf=" + TOKEN[:32]})
    check("short token: 401", st == 401, str(st))
    st, h, v = jreq("GET", "/api/session", {"X-Shelf-Token": TOKEN})
    check("the header alone is enough to read", st == 200, str(st))

    # ---- Host allow-list (DNS rebinding) ------------------------------------------------
    for host in ("evil.example:%d" % PORT, "127.0.0.1:%d" % (PORT + 1), "127.0.0.1", "localhost",
                 "127.0.0.1.evil.example:%d" % PORT, "0.0.0.0:%d" % PORT):
        st, h, v = jreq("GET", "/api/session", COOKIE, host=host)
        check("Host %s: 403 even with the token" % host, st == 403 and v == {"error": "host not allowed"},
              "%d %s" % (st, v))
    st, h, v = jreq("GET", "/?token=" + TOKEN, host="evil.example:%d" % PORT)
    check("no cookie for another Host", st == 403 and "set-cookie" not in h, str(st))
    for host in ("localhost:%d" % PORT, "LOCALHOST:%d" % PORT, "[::1]:%d" % PORT):
        st, h, v = jreq("GET", "/api/session", COOKIE, host=host)
        check("Host %s allowed" % host, st == 200, str(st))

    # ---- the page and its files, from the binary ---------------------------------------
    ui = os.path.join(SRC, "server", "ui")
    files = sorted(os.path.relpath(os.path.join(d, f), ui) for d, _, fs in os.walk(ui) for f in fs
                   if not f.startswith(".") and not f.endswith("~"))
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
             ".png": "image/png", ".json": "application/json"}
    for f in files:
        st, h, body = req("GET", "/" + urllib.parse.quote(f), COOKIE)
        want = open(os.path.join(ui, f), "rb").read()
        t = types.get(os.path.splitext(f)[1])
        check("UI file %s served as built in" % f, st == 200 and body == want and
              (t is None or h.get("content-type", "").startswith(t)), "%d %d bytes" % (st, len(body)))
        if st == 200:
            st2, h2, body2 = req("GET", "/" + urllib.parse.quote(f), dict(COOKIE, **{"If-None-Match": h["etag"]}))
            check("UI file %s: 304 with its ETag" % f, st2 == 304 and body2 == b"", str(st2))
    if "index.html" in files:
        st, h, body = req("GET", "/", COOKIE)
        check("/ is index.html", st == 200 and body == open(os.path.join(ui, "index.html"), "rb").read(), str(st))
    st, h, body = req("GET", "/nothing-here.js", COOKIE)
    check("a file not built in: 404", st == 404, str(st))
    st, h, body = req("GET", "/server/ui/index.html", COOKIE)
    check("no path into the source tree", st == 404, str(st))

    # ---- paths that try to leave ---------------------------------------------------------
    for p in ("/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/samples/..%2F..%2Fetc%2Fpasswd/audio",
              "/api/samples/1%00/audio", "/api/samples/%2Fetc%2Fpasswd/audio", "//etc/passwd",
              "/api/samples/%2e%2e/audio", "/..%5c..%5cetc%5cpasswd", "/%2fetc%2fpasswd",
              "/api/samples/" + str(KICK) + "/audio/../../../../etc/passwd", "/etc/passwd",
              "/api/../../etc/passwd", "/index.html%00.js", "/api/samples/1%2500/peaks"):
        st, h, body = req("GET", p, COOKIE)
        check("traversal %s: 4xx" % p, 400 <= st < 500 and b"root:" not in body, "%d %s" % (st, body[:80]))

    # ---- search -------------------------------------------------------------------------
    st, h, v = get("/api/search?q=")
    check("empty query: every sample", st == 200 and v.get("total") == N and len(v.get("items", [])) == N
          and v.get("exact") is True and v.get("offset") == 0 and v.get("q") == "" and
          isinstance(v.get("ms"), float), "%d %s" % (st, str(v)[:300]))
    all_ids = [it["id"] for it in v.get("items", [])]   # answered by the index (type:sample)
    st, h, v2 = get("/api/search?q=&offset=2&limit=3")
    check("empty query pages", [it["id"] for it in v2.get("items", [])] == all_ids[2:5], str(v2)[:200])
    got = sorted(unescape(it["name"]) for it in v.get("items", []))
    check("odd names round-trip byte for byte", got == sorted(stem(n) for n in NAMES),
          "%s" % got)
    paths = sorted(unescape(it["path"]) for it in v.get("items", []))
    check("paths round-trip byte for byte", paths == sorted(NAMES), "%s" % paths)
    item = next((it for it in v.get("items", []) if it["id"] == KICK), {})
    want_keys = {"id", "name", "path", "format", "subtype", "rate", "channels", "frames", "duration", "bits",
                 "root_key", "loop", "tempo", "category", "rating", "favourite", "tags", "missing", "archived",
                 "size"}
    check("ITEM has the documented members", set(item) == want_keys, str(sorted(item)))
    check("ITEM values", item.get("format") == "WAV" and item.get("frames") == 20000 and
          item.get("rate") == 44100 and item.get("missing") is False and item.get("tags") == [] and
          item.get("root_key") is None and item.get("loop") is None, str(item))
    bad = next((it for it in v.get("items", []) if it["id"] == ids[b"bad\xff\xfe"]), {})
    check("a name that is not UTF-8 is its text", bad.get("name") == "bad%FF%FE", str(bad.get("name")))
    st, h, v = get("/api/search?q=kick")
    check("search: words", st == 200 and v.get("total") == 1 and [it["id"] for it in v["items"]] == [KICK],
          str(v)[:300])
    st, h, v = get("/api/search?q=" + urllib.parse.quote("キック"))
    check("search: CJK", st == 200 and v.get("total") == 1, str(v)[:300])
    st, h, v = get("/api/search?q=pad+warm")
    check("search: '+' is a space", st == 200 and [it["id"] for it in v.get("items", [])] == [PAD], str(v)[:300])
    st, h, v = get("/api/search?q=missing:yes")
    check("search: the missing file", st == 200 and [it["id"] for it in v["items"]] == [GONE], str(v)[:300])
    st, h, v = get("/api/search?q=&sort=name&limit=3&offset=2")
    allnames = sorted(r["name"] for r in rows)
    check("search: sort, limit, offset", st == 200 and v.get("total") == N and v.get("offset") == 2 and
          len(v["items"]) == 3, str(v)[:300])
    st, h, v = get("/api/search?q=&sort=name&desc=1&limit=1")
    st2, h2, v2 = get("/api/search?q=&sort=name&limit=1000")
    check("search: desc reverses", st == 200 and st2 == 200 and
          v["items"][0]["id"] == v2["items"][-1]["id"], "%s %s" % (str(v)[:200], str(v2)[:200]))
    st, h, v = get("/api/search?q=%FF")
    check("search: a query that is not UTF-8: 400 JSON", st == 400 and isinstance(v, dict) and
          isinstance(v.get("error"), str) and v.get("column") == 1, str(v))
    st, h, v = get("/api/search?q=(kick")
    check("bad query: 400 with the column", st == 400 and isinstance(v.get("column"), int) and
          v["column"] > 0 and isinstance(v.get("error"), str), "%d %s" % (st, v))
    for q, what in (("sort=nope", "sort"), ("limit=0", "limit"), ("limit=x", "limit"), ("offset=-1", "offset"),
                    ("desc=2", "desc")):
        st, h, v = get("/api/search?q=&" + q)
        check("search: bad %s: 400" % what, st == 400 and is_error(v), "%d %s" % (st, v))
    st, h, v = get("/api/search?q=&limit=5000")
    check("search: limit above 1000 is 1000", st == 200 and len(v["items"]) == N, str(st))

    # ---- facets ------------------------------------------------------------------------
    st, h, v = get("/api/facets?q=&max=12")
    fac = v.get("facets", {}) if isinstance(v, dict) else {}
    check("facets: an object of facets", st == 200 and v.get("q") == "" and isinstance(fac, dict) and
          "format" in fac and all(set(x) == {"value", "filter", "count"} for vals in fac.values() for x in vals),
          "%d %s" % (st, str(v)[:300]))
    fmts = {x["value"].lower(): x["count"] for x in fac.get("format", [])}
    check("facets: formats counted", fmts.get("wav") == N - 1 and fmts.get("aiff") == 1, str(fmts))
    for x in fac.get("format", []) + fac.get("channels", []):
        st, h, w = get("/api/search?" + urllib.parse.urlencode({"q": x["filter"]}))
        check("facets: filter %s finds %d" % (x["filter"], x["count"]), st == 200 and w.get("total") == x["count"],
              "%d %s" % (st, str(w)[:200]))
    st, h, v = get("/api/facets?q=kick")
    check("facets: narrowed by the query", st == 200 and
          sum(x["count"] for x in v["facets"].get("format", [])) == 1, str(v)[:300])
    st, h, v = get("/api/facets?q=(kick")
    check("facets: bad query: 400 with the column", st == 400 and isinstance(v.get("column"), int), str(v))
    st, h, v = get("/api/facets?q=&max=0")
    check("facets: bad max: 400", st == 400 and is_error(v), str(v))
    st, h, v = jreq("POST", "/api/facets", MUT, "{}")
    check("facets: POST is 405", st == 405, str(st))

    # ---- one sample --------------------------------------------------------------------
    st, h, v = get("/api/samples/%d" % KICK)
    long_keys = want_keys | {"title", "author", "comment", "genre", "kit", "instrument", "created",
                             "last_used", "sha256"}
    check("sample: ITEM and the long members", st == 200 and set(v) == long_keys and
          re.fullmatch("[0-9a-f]{64}", v.get("sha256") or "") is not None, str(v))
    for p in ("/api/samples/999999", "/api/samples/0", "/api/samples/abc", "/api/samples/99999999999999999999"):
        st, h, v = get(p)
        check("%s: 404 JSON" % p, st == 404 and is_error(v), "%d %s" % (st, v))

    # ---- mutations: only from the page ------------------------------------------------
    def tags_of(i):
        return get("/api/samples/%d" % i)[2].get("tags")

    cases = [
        ("another Origin", dict(MUT, Origin="http://evil.example")),
        ("no Origin", {k: v for k, v in MUT.items() if k != "Origin"}),
        ("Origin null", dict(MUT, Origin="null")),
        ("Origin of another allowed host", dict(MUT, Origin="http://localhost:%d" % PORT)),
        ("https Origin", dict(MUT, Origin="https://" + HOST)),
        ("no X-Shelf-Token (cookie only)", {k: v for k, v in MUT.items() if k != "X-Shelf-Token"}),
        ("a wrong X-Shelf-Token", dict(MUT, **{"X-Shelf-Token": "0" * 64})),
    ]
    for name, hdrs in cases:
        st, h, v = post("/api/samples/%d/tags" % KICK, {"add": ["evil"]}, hdrs)
        check("POST with %s: 403" % name, st == 403 and is_error(v), "%d %s" % (st, v))
        st, h, v = post("/api/tags", {"ids": [KICK], "add": ["evil"]}, hdrs)
        check("bulk POST with %s: 403" % name, st == 403, str(st))
        st, h, v = post("/api/samples/%d/rating" % KICK, {"rating": 1}, hdrs)
        check("rating POST with %s: 403" % name, st == 403, str(st))
    check("nothing changed by refused requests", tags_of(KICK) == [] and
          get("/api/samples/%d" % KICK)[2].get("rating") == 0)
    st, h, v = post("/api/samples/%d/tags" % KICK, {"add": ["evil"]}, {"Cookie": "shelf=" + TOKEN, "Origin": ORIGIN})
    check("POST without a content type or token: 403", st == 403, str(st))
    st, h, v = post("/api/samples/%d/tags" % KICK, {"add": ["x"]}, dict(MUT, **{"Content-Type": "text/plain"}))
    check("POST as text/plain (a form could send it): 415", st == 415 and is_error(v), "%d %s" % (st, v))
    check("still nothing changed", tags_of(KICK) == [])

    st, h, v = post("/api/samples/%d/tags" % KICK, {"add": ["foo", "punchy"]})
    check("tags: add, the ITEM back", st == 200 and v.get("id") == KICK and sorted(v.get("tags", [])) == ["foo", "punchy"]
          and set(v) == want_keys, "%d %s" % (st, v))
    st, h, v = post("/api/samples/%d/tags" % KICK, {"remove": ["punchy"]})
    check("tags: remove", st == 200 and v.get("tags") == ["foo"], "%d %s" % (st, v))
    st, h, v = get("/api/search?q=tag:foo")
    check("tag edit seen by the next search", [it["id"] for it in v.get("items", [])] == [KICK], str(v)[:300])
    st, h, v = post("/api/samples/%d/rating" % PAD, {"rating": 5})
    check("rating 5", st == 200 and v.get("rating") == 5, "%d %s" % (st, v))
    st, h, v = get("/api/search?q=rating:5")
    check("rating seen by the next search", [it["id"] for it in v.get("items", [])] == [PAD], str(v)[:300])
    st, h, v = post("/api/samples/%d/favourite" % PAD, {"on": True})
    check("favourite on", st == 200 and v.get("favourite") is True, "%d %s" % (st, v))
    st, h, v = get("/api/search?q=fav:yes")
    check("favourite seen by the next search", [it["id"] for it in v.get("items", [])] == [PAD], str(v)[:300])
    st, h, v = post("/api/samples/%d/favourite" % PAD, {"on": False})
    check("favourite off", st == 200 and v.get("favourite") is False, "%d %s" % (st, v))
    st, h, v = post("/api/tags", {"ids": [KICK, SNARE, 999999], "add": ["bulk"], "remove": ["foo"]})
    check("bulk tags: changed counts the samples there", st == 200 and v == {"changed": 2}, "%d %s" % (st, v))
    st, h, v = get("/api/search?q=tag:bulk&sort=id")
    check("bulk tags seen by the next search", sorted(it["id"] for it in v.get("items", [])) == sorted([KICK, SNARE])
          and v.get("total") == 2, str(v)[:300])
    check("bulk remove", "foo" not in tags_of(KICK))
    # another process tags, rates and removes: the next search sees it, applied in place
    ix0 = get("/api/session")[2]["index"]
    subprocess.run([SHELF, "-L", lib, "tag", "add", str(PAD), "fromcli"], check=True, stdout=subprocess.DEVNULL)
    st, h, v = get("/api/search?q=tag:fromcli")
    check("a tag from another process seen by the next search", st == 200 and
          [it["id"] for it in v.get("items", [])] == [PAD], str(v)[:300])
    subprocess.run([SHELF, "-L", lib, "tag", "rm", str(PAD), "fromcli"], check=True, stdout=subprocess.DEVNULL)
    st, h, v = get("/api/search?q=tag:fromcli")
    check("its removal too", st == 200 and v.get("total") == 0, str(v)[:300])
    ix1 = get("/api/session")[2]["index"]
    check("another process's edits applied in place, no rebuild", ix1["builds"] == ix0["builds"] and
          ix1["applies"] >= ix0["applies"] + 2 and ix1["fallbacks"] == 0, "%s -> %s" % (ix0, ix1))
    for path, body, what in (("/api/samples/%d/rating" % PAD, {"rating": 6}, "rating 6"),
                             ("/api/samples/%d/rating" % PAD, {"rating": "5"}, "rating as text"),
                             ("/api/samples/%d/rating" % PAD, {}, "no rating"),
                             ("/api/samples/%d/favourite" % PAD, {"on": 1}, "favourite 1"),
                             ("/api/samples/%d/tags" % PAD, {"add": "x"}, "add not an array"),
                             ("/api/samples/%d/tags" % PAD, {"add": [1]}, "a tag not a string"),
                             ("/api/samples/%d/tags" % PAD, {"add": ["two words"]}, "a tag with a space"),
                             ("/api/samples/%d/tags" % PAD, "{not json", "not JSON"),
                             ("/api/samples/%d/tags" % PAD, "[1]", "an array"),
                             ("/api/samples/%d/tags" % PAD, '{"add":["a"],"add":["b"]}', "a duplicate key"),
                             ("/api/tags", {"ids": ["1"], "add": ["x"]}, "ids not numbers"),
                             ("/api/tags", {"add": ["x"]}, "no ids")):
        st, h, v = post(path, body)
        check("bad body (%s): 400 one line" % what, st == 400 and is_error(v), "%d %s" % (st, v))
    st, h, v = post("/api/samples/999999/rating", {"rating": 1})
    check("rating an unknown id: 404", st == 404 and is_error(v), "%d %s" % (st, v))
    st, h, v = post("/api/samples/999999/tags", {"add": ["x"]})
    check("tagging an unknown id: 404", st == 404 and is_error(v), "%d %s" % (st, v))
    st, h, v = get("/api/samples/%d" % PAD)
    check("bad bodies changed nothing", v.get("rating") == 5 and v.get("tags") == [], str(v))

    # ---- body limit ----------------------------------------------------------------------
    big = json.dumps({"add": ["x" * (1 << 20)]})
    st, h, v = post("/api/samples/%d/tags" % PAD, big)
    check("body over 1 MiB: 413", st == 413 and is_error(v), "%d %s" % (st, str(v)[:100]))
    s_ = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    s_.sendall(("POST /api/samples/%d/tags HTTP/1.1\r\nHost: %s\r\nCookie: shelf=%s\r\nX-Shelf-Token: %s\r\n"
                "Origin: %s\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n"
                % (PAD, HOST, TOKEN, TOKEN, ORIGIN)).encode())
    resp = b""
    while True:
        b = s_.recv(65536)
        if not b:
            break
        resp += b
    s_.close()
    check("a 5 GB Content-Length: 413 before the body", resp.startswith(b"HTTP/1.1 413"), resp[:100])
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    c.request("POST", "/api/samples/%d/tags" % PAD, body=iter([b'{"add":["', b"y" * (1 << 20), b'"]}']),
              headers=dict(MUT, Host=HOST), encode_chunked=True)
    r = c.getresponse()
    v = r.read()
    c.close()
    check("a chunked body over 1 MiB: 413", r.status == 413, "%d %s" % (r.status, v[:100]))
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    c.request("POST", "/api/samples/%d/tags" % PAD, body=iter([b'{"add":["x"]}']),
              headers={k: v for k, v in dict(MUT, Host=HOST).items() if k != "Content-Type"}, encode_chunked=True)
    r = c.getresponse()
    r.read()
    c.close()
    check("a chunked body that is not JSON: 415", r.status == 415, str(r.status))
    check("the big bodies changed nothing", tags_of(PAD) == [])

    # ---- one connection for many requests ---------------------------------------------
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    sts = []
    for path, body in (("/api/session", None), ("/api/search?q=kick", None),
                       ("/api/samples/%d/rating" % PAD, '{"rating":5}'), ("/api/samples/%d/audio" % KICK, None)):
        c.request("POST" if body else "GET", path, body=body, headers=dict(MUT if body else COOKIE, Host=HOST))
        r = c.getresponse()
        r.read()
        sts.append((r.status, r.getheader("Connection")))
    c.close()
    check("keep-alive: four requests on one connection", sts == [(200, None)] * 4, str(sts))

    # ---- methods, unknown paths -------------------------------------------------------
    st, h, v = jreq("OPTIONS", "/api/search", dict(COOKIE, **{"Origin": "http://evil.example",
                                                                "Access-Control-Request-Method": "POST"}))
    check("OPTIONS: 405, no CORS", st == 405 and not any(k.startswith("access-control") for k in h), str(st))
    st, h, v = jreq("OPTIONS", "/", {})
    check("OPTIONS without a token: 405", st == 405, str(st))
    for m, p, want in (("POST", "/api/search", 405), ("GET", "/api/tags", 405), ("DELETE", "/api/session", 405),
                       ("PUT", "/api/samples/%d/tags" % KICK, 405), ("GET", "/api/samples/%d/rating" % KICK, 405),
                       ("POST", "/api/samples/%d/audio" % KICK, 405), ("GET", "/api/nope", 404),
                       ("GET", "/api/samples/%d/nope" % KICK, 404), ("GET", "/api", 404),
                       ("PATCH", "/api/session", 405), ("BREW", "/api/session", 405)):
        hd = MUT if m in ("POST", "PUT", "PATCH", "DELETE") else COOKIE
        st, h, v = jreq(m, p, hd, "{}" if m in ("POST", "PUT", "PATCH") else None)
        check("%s %s: %d JSON" % (m, p, want), st == want and is_error(v), "%d %s" % (st, v))

    # ---- collections ------------------------------------------------------------------
    subprocess.run([SHELF, "-L", lib, "collection", "new", "live"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([SHELF, "-L", lib, "collection", "add", "live", str(KICK)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([SHELF, "-L", lib, "collection", "new", "loud", "rating:5"], check=True, stdout=subprocess.DEVNULL)
    st, h, v = get("/api/collections")
    check("collections", st == 200 and v == [
        {"name": "live", "kind": "manual", "query": None, "count": 1},
        {"name": "loud", "kind": "smart", "query": "rating:5", "count": 1}], "%d %s" % (st, v))
    # a saved search from the page: POST, the list back; the same name 409; a bad query 400
    st, h, v = post("/api/collections", {"name": "kicks é", "query": "kick -tag:nope"})
    check("collections: save a search", st == 200 and {"name": "kicks é", "kind": "smart", "query": "kick -tag:nope",
          "count": 1} in v and len(v) == 3, "%d %s" % (st, v))
    st, h, v = post("/api/collections", {"name": "kicks é", "query": "kick"})
    check("collections: the same name is 409", st == 409 and is_error(v), "%d %s" % (st, v))
    st, h, v = post("/api/collections", {"name": "bad", "query": "rate:>>"})
    check("collections: a bad query is 400 with where", st == 400 and is_error(v), "%d %s" % (st, v))
    st, h, v = post("/api/collections", {"name": "x"})
    check("collections: no query is 400", st == 400 and is_error(v), "%d %s" % (st, v))
    st, h, v = jreq("POST", "/api/collections", {"Cookie": "shelf=" + TOKEN, "X-Shelf-Token": TOKEN,
                                                 "Origin": "http://evil.example", "Content-Type": "application/json"},
                    '{"name": "evil", "query": "kick"}')
    check("collections: POST from another Origin is 403", st == 403, "%d %s" % (st, v))
    st, h, v = jreq("PUT", "/api/collections", MUT, "{}")
    check("collections: PUT is 405", st == 405, "%d %s" % (st, v))

    # ---- audio -----------------------------------------------------------------------------
    kick_bytes = open(os.path.join(src, b"kick hard.wav"), "rb").read()
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, COOKIE)
    check("audio: the file itself", st == 200 and body == kick_bytes, "%d %d" % (st, len(body)))
    check("audio: type, ranges, ETag", h.get("content-type") == "audio/wav" and h.get("accept-ranges") == "bytes"
          and re.fullmatch(r'"[0-9a-f]{64}"', h.get("etag", "")) is not None and
          h.get("cache-control") == "no-cache", str(h))
    etag = h.get("etag", "")
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, Range="bytes=100-1099"))
    check("audio: Range 206 with the right bytes", st == 206 and body == kick_bytes[100:1100] and
          h.get("content-range") == "bytes 100-1099/%d" % len(kick_bytes), "%d %s" % (st, h))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, Range="bytes=-10"))
    check("audio: the last 10 bytes", st == 206 and body == kick_bytes[-10:], str(st))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, Range="bytes=%d-" % (len(kick_bytes) - 5)))
    check("audio: open-ended range", st == 206 and body == kick_bytes[-5:], str(st))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, Range="bytes=0-99999999"))
    check("audio: a range past the end is cut", st == 206 and body == kick_bytes, str(st))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, Range="bytes=%d-" % len(kick_bytes)))
    check("audio: 416 past the end", st == 416 and h.get("content-range") == "bytes */%d" % len(kick_bytes),
          "%d %s" % (st, h))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, **{"If-None-Match": etag}))
    check("audio: 304 with the ETag", st == 304 and body == b"", str(st))
    st, h, body = req("GET", "/api/samples/%d/audio" % KICK, dict(COOKIE, **{"If-None-Match": '"other"'}))
    check("audio: 200 with another ETag", st == 200 and body == kick_bytes, str(st))

    st, h, wav = req("GET", "/api/samples/%d/audio" % SNARE, COOKIE)
    check("AIFF: decoded to audio/wav", st == 200 and h.get("content-type") == "audio/wav", "%d %s" % (st, h))
    try:
        w = wave.open(io.BytesIO(wav))
        check("AIFF: a WAV with the same frames and channels", w.getnframes() == 12345 and w.getnchannels() == 2
              and w.getsampwidth() == 2, "%d %d" % (w.getnframes(), w.getnchannels()))
    except Exception as e:          # noqa: BLE001 (any parse failure is the finding)
        fail("AIFF: a WAV python reads", str(e))
    st, h, part = req("GET", "/api/samples/%d/audio" % SNARE, dict(COOKIE, Range="bytes=40-139"))
    check("AIFF: Range on the decoded WAV", st == 206 and part == wav[40:140] and
          h.get("content-range") == "bytes 40-139/%d" % len(wav), "%d %s" % (st, h))
    st, h, body = req("GET", "/api/samples/%d/audio" % SNARE, dict(COOKIE, Range="bytes=%d-" % len(wav)))
    check("AIFF: 416 past the decoded end", st == 416 and h.get("content-range") == "bytes */%d" % len(wav),
          "%d %s" % (st, h))
    st, h, body = req("GET", "/api/samples/%d/audio" % SNARE, dict(COOKIE, **{"If-None-Match": h.get("etag", "x")}))
    check("AIFF: 304 with its ETag", st == 304, str(st))

    st, h, v = jreq("GET", "/api/samples/%d/audio" % GONE, COOKIE)
    check("audio of a missing file: 404 'file missing'", st == 404 and is_error(v) and
          v["error"].startswith("file missing: "), "%d %s" % (st, v))
    two = os.path.join(src, b"two words.wav")
    os.rename(two, two + b".away")
    os.mkfifo(two)
    t0 = time.time()
    st, h, v = jreq("GET", "/api/samples/%d/audio" % ids[b"two words"], COOKIE)
    check("a FIFO in a sample's place: 404 at once", st == 404 and is_error(v) and time.time() - t0 < 10,
          "%d %s" % (st, v))
    os.unlink(two)
    os.rename(two + b".away", two)
    st, h, v = jreq("GET", "/api/samples/999999/audio", COOKIE)
    check("audio of an unknown id: 404", st == 404 and is_error(v), "%d %s" % (st, v))
    st, h, body = req("GET", "/api/samples/%d/audio" % ids[b"bad\xff\xfe"], COOKIE)
    check("audio of the name that is not UTF-8", st == 200 and
          body == open(os.path.join(src, b"bad\xff\xfe.wav"), "rb").read(), str(st))

    # ---- peaks -------------------------------------------------------------------------
    st, h, v = get("/api/samples/%d/peaks?n=50" % KICK)
    pk = v.get("peaks", []) if isinstance(v, dict) else []
    check("peaks: n pairs", st == 200 and v.get("n") == 50 and len(pk) == 50 and
          all(len(p) == 2 and -1 <= p[0] <= p[1] <= 1 for p in pk), "%d %s" % (st, str(v)[:200]))
    check("peaks: not silence", max(p[1] for p in pk) > 0.1 if pk else False, str(pk[:3]))
    st, h, v = get("/api/samples/%d/peaks" % SNARE)
    check("peaks: 400 by default, AIFF", st == 200 and v.get("n") == 400 and len(v.get("peaks", [])) == 400, str(st))
    st, h, v = get("/api/samples/%d/peaks?n=1" % KICK)
    check("peaks: n at least 16", st == 200 and v.get("n") == 16 and len(v["peaks"]) == 16, str(v)[:100])
    st, h, v = get("/api/samples/%d/peaks?n=99999" % KICK)
    check("peaks: n at most 4000", st == 200 and v.get("n") == 4000 and len(v["peaks"]) == 4000, str(st))
    st, h, v = get("/api/samples/%d/peaks?n=abc" % KICK)
    check("peaks: n not a number: 400", st == 400 and is_error(v), str(st))
    st, h, v = get("/api/samples/%d/peaks" % GONE)
    check("peaks of a missing file: 404", st == 404 and is_error(v), str(st))
    # made once, then from the library's cache by the bytes' hash: a file
    # gone since still has its waveform
    st, h, v = get("/api/samples/%d/peaks?n=77" % ids[b"two words"])
    first = v.get("peaks") if isinstance(v, dict) else None
    check("peaks: the first time decoded", st == 200 and v.get("cached") is False, str(v)[:120])
    st, h, v = get("/api/samples/%d/peaks?n=77" % ids[b"two words"])
    check("peaks: the second time from the cache, the same", st == 200 and v.get("cached") is True and
          v.get("peaks") == first, str(v)[:120])
    cache = glob.glob(os.path.join(lib, "cache", "peaks", "*", "*-77"))
    check("peaks: the cache file, named by hash and n", len(cache) == 1 and
          os.path.getsize(cache[0]) == 16 + 8 * 77, str(cache))
    os.rename(two, two + b".away")
    st, h, v = get("/api/samples/%d/peaks?n=77" % ids[b"two words"])
    check("peaks: a file gone keeps its waveform", st == 200 and v.get("peaks") == first, "%d %s" % (st, str(v)[:120]))
    st, h, v = get("/api/samples/%d/peaks?n=78" % ids[b"two words"])
    check("peaks: another n of a gone file: 404", st == 404 and is_error(v) and
          v["error"].startswith("file missing: "), "%d %s" % (st, v))
    os.rename(two + b".away", two)

    # ---- every response ------------------------------------------------------------------
    check("CSP and the other headers on all %d responses, no Access-Control-*" % seen["n"],
          seen["n"] > 100 and not seen["bad"], "\n".join(seen["bad"][:5]))

    # ---- a port in use ---------------------------------------------------------------------
    p2, line2 = start(lib, "--port", str(PORT))
    rc = p2.wait(timeout=60)
    err2 = p2.stderr.read().decode("utf-8", "replace")
    check("port in use: exit 1", rc == 1, "%d %r" % (rc, err2))
    check("port in use: one line", err2.count("\n") == 1 and "address already in use" in err2 and
          str(PORT) in err2 and line2 == "", repr(err2))
    p3 = subprocess.run([SHELF, "-L", lib, "serve", "--port", "70000"], capture_output=True, timeout=60)
    check("bad port: usage", p3.returncode == 2 and p3.stderr.count(b"\n") == 1, str(p3))
    p3 = subprocess.run([SHELF, "-L", lib, "serve", "--address", "example.com"], capture_output=True, timeout=60)
    check("address not numeric: usage", p3.returncode == 2 and p3.stderr.count(b"\n") == 1, str(p3))

    # ---- stop ------------------------------------------------------------------------------
    rc, err = stop(srv)
    check("SIGTERM: exit 0", rc == 0, "%d %s" % (rc, err))
    check("SIGTERM: 'stopped'", err.strip().endswith("shelf serve: stopped"), repr(err))

    # ---- --json, --open, --no-preload, SIGINT -----------------------------------------
    bindir = os.path.join(T, "bin")
    os.makedirs(bindir)
    opened = os.path.join(T, "opened")
    with open(os.path.join(bindir, "xdg-open"), "w") as f:
        f.write("#!/bin/sh\nprintf '%%s\\n' \"$1\" > '%s'\n" % opened)
    os.chmod(os.path.join(bindir, "xdg-open"), 0o755)
    env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", ""))
    srv, line = start(lib, "--json", "--port", "0", "--open", "--no-preload", env=env)
    try:
        j = json.loads(line)
    except ValueError:
        j = {}
    check("--json: one line with url, port, token", line.count("\n") == 1 and set(j) == {"url", "port", "token"}
          and j["url"] == "http://127.0.0.1:%d/?token=%s" % (j["port"], j["token"]), repr(line))
    PORT = j.get("port", PORT)
    for _ in range(100):
        if os.path.exists(opened) and open(opened).read().endswith("\n"):
            break
        time.sleep(0.05)
    check("--open runs xdg-open with the address", os.path.exists(opened) and
          open(opened).read().strip() == j.get("url"), "")
    HOST = "127.0.0.1:%d" % PORT
    st, h, s = jreq("GET", "/api/session", {"X-Shelf-Token": j.get("token", "")})
    check("--no-preload: nothing preloaded", st == 200 and s.get("preload_bytes") == 0, str(s))
    st, h, v = jreq("GET", "/api/search?q=", {"X-Shelf-Token": j.get("token", "")})
    check("empty query by SQL lists as the index does", [it["id"] for it in v.get("items", [])] == all_ids,
          "%s vs %s" % ([it["id"] for it in v.get("items", [])], all_ids))
    check("a new token for a new run", j.get("token") != TOKEN)
    st, h, s = jreq("GET", "/api/session", {"X-Shelf-Token": TOKEN})
    check("the old token is refused", st == 401, str(st))
    rc, err = stop(srv, signal.SIGINT)
    check("SIGINT: exit 0 and 'stopped'", rc == 0 and "shelf serve: stopped" in err, "%d %r" % (rc, err))

    # ---- IPv6 loopback and a bound address --------------------------------------------
    srv, line = start(lib, "--address", "::1", "--port", "0", "--no-preload")
    m6 = re.fullmatch(r"shelf serve: http://\[::1\]:(\d+)/\?token=([0-9a-f]{64})\n", line)
    if m6:
        c = http.client.HTTPConnection("::1", int(m6.group(1)), timeout=30)
        c.request("GET", "/api/session", headers={"X-Shelf-Token": m6.group(2)})
        r = c.getresponse()
        check("IPv6 loopback serves", r.status == 200 and json.loads(r.read())["token"] == m6.group(2), str(r.status))
        c.close()
    elif "cannot listen" in line or srv.poll() is not None:
        print("skip IPv6: no ::1 here")
    else:
        fail("IPv6 line", repr(line))
    stop(srv)
finally:
    kill_all()

finish()

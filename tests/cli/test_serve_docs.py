#!/usr/bin/env python3
"""test_serve_docs.py: patches and projects in the API of `shelf serve`, with
Python's standard library only.  Run by test_serve_docs.sh, which passes its
temp folder.

It makes a library with a patch and a project whose names hold accents, CJK,
emoji and spaces, gives the patch a history (edits, a branch) with the
program, starts `shelf serve --port 0` and checks the list and its word
search, one document at a version, the history, the diff of two versions,
revert, undo and a three-way merge as a preview and its apply, and the rules
of changes: no token (401), the token only as a cookie or another Origin
(403), a stale preview (409: the head moved, the expected version is wrong,
the preview was used, is unknown or is another item's).
"""
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, check, fail, finish, kill_all, ok  # noqa: E402

SHELF = os.environ["SHELF"]
T = sys.argv[1]


lib = os.path.join(T, "lib")


def shelf(*args):
    """Run the program on the test's library; its standard output as text."""
    r = subprocess.run([SHELF, "-L", lib] + list(args), capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("shelf %s: %d %s" % (" ".join(args), r.returncode, r.stderr.decode()))
    return r.stdout.decode()


PATCH_NAME = "Café 鼓 🥁 pad"
PROJECT_NAME = "Sông ünï 曲 🎹 live"
shelf("init")
P = json.loads(shelf("--json", "patch", "new", PATCH_NAME, "--author", "Zoë Ünal", "--category", "pad"))["id"]
shelf("patch", "new", "Plain Bass", "--category", "bass")
shelf("patch", "set", str(P), "params/filter/cutoff=1200", "comment=warm", "-m", "brighter ☀")
shelf("patch", "set", str(P), "params/filter/cutoff=900", "params/amp/pan=0.5", "-m", "warmer 鼓")
J = json.loads(shelf("--json", "project", "new", PROJECT_NAME, "--tempo", "120"))["id"]
shelf("project", "set", str(J), "tempo=98", "-m", "slower")

try:
    srv = Server(SHELF, lib)
    PORT, TOKEN, HOST, ORIGIN, MUT = srv.port, srv.token, srv.host, srv.origin, srv.mut
    req, get, post = srv.req, srv.get, srv.post

    def q(s):
        return urllib.parse.quote(s)

    # ---- the list and its search ----------------------------------------------------
    st, v = get("/api/patches")
    check("patches listed", st == 200 and v["kind"] == "patch" and v["total"] == 2 and
          [i["name"] for i in v["items"]] == [PATCH_NAME, "Plain Bass"], str(v))
    it = v["items"][0] if st == 200 else {}
    check("a patch as patch ls --json has it", it.get("id") == P and it.get("version") == 3 and
          it.get("author") == "Zoë Ünal" and it.get("category") == "pad" and it.get("format") == "shelf", str(it))
    for query, want in [("cafe", [P]), ("CAFÉ", [P]), ("鼓", [P]), ("🥁", [P]), ("zoe unal", [P]),
                        ("pad café", [P]), ("bass", [P + 1]), ("café bass", []), ("", [P, P + 1])]:
        st, v = get("/api/patches?q=" + q(query))
        check("patch search %r" % query, st == 200 and [i["id"] for i in v["items"]] == want and
              v["total"] == len(want) and v["q"] == query, "%d %s" % (st, v))
    st, v = get("/api/projects?q=" + q("song unï 曲 🎹"))
    check("projects listed and searched", st == 200 and v["kind"] == "project" and len(v["items"]) == 1 and
          v["items"][0]["name"] == PROJECT_NAME and v["items"][0]["tempo"] == 98, str(v))

    # ---- a document, its history, a diff ------------------------------------------------
    st, v = get("/api/patches/%d" % P)
    check("the head document", st == 200 and v["version"] == 3 and v["head"] == 3 and
          v["document"]["name"] == PATCH_NAME and v["document"]["params"]["filter"]["cutoff"] == 900, str(v))
    st, v = get("/api/patches/%d?version=2" % P)
    check("a document at a version", st == 200 and v["version"] == 2 and v["head"] == 3 and
          v["document"]["params"]["filter"]["cutoff"] == 1200, str(v))
    st, v = get("/api/patches/%d?version=99" % P)
    check("a version that is not: 404", st == 404 and "error" in v, "%d %s" % (st, v))
    st, v = get("/api/patches/%d?version=x" % P)
    check("a version that is not a number: 400", st == 400, "%d %s" % (st, v))
    st, v = get("/api/patches/999")
    check("an unknown patch: 404", st == 404 and "error" in v, "%d %s" % (st, v))
    st, v = get("/api/projects/%d" % J)
    check("a project document", st == 200 and v["kind"] == "project" and v["document"]["tempo"] == 98, str(v))

    st, v = get("/api/patches/%d/history" % P)
    vs = v["versions"] if st == 200 else []
    check("the history, newest first", [x["version"] for x in vs] == [3, 2, 1] and v["head"] == 3, str(v))
    check("each version with date, message and who", all(isinstance(x["time"], int) and x["time"] > 0 and
                                                         x["who"] == "this library" and len(x["hash"]) == 64
                                                         for x in vs) and
          [x["message"] for x in vs] == ["warmer 鼓", "brighter ☀", "create"] and vs[0]["head"] is True, str(vs))

    st, v = get("/api/patches/%d/diff?a=1&b=3" % P)
    ch = {c["path"]: c for c in v.get("changes", [])} if st == 200 else {}
    check("the diff of two versions", st == 200 and v["a"] == 1 and v["b"] == 3 and
          ch.get("params/filter", {}).get("new") == {"cutoff": 900} and ch.get("comment", {}).get("op") == "add",
          str(v))
    st, v = get("/api/patches/%d/diff?a=2" % P)
    check("a diff to the head", st == 200 and v["b"] == 3 and
          [(c["path"], c.get("old"), c.get("new")) for c in v["changes"]] ==
          [("params/amp", None, {"pan": 0.5}), ("params/filter/cutoff", 1200, 900)], str(v))

    # ---- the rules of changes ----------------------------------------------------------
    st, v = req("POST", "/api/patches/%d/preview" % P, {"Origin": ORIGIN, "Content-Type": "application/json"},
                json.dumps({"op": "revert", "to": 1}))
    check("a preview without the token: 401", st == 401, "%d %s" % (st, v))
    st, v = req("POST", "/api/patches/%d/apply" % P, {"Cookie": "shelf=" + TOKEN, "Origin": ORIGIN,
                                                    "Content-Type": "application/json"},
                json.dumps({"preview": "0" * 32, "expect": 3}))
    check("an apply with the cookie only: 403", st == 403, "%d %s" % (st, v))
    st, v = post("/api/patches/%d/apply" % P, {"preview": "0" * 32, "expect": 3},
                 dict(MUT, Origin="http://evil.example"))
    check("an apply from another origin: 403", st == 403, "%d %s" % (st, v))
    st, v = post("/api/patches/%d/apply" % P, {"preview": "0" * 32, "expect": 3},
                 dict(MUT, **{"Content-Type": "text/plain"}))
    check("an apply that is not JSON: 415", st == 415, "%d %s" % (st, v))
    st, v = req("GET", "/api/patches/%d/apply" % P, {"X-Shelf-Token": TOKEN})
    check("GET on apply: 405", st == 405, "%d %s" % (st, v))
    st, v = post("/api/patches", {})
    check("POST on the list: 405", st == 405, "%d %s" % (st, v))
    for body, what in [({"op": "rename"}, "an unknown op"), ({"op": "revert"}, "revert without 'to'"),
                       ({"op": "revert", "to": "2"}, "a version as text"), ([1], "not an object")]:
        st, v = post("/api/patches/%d/preview" % P, body)
        check("preview, %s: 400" % what, st == 400 and "error" in v, "%d %s" % (st, v))
    st, v = get("/api/patches/%d/history" % P)
    check("nothing changed by refused requests", st == 200 and v["head"] == 3, str(v))

    # ---- revert: a preview, then its apply -------------------------------------------------
    st, pv = post("/api/patches/%d/preview" % P, {"op": "revert", "to": 2})
    check("revert preview", st == 200 and len(pv.get("preview") or "") == 32 and pv["expect"] == 3 and
          pv["to"] == 2 and [c["path"] for c in pv["changes"]] == ["params/amp", "params/filter/cutoff"], str(pv))
    st, v = get("/api/patches/%d/history" % P)
    check("a preview changes nothing", v["head"] == 3 and len(v["versions"]) == 3, str(v))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 2})
    check("apply with another expected version: 409", st == 409 and v.get("head") == 3, "%d %s" % (st, v))
    st, pv = post("/api/patches/%d/preview" % P, {"op": "revert", "to": 2})
    st, v = post("/api/projects/%d/apply" % J, {"preview": pv["preview"], "expect": 3})
    check("apply of another item's preview: 409", st == 409, "%d %s" % (st, v))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 3})
    check("revert applied", st == 200 and v["version"] == 4 and v["changed"] is True and v["head"] == 4, str(v))
    st, d2 = get("/api/patches/%d?version=2" % P)
    st, d4 = get("/api/patches/%d" % P)
    check("the head equals the version reverted to", d4["document"] == d2["document"] and d4["version"] == 4,
          "%s %s" % (d2, d4))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 3})
    check("a preview is used once: 409", st == 409 and v["head"] == 4, "%d %s" % (st, v))
    st, v = post("/api/patches/%d/apply" % P, {"preview": "f" * 32, "expect": 4})
    check("an unknown preview: 409", st == 409 and v["head"] == 4, "%d %s" % (st, v))

    # ---- stale: the head moves between the preview and its apply --------------------------
    st, pv = post("/api/patches/%d/preview" % P, {"op": "revert", "to": 1})
    shelf("patch", "set", str(P), "params/amp/pan=0.25", "-m", "another window")
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": pv["expect"]})
    check("stale apply: 409 with the head now", st == 409 and v.get("head") == 5 and "changed" in v["error"],
          "%d %s" % (st, v))
    st, v = get("/api/patches/%d" % P)
    check("a stale apply changes nothing", v["version"] == 5 and v["document"]["params"]["amp"]["pan"] == 0.25,
          str(v))

    # ---- undo ----------------------------------------------------------------------------------
    st, pv = post("/api/patches/%d/preview" % P, {"op": "undo"})
    check("undo preview names the change", st == 200 and pv["undoes"] == 5 and "another window" in pv["what"] and
          [(c["path"], c.get("old"), c.get("new")) for c in pv["changes"]] == [("params/amp", {"pan": 0.25}, None)],
          str(pv))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 5})
    check("undo applied", st == 200 and v["version"] == 6, str(v))
    st, h = get("/api/patches/%d/history" % P)
    check("the undo version says what it undid", h["versions"][0]["undoes"] == 5 and
          h["versions"][0]["message"].startswith("undo 5"), str(h["versions"][0]))
    st, pv = post("/api/patches/%d/preview" % P, {"op": "undo"})
    check("undo again goes further back", st == 200 and pv["undoes"] == 4, str(pv))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 6})
    st, d = get("/api/patches/%d" % P)
    check("two undos: back at version 3", d["document"]["params"]["filter"]["cutoff"] == 900 and
          d["document"]["params"]["amp"]["pan"] == 0.5, str(d))
    st, v = post("/api/patches/%d/preview" % (P + 1), {"op": "undo"})
    check("nothing to undo: 400", st == 400 and "nothing to undo" in v["error"], "%d %s" % (st, v))

    # ---- merge with conflicts ----------------------------------------------------------------
    # The main line changes the comment (version 8); a branch from version 2
    # changes the cutoff and the comment otherwise (version 9, the head).
    shelf("patch", "set", str(P), "comment=main ✓", "-m", "main line")
    doc2 = json.loads(shelf("--json", "patch", "show", "%d@2" % P))
    doc2["params"]["filter"]["cutoff"] = 3000
    doc2["comment"] = "théirs 🎸"
    with open(os.path.join(T, "branch.json"), "w") as f:
        json.dump(doc2, f)
    shelf("patch", "edit", "%d@2" % P, "--file", os.path.join(T, "branch.json"), "-m", "branch 枝")
    st, h = get("/api/patches/%d/history" % P)
    check("the branch is the head", h["head"] == 9 and h["versions"][0]["parent"] == 2, str(h["versions"][0]))
    st, pv = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8})
    cs = {c["path"]: c for c in pv.get("conflicts", [])} if st == 200 else {}
    check("merge preview: the conflicts with base, ours, theirs", st == 200 and pv["preview"] is None and
          pv["base"] == 2 and pv["other"] == 8 and pv["expect"] == 9 and pv["unresolved"] == 2 and
          cs.get("params/filter/cutoff") == {"path": "params/filter/cutoff", "base": 1200, "ours": 3000,
                                             "theirs": 900, "resolved": False} and
          cs.get("comment", {}).get("ours") == "théirs 🎸" and cs.get("comment", {}).get("theirs") == "main ✓",
          str(pv))
    st, v = post("/api/patches/%d/apply" % P, {"preview": None, "expect": 9})
    check("apply without a preview: 400", st == 400, "%d %s" % (st, v))
    st, v = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8,
                                                 "resolve": [{"path": "params/nope", "take": "ours"}]})
    check("a resolution of a path without a conflict: 400", st == 400 and "params/nope" in v["error"],
          "%d %s" % (st, v))
    st, v = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8,
                                                 "resolve": [{"path": "comment", "take": "sideways"}]})
    check("a resolution that is not one: 400", st == 400, "%d %s" % (st, v))
    MIX = "mix ✓ 鼓 🥁 ça"
    resolve = [{"path": "params/filter/cutoff", "take": "theirs"}, {"path": "comment", "take": "value", "value": MIX}]
    st, pv = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8, "resolve": resolve[:1]})
    check("one of two resolved: no preview to apply yet", st == 200 and pv["preview"] is None and
          pv["unresolved"] == 1, str(pv))
    st, pv = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8, "resolve": resolve})
    ch = {c["path"]: c for c in pv.get("changes") or []} if st == 200 else {}
    check("all resolved: the preview of the result", st == 200 and len(pv["preview"] or "") == 32 and
          pv["unresolved"] == 0 and ch.get("comment", {}).get("new") == MIX and
          ch.get("params/filter/cutoff", {}).get("new") == 900 and ch.get("params/amp", {}).get("op") == "add",
          str(pv))
    st, v = get("/api/patches/%d/history" % P)
    check("a merge preview changes nothing", v["head"] == 9, str(v["head"]))
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv["preview"], "expect": 9, "message": "merged ☯"})
    check("merge applied", st == 200 and v["version"] == 10 and v["changed"] is True, "%d %s" % (st, v))
    st, h = get("/api/patches/%d/history" % P)
    top = h["versions"][0]
    check("the merge has two parents and the message", top["version"] == 10 and top["parent"] == 9 and
          top["parent2"] == 8 and top["message"] == "merged ☯", str(top))
    st, d = get("/api/patches/%d" % P)
    check("the merged document", d["document"]["comment"] == MIX and
          d["document"]["params"]["filter"]["cutoff"] == 900 and d["document"]["params"]["amp"]["pan"] == 0.5,
          str(d))
    st, v = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 8})
    check("merging again: nothing to merge, 400", st == 400, "%d %s" % (st, v))

    # A merge preview gone stale.
    shelf("patch", "edit", "%d@10" % P, "--file", os.path.join(T, "branch.json"), "-m", "again")    # 11
    doc2["comment"] = "x"
    doc2["params"]["filter"]["cutoff"] = 1
    with open(os.path.join(T, "branch2.json"), "w") as f:
        json.dump(doc2, f)
    shelf("patch", "edit", "%d@10" % P, "--file", os.path.join(T, "branch2.json"), "-m", "x")      # 12, head
    st, pv = post("/api/patches/%d/preview" % P, {"op": "merge", "other": 11,
                                                  "resolve": [{"path": "comment", "take": "ours"},
                                                              {"path": "params/filter/cutoff", "take": "ours"}]})
    ready = st == 200 and pv["preview"] is not None
    shelf("patch", "set", "%d" % P, "rating=3", "-m", "meanwhile")
    st, v = post("/api/patches/%d/apply" % P, {"preview": pv.get("preview"), "expect": pv.get("expect")})
    check("stale merge apply: 409", ready and st == 409 and v["head"] == 13, "%s %d %s" % (pv, st, v))

    # ---- projects revert too -------------------------------------------------------------------
    st, pv = post("/api/projects/%d/preview" % J, {"op": "revert", "to": 1})
    st, v = post("/api/projects/%d/apply" % J, {"preview": pv["preview"], "expect": pv["expect"]})
    st, d = get("/api/projects/%d" % J)
    check("a project reverted", d["document"]["tempo"] == 120 and d["version"] == 3, str(d))

    # ---- a clean stop (under the sanitizers: no leak, no error) -----------------------------
    rc, err = srv.stop()
    check("SIGTERM: exit 0, nothing on standard error but 'stopped'", rc == 0 and
          err.strip() == "shelf serve: stopped", "%d %r" % (rc, err[-2000:]))
except Exception as e:          # noqa: BLE001  (reported, then the server is stopped)
    fail("the API session", repr(e))
finally:
    kill_all()

finish()

#!/usr/bin/env python3
"""test_serve_dupes.py: duplicates and sync conflicts in the API of `shelf
serve`, with Python's standard library only.  Run by test_serve_dupes.sh
with the library and its samples folder, after it made them (ids in the
environment): the groups of each kind, a fold and what it moved, the
refusals (not a duplicate 400, an audio duplicate a patch uses 409, gone
404, bad bodies 400, no token 401, another Origin 403) and the open sync
conflict.
"""
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, check, finish, kill_all  # noqa: E402

SHELF = os.environ["SHELF"]
LIB, S = sys.argv[1], sys.argv[2]
H1, H2 = int(os.environ["SHELF_DUPES_H1"]), int(os.environ["SHELF_DUPES_H2"])
K1 = int(os.environ["SHELF_DUPES_K1"])
PATCH = int(os.environ["SHELF_DUPES_PATCH"])

try:
    srv = Server(SHELF, LIB)
    get, post = srv.get, srv.post

    st, v = get("/api/dupes")
    groups = v.get("groups", []) if st == 200 else []
    check("identical files by default", st == 200 and v["kinds"] == {"bytes": True, "audio": False, "name": False}
          and v["total"] == 2 and not v["truncated"] and [g["kind"] for g in groups] == ["bytes", "bytes"], str(v))
    names = sorted(it["name"] for g in groups for it in g["items"])
    check("every copy named as it is", names == sorted(["Kick Café 鼓 🥁", "line\nbreak", "%FFraw kick",
                                                        "hat", "hat Ünï"]), str(names))
    check("each with its root", all(it["root"].rstrip("/") == S.rstrip("/") for g in groups for it in g["items"]),
          str(groups))
    st, v = get("/api/dupes?kinds=" + urllib.parse.quote("bytes,audio,name"))
    kinds = [g["kind"] for g in v.get("groups", [])] if st == 200 else []
    check("all three kinds", st == 200 and kinds == ["bytes", "bytes", "audio", "name"] and v["total"] == 4,
          "%d %s" % (st, v))
    audio = [g for g in v.get("groups", []) if g["kind"] == "audio"]
    pads = audio[0]["items"] if audio else []
    check("the pad as WAV and FLAC", sorted(it["format"] for it in pads) == ["FLAC", "WAV"], str(pads))
    st, v = get("/api/dupes?kinds=name")
    check("names alone", st == 200 and [len(g["items"]) for g in v["groups"]] == [2] and
          v["groups"][0]["items"][0]["name"] == "Snare", str(v))
    for bad in ["bytes,", "sound", "bytes,,name", "BYTES"]:
        st, v = get("/api/dupes?kinds=" + urllib.parse.quote(bad))
        check("kinds=%s: 400" % bad, st == 400 and "kinds" in v.get("error", ""), "%d %s" % (st, v))

    # ---- folding ----
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [H2]}, {"X-Shelf-Token": srv.token})
    check("a fold without Origin: 403", st == 403, "%d %s" % (st, v))
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [H2]},
                 {"Origin": srv.origin, "Content-Type": "application/json"})
    check("a fold without the token: 401 or 403", st in (401, 403), "%d %s" % (st, v))
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [H2]},
                 dict(srv.mut, Origin="http://evil.example"))
    check("a fold from another Origin: 403", st == 403, "%d %s" % (st, v))
    st, v = get("/api/dupes/fold")
    check("GET on fold: 405", st == 405, "%d %s" % (st, v))
    for body, why in [({"keep": H1}, "no drop"), ({"keep": H1, "drop": []}, "empty drop"),
                      ({"keep": "1", "drop": [H2]}, "keep a string"), ({"keep": H1, "drop": [0]}, "id 0"),
                      ({"keep": H1, "drop": ["x"]}, "drop of strings"), ("[1,2]", "not an object"),
                      ('{"keep":1,"keep":2,"drop":[3]}', "a duplicate key")]:
        st, v = post("/api/dupes/fold", body)
        check("fold, %s: 400" % why, st == 400 and "error" in v, "%d %s" % (st, v))
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [K1]})
    check("not a duplicate: 400 naming both", st == 400 and ("sample %d is no duplicate of %d" % (K1, H1))
          in v.get("error", ""), "%d %s" % (st, v))
    wav = [it["id"] for it in pads if it["format"] == "WAV"]
    flac = [it["id"] for it in pads if it["format"] == "FLAC"]
    if wav and flac:
        st, v = post("/api/dupes/fold", {"keep": wav[0], "drop": [flac[0]]})
        check("an audio duplicate a patch uses: 409", st == 409 and "used by" in v.get("error", ""),
              "%d %s" % (st, v))
        st, v = get("/api/samples/%d" % flac[0])
        check("and it is still there", st == 200, "%d %s" % (st, v))
    st, v = post("/api/samples/%d/tags" % H2, {"add": ["bright", "ハイハット"]})
    st2, _ = post("/api/samples/%d/rating" % H2, {"rating": 5})
    st3, _ = post("/api/samples/%d/favourite" % H2, {"on": True})
    check("the copy tagged, rated, made a favourite", (st, st2, st3) == (200, 200, 200), str(v))
    st, v = get("/api/search?q=" + urllib.parse.quote("tag:bright"))
    check("search finds the copy", st == 200 and [i["id"] for i in v["items"]] == [H2], str(v))
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [H2, H2]})
    check("the fold", st == 200 and v["folded"] == 1 and v["tags"] == 2 and v["links"] == 0 and
          v["keep"]["id"] == H1, "%d %s" % (st, v))
    keep = v.get("keep", {}) if st == 200 else {}
    check("the one kept has the tags, rating and favourite", sorted(keep.get("tags", [])) == ["bright", "ハイハット"]
          and keep.get("rating") == 5 and keep.get("favourite") is True, str(keep))
    st, v = get("/api/samples/%d" % H2)
    check("the copy is gone: 404", st == 404, "%d %s" % (st, v))
    st, v = get("/api/search?q=" + urllib.parse.quote("tag:bright"))
    check("the next search sees the fold", st == 200 and [i["id"] for i in v["items"]] == [H1], str(v))
    check("the copy's file stays", os.path.exists(os.path.join(S, "copy", "hat Ünï.wav")))
    st, v = post("/api/dupes/fold", {"keep": H1, "drop": [H2]})
    check("folding it again: 404", st == 404 and "no sample with id %d" % H2 in v.get("error", ""),
          "%d %s" % (st, v))
    st, v = get("/api/dupes")
    check("one group left", st == 200 and v["total"] == 1 and len(v["groups"][0]["items"]) == 3, str(v))

    # ---- sync conflicts ----
    st, v = get("/api/conflicts")
    cs = v.get("conflicts", []) if st == 200 else []
    check("the open sync conflict", len(cs) == 1 and cs[0]["kind"] == "patch" and cs[0]["id"] == PATCH and
          cs[0]["name"] == "Pad é 🎹 鼓 warm" and cs[0]["head"] != cs[0]["other"] and
          len(cs[0]["head_vid"]) == 64 and cs[0]["since"] > 0, "%d %s" % (st, v))
    st, v = post("/api/conflicts", {})
    check("POST on conflicts: 405", st == 405, "%d %s" % (st, v))
    st, v = srv.req("GET", "/api/conflicts")
    check("conflicts without the token: 401", st == 401, "%d %s" % (st, v))
    rc, err = srv.stop()
    check("SIGTERM: exit 0, nothing on standard error but 'stopped'", rc == 0 and
          err.strip() == "shelf serve: stopped", "%d %r" % (rc, err[-2000:]))
finally:
    kill_all()
finish()

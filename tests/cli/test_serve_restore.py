#!/usr/bin/env python3
"""test_serve_restore.py: restore in the API of `shelf serve`, with Python's
standard library only.  Run by test_serve_restore.sh, which passes its temp
folder.

It makes a library of samples whose names hold accents, CJK, emoji, spaces,
a newline and bytes that are not UTF-8, and a patch; backs it up with the
program into a plain repository (given with --repo) and an encrypted one
(named by a backup schedule, its password known to nobody but the test);
then changes the library: three files edited on disk, six deleted, the
patch edited.  It starts `shelf serve` and checks the repositories, the
snapshots, a snapshot's items and their word filter, a preview with exact
counts, the rules of an apply (401, 403, 415, 400, 409 for a stale plan, a
wrong expect, a preview used or unknown), the apply with one conflict
overwritten, one kept both and one skipped (the patch by "all"), the job's
progress to done, the files by their SHA-256 and the catalog after it (a
second item for the one kept both, found by a search of the serving
handle's index), the audit log, the encrypted repository opened with a
password given through the page (a restore from it run by the worker),
and that the password appears in no answer and no log line.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, check, fail, finish, kill_all, ok  # noqa: E402

SHELF = os.environ["SHELF"]
TG = os.environ["SHELF_TG"]
T = sys.argv[1]
PASSWORD = "Pässwörd 秘密 🔑 %s" % os.getpid()
ENV = {k: v for k, v in os.environ.items() if k not in ("SHELF_PASSWORD", "SHELF_REPOSITORY",
                                                         "SHELF_DST_PASSWORD")}

lib = os.path.join(T, "lib").encode()
src = os.path.join(T, "src").encode()
PLAIN = os.path.join(T, "plain repo")
ENC = os.path.join(T, "enc repo 🔒")


def shelf(*args, env=None):
    """Run the program on the test's library; its standard output as text."""
    argv = [SHELF.encode(), b"-L", lib] + [a if isinstance(a, bytes) else a.encode() for a in args]
    r = subprocess.run(argv, capture_output=True, timeout=300, env=env or ENV)
    if r.returncode != 0:
        raise RuntimeError("shelf %r: %d %s" % (args, r.returncode, r.stderr.decode("utf-8", "replace")))
    return r.stdout.decode()


def tg(seed, path):
    subprocess.run([TG.encode(), b"--seed", str(seed).encode(), b"--frames", b"20000", path], check=True)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fid(n):
    """The id of the sample imported from file n (bytes, under src)."""
    return ids[os.path.splitext(os.path.basename(n))[0]]


def unescape(text):
    """A name's text back to its bytes (doc/formats.md, names that are not UTF-8)."""
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode())


# ---- the library, its backups, then changes -------------------------------------------------

os.makedirs(os.path.join(src, b"dossier \xc3\xa9"))
ODD = [b"dossier \xc3\xa9/caf\xc3\xa9.wav", "鼓 キック.wav".encode(), "🥁 emoji.wav".encode(),
       b"two words.wav", b"new\nline.wav", b"bad\xff\xfe.wav"]
CONFLICTS = [b"ow.wav", b"kb.wav", b"sk.wav"]
ALL = ODD + CONFLICTS + [b"keep.wav"]
for i, n in enumerate(ALL):
    tg(i + 1, os.path.join(src, n))
orig = {n: sha(os.path.join(src, n)) for n in ALL}
shelf("init")
shelf("import", src)
rows = json.loads(shelf("--json", "ls"))
ids = {unescape(r["name"]): r["id"] for r in rows}
check("imported every file", len(rows) == len(ALL), str(rows))
PATCH_NAME = "Café 鼓 🥁 pad"
P = json.loads(shelf("--json", "patch", "new", PATCH_NAME))["id"]
OW, KB, SK, KEEP = ids[b"ow"], ids[b"kb"], ids[b"sk"], ids[b"keep"]
shelf("backup", "init", "--no-encryption", PLAIN)
shelf("backup", PLAIN)
shelf("backup", "init", "--kdf-cost", "10", ENC, env=dict(ENV, SHELF_PASSWORD=PASSWORD))
shelf("backup", ENC, env=dict(ENV, SHELF_PASSWORD=PASSWORD))
shelf("schedule", "add", "backup", "daily", "--target", ENC, "--name", "nightly")
for i, n in enumerate(CONFLICTS):
    tg(100 + i, os.path.join(src, n))
edited = {n: sha(os.path.join(src, n)) for n in CONFLICTS}
for n in ODD:
    os.unlink(os.path.join(src, n))
shelf("patch", "set", str(P), "comment=edited after the backup", "-m", "later")
ODD_NAMES = {os.path.splitext(os.path.basename(n))[0] for n in ODD}
ODD_IDS = {ids[n] for n in ODD_NAMES}


try:
    api = Server(SHELF, lib, "-v", "--repo", PLAIN, env=ENV)
    PORT, TOKEN, HOST, ORIGIN, MUT = api.port, api.token, api.host, api.origin, api.mut
    req, get, post = api.req, api.get, api.post

    def q(s):
        return urllib.parse.quote(s)

    # ---- repositories and snapshots -------------------------------------------------------
    st, v = get("/api/restore/repos")
    repos = v["repos"] if st == 200 else []
    check("two repositories: --repo and the schedule's", len(repos) == 2 and
          repos[0]["target"] == PLAIN and repos[0]["source"] == "--repo" and repos[0]["open"] is True and
          repos[0]["encrypted"] is False and repos[1]["target"] == ENC and repos[1]["source"] == "schedule nightly",
          str(v))
    check("the encrypted one waits for a password", len(repos) == 2 and repos[1]["password"] is True and
          repos[1]["open"] is False, str(repos))
    st, v = get("/api/restore/repos/1/snapshots")
    snaps = v["snapshots"] if st == 200 else []
    check("the snapshot listed with date, size and contents", len(snaps) == 1 and len(snaps[0]["id"]) == 64 and
          snaps[0]["time"] > 1.7e9 and snaps[0]["bytes"] > 0 and snaps[0]["items"] > len(ALL) and
          snaps[0]["strategy"] == "incremental" and snaps[0]["host"] and snaps[0]["damaged"] is False, str(v))
    SNAP = snaps[0]["id"] if snaps else "0" * 64

    # ---- browse a snapshot -------------------------------------------------------------------
    st, v = get("/api/restore/repos/1/snapshots/%s/items" % SNAP[:12])
    items = v["items"] if st == 200 else []
    by = {(i["kind"], i["id"]): i for i in items}
    check("browse: every sample and the patch, with sizes", st == 200 and v["snapshot"] == SNAP and
          v["contents"]["samples"] == len(ALL) and v["contents"]["patches"] == 1 and
          v["contents"]["projects"] == 0 and v["total"] == len(ALL) + 1 and
          all(by.get(("sample", fid(n)), {}).get("size", 0) > 1000
              for n in ALL), str(v)[:2000])
    check("browse: names with accents, CJK, emoji, spaces, a newline and bytes that are not UTF-8",
          {unescape(by[("sample", i)]["name"]) for i in ODD_IDS if ("sample", i) in by} == ODD_NAMES and
          all(unescape(by[("sample", fid(n))]["path"]) ==
              os.path.join(src, n) for n in ODD), str(items)[:2000])
    check("browse: what a restore would do to each now",
          all(by[("sample", i)]["action"] == "create" and by[("sample", i)]["conflict"] is False for i in ODD_IDS) and
          all(by[("sample", i)]["conflict"] is True and by[("sample", i)]["detail"].startswith("conflict:")
              for i in (OW, KB, SK)) and by[("sample", KEEP)]["action"] == "same" and
          by[("patch", P)]["conflict"] is True and by[("patch", P)]["name"] == PATCH_NAME, str(items)[:2000])
    for word, want in [("cafe", {("sample", ids["café".encode()]), ("patch", P)}), ("キック", {("sample", ids["鼓 キック".encode()])}),
                       ("🥁 emoji", {("sample", ids["🥁 emoji".encode()])}), ("new line", {("sample", ids["new\nline".encode()])}),
                       ("nothing-like-it", set())]:
        st, v = get("/api/restore/repos/1/snapshots/%s/items?q=%s" % (SNAP, q(word)))
        check("browse filter %r" % word, st == 200 and {(i["kind"], i["id"]) for i in v["items"]} == want and
              v["total"] == len(want) and v["q"] == word, "%d %s" % (st, str(v)[:1000]))

    # ---- bad ids and paths --------------------------------------------------------------------
    for path, want in [("/api/restore/repos/0/snapshots", 404), ("/api/restore/repos/9/snapshots", 404),
                       ("/api/restore/repos/x/snapshots", 404), ("/api/restore/repos/1/snapshots/zz/items", 400),
                       ("/api/restore/repos/1/snapshots/abcdef12/items", 404),
                       ("/api/restore/repos/1/snapshots/%s/nope" % SNAP, 404), ("/api/restore/nope", 404),
                       ("/api/audit?limit=0", 400), ("/api/audit?limit=x", 400)]:
        st, v = get(path)
        check("GET %s: %d" % (path, want), st == want and "error" in (v or {}), "%d %s" % (st, v))
    st, v = req("POST", "/api/restore/repos", MUT, "{}")
    check("POST on the list of repositories: 405", st == 405, "%d %s" % (st, v))
    st, v = get("/api/restore/apply")
    check("GET on apply: 405", st == 405, "%d %s" % (st, v))
    for body, what, want in [({"repo": 1, "snapshot": SNAP, "items": ["sample:abc"]}, "an item that is no id", 400),
                             ({"repo": 1, "snapshot": SNAP, "items": ["sample:0"]}, "item 0", 400),
                             ({"repo": 1, "snapshot": SNAP, "items": ["tune:3"]}, "an unknown kind", 400),
                             ({"repo": 1, "snapshot": SNAP, "items": "sample:3"}, "items not a list", 400),
                             ({"repo": "1", "snapshot": SNAP}, "repo as text", 400),
                             ({"repo": 9, "snapshot": SNAP}, "an unknown repository", 404),
                             ({"repo": 1, "snapshot": "../x"}, "a snapshot that is no id", 400),
                             ({"repo": 1, "snapshot": "abcdef12"}, "an unknown snapshot", 404)]:
        st, v = post("/api/restore/preview", body)
        check("preview, %s: %d" % (what, want), st == want and "error" in v, "%d %s" % (st, v))

    # ---- preview: exact counts ----------------------------------------------------------------
    CHOSEN = ["sample:%d" % fid(n) for n in ALL] + ["patch:%d" % P]
    size = {i["item"]: i["size"] for i in items}

    def preview():
        st, v = post("/api/restore/preview", {"repo": 1, "snapshot": SNAP, "items": CHOSEN})
        if st != 200:
            raise RuntimeError("preview: %d %s" % (st, v))
        return v

    pv = preview()
    c = pv["counts"]
    odd_bytes = sum(size["sample:%d" % i] for i in ODD_IDS)
    check("preview: counts exact", c["create"] == {"items": 6, "bytes": odd_bytes} and
          c["skip"] == {"items": 4, "bytes": sum(size["sample:%d" % i] for i in (OW, KB, SK))} and
          c["same"] == {"items": 1, "bytes": size["sample:%d" % KEEP]} and c["overwrite"]["items"] == 0 and
          c["keep-both"]["items"] == 0 and c["failed"]["items"] == 0 and pv["total"] == 11 and
          pv["conflicts"] == 4, str(c))
    check("preview: the conflicts named", sorted(pv["conflict_items"]) ==
          sorted(["sample:%d" % i for i in (OW, KB, SK)] + ["patch:%d" % P]) and len(pv["preview"]) == 32 and
          len(pv["expect"]) == 64 and pv["chosen"] == CHOSEN, str(pv)[:1000])
    check("a preview writes nothing", all(not os.path.exists(os.path.join(src, n)) for n in ODD) and
          sha(os.path.join(src, b"ow.wav")) == edited[b"ow.wav"], "")
    st, v = post("/api/restore/preview", {"repo": 1, "snapshot": "latest"})
    check("preview of the whole snapshot", st == 200 and v["chosen"] == [] and v["snapshot"] == SNAP and
          v["counts"]["create"]["items"] >= 6 and v["conflicts"] == 4, "%d %s" % (st, str(v)[:1000]))

    # ---- the rules of an apply ------------------------------------------------------------------
    CHOICES = {"sample:%d" % OW: "overwrite", "sample:%d" % KB: "keep-both", "sample:%d" % SK: "skip"}
    good = {"preview": pv["preview"], "expect": pv["expect"], "choices": CHOICES, "all": "overwrite"}
    st, v = req("POST", "/api/restore/apply", {"Origin": ORIGIN, "Content-Type": "application/json"},
                json.dumps(good))
    check("apply without the token: 401", st == 401, "%d %s" % (st, v))
    st, v = req("POST", "/api/restore/apply", MUT, json.dumps(good), host="evil.example:%d" % PORT)
    check("apply with a wrong Host: 403", st == 403 and v == {"error": "host not allowed"}, "%d %s" % (st, v))
    st, v = post("/api/restore/apply", good, dict(MUT, Origin="http://evil.example"))
    check("apply from another origin: 403", st == 403, "%d %s" % (st, v))
    st, v = req("POST", "/api/restore/apply", {"Cookie": "shelf=" + TOKEN, "Origin": ORIGIN,
                                               "Content-Type": "application/json"}, json.dumps(good))
    check("apply with the cookie only: 403", st == 403, "%d %s" % (st, v))
    st, v = post("/api/restore/apply", good, dict(MUT, **{"Content-Type": "text/plain"}))
    check("apply that is not JSON: 415", st == 415, "%d %s" % (st, v))
    for body, what in [(dict(good, choices={"sample:%d" % OW: "maybe"}), "a choice that is none"),
                       (dict(good, all="maybe"), "'all' that is none"),
                       ({"preview": pv["preview"]}, "no expect")]:
        st, v = post("/api/restore/apply", body)
        check("apply, %s: 400" % what, st == 400 and "error" in v, "%d %s" % (st, v))
    st, v = get("/api/audit")
    check("refused requests restored nothing", st == 200 and v["entries"] == [] and
          not os.path.exists(os.path.join(src, ODD[0])), str(v))
    # a conflict without a choice, a choice for what is no conflict: 400 (the preview is used)
    st, v = post("/api/restore/apply", dict(good, all=None))
    check("apply with a conflict left without a choice: 400", st == 400 and "patch:%d" % P in v["error"],
          "%d %s" % (st, v))
    st, v = post("/api/restore/apply", good)
    check("a preview is used once, whatever its apply answered: 409", st == 409 and v.get("stale") is True,
          "%d %s" % (st, v))
    pv = preview()
    st, v = post("/api/restore/apply", dict(good, preview=pv["preview"], expect=pv["expect"],
                                            choices=dict(CHOICES, **{"sample:%d" % KEEP: "overwrite"})))
    check("apply with a choice for an item that is no conflict: 400", st == 400, "%d %s" % (st, v))
    pv = preview()
    st, v = post("/api/restore/apply", dict(good, preview=pv["preview"], expect="0" * 64))
    check("apply with another expect: 409", st == 409 and v.get("stale") is True, "%d %s" % (st, v))
    st, v = post("/api/restore/apply", dict(good, preview="f" * 32, expect=pv["expect"]))
    check("apply of an unknown preview: 409", st == 409, "%d %s" % (st, v))
    # stale: the library changes in a way that matters to these items
    pv = preview()
    shelf("tag", "add", str(SK), "meanwhile")
    st, v = post("/api/restore/apply", dict(good, preview=pv["preview"], expect=pv["expect"]))
    check("stale apply (a tag on a conflicting sample since the preview): 409",
          st == 409 and v.get("stale") is True and "preview again" in v["error"], "%d %s" % (st, v))
    check("a stale apply restored nothing", not os.path.exists(os.path.join(src, ODD[0])) and
          get("/api/audit")[1]["entries"] == [], "")

    # ---- apply: one overwritten, one kept both, one skipped, the patch by "all" -----------------
    pv = preview()
    st, v = post("/api/restore/apply", dict(good, preview=pv["preview"], expect=pv["expect"]))
    check("apply: 202 with the job", st == 202 and len(v.get("job", "")) == 32 and v["total"] == 11,
          "%d %s" % (st, v))
    job = v.get("job")
    seen = []
    deadline = time.time() + 120
    while time.time() < deadline:
        st, jv = get("/api/restore/job")
        seen.append((jv.get("state"), jv.get("done")))
        if jv.get("state") != "running":
            break
        time.sleep(0.05)
    check("progress reaches done", jv.get("job") == job and jv["state"] == "done" and jv["done"] == jv["total"] == 11
          and jv["error"] is None and all(s in ("running", "done") for s, _ in seen), str(jv))
    check("the job's counts", jv["created"] == 6 and jv["overwritten"] == 2 and jv["kept_both"] == 1 and
          jv["skipped"] == 1 and jv["same"] == 1 and jv["failed"] == 0 and jv["failures"] == [] and
          jv["bytes"] == odd_bytes + size["sample:%d" % OW] + size["sample:%d" % KB], str(jv))
    check("each conflict answered as chosen", sorted((a["item"], a["choice"]) for a in jv["asked"]) ==
          sorted(list(CHOICES.items()) + [("patch:%d" % P, "overwrite")]), str(jv["asked"]))
    st, v = post("/api/restore/apply", dict(good, preview=pv["preview"], expect=pv["expect"]))
    check("the preview applied is used: 409", st == 409, "%d %s" % (st, v))

    # ---- the files and the catalog after it ----------------------------------------------------
    check("overwrite: the snapshot's bytes", sha(os.path.join(src, b"ow.wav")) == orig[b"ow.wav"], "")
    check("skip: the library's bytes", sha(os.path.join(src, b"sk.wav")) == edited[b"sk.wav"], "")
    kb2 = os.path.join(src, b"kb (restored 1).wav")
    check("keep both: the library's bytes and the snapshot's beside them",
          sha(os.path.join(src, b"kb.wav")) == edited[b"kb.wav"] and os.path.exists(kb2) and
          sha(kb2) == orig[b"kb.wav"], "")
    check("every odd name back, byte for byte", all(os.path.exists(os.path.join(src, n)) and
                                                    sha(os.path.join(src, n)) == orig[n] for n in ODD), "")
    rows = json.loads(shelf("--json", "ls"))
    names = [unescape(r["name"]) for r in rows]
    check("keep both made a second item", len(rows) == len(ALL) + 1 and b"kb (restored 1)" in names and
          b"kb" in names, str(names))
    st, v = get("/api/search?q=" + q("restored"))
    check("the serving handle's index sees the restored item", st == 200 and v["total"] == 1 and
          v["items"][0]["name"] == "kb (restored 1)", str(v)[:500])
    st, v = get("/api/search?q=" + q("キック"))
    check("and the ones restored in place", st == 200 and v["total"] == 1 and v["items"][0]["missing"] is False,
          str(v)[:500])
    st, v = get("/api/restore/repos/1/snapshots/%s/items" % SNAP)
    now = {(i["kind"], i["id"]): i for i in v.get("items", [])}
    check("a restore drops the kept browse: the items as they are now",
          st == 200 and now[("sample", OW)]["action"] == "same" and now[("sample", OW)]["conflict"] is False and
          all(now[("sample", i)]["action"] == "same" for i in ODD_IDS) and now[("sample", SK)]["conflict"] is True,
          str(v)[:1500])
    os.unlink(os.path.join(src, b"keep.wav"))
    st, v = get("/api/restore/repos/1/snapshots/%s/items?q=keep" % SNAP)
    check("a browse is kept a while: filtering it does not make the plan again",
          st == 200 and [i["action"] for i in v["items"]] == ["same"], str(v)[:500])
    shelf("import", src)        # keep.wav is missing from now on: nothing else to see
    st, v = get("/api/patches/%d" % P)
    check("the patch overwritten by 'all': a new version with the snapshot's document",
          st == 200 and v["version"] == 3 and "comment" not in v["document"], str(v)[:500])

    # ---- the audit log -----------------------------------------------------------------------------
    st, v = get("/api/audit")
    es = v["entries"] if st == 200 else []
    text = [e["detail"] for e in es]
    check("the audit log, newest first", len(es) == 10 and [e["id"] for e in es] == sorted(
        [e["id"] for e in es], reverse=True) and all(e["action"] == "restore" for e in es), str(v)[:2000])
    check("the audit log says what was done", any(t.startswith("overwrote sample %d " % OW) for t in text) and
          any(t.startswith("kept both of sample %d " % KB) for t in text) and
          any(t.startswith("skipped sample %d " % SK) for t in text) and
          any(t.startswith("overwrote patch %d " % P) for t in text) and
          sum(t.startswith("created sample ") for t in text) == 6, str(text))
    st, v = get("/api/audit?limit=2")
    check("the audit log's limit", st == 200 and [e["id"] for e in v["entries"]] == [e["id"] for e in es[:2]],
          str(v))

    # ---- the encrypted repository: its password through the page --------------------------------
    st, v = get("/api/restore/repos/2/snapshots")
    check("a repository without its password: 423", st == 423 and v.get("password") is True, "%d %s" % (st, v))
    st, v = post("/api/restore/repos/2/password", {"password": "wrong " + PASSWORD})
    check("a wrong password: 403", st == 403 and "password" in v["error"], "%d %s" % (st, v))
    st, v = req("POST", "/api/restore/repos/2/password", {"Origin": ORIGIN, "Content-Type": "application/json"},
                json.dumps({"password": PASSWORD}))
    check("a password without the token: 401", st == 401, "%d %s" % (st, v))
    st, v = post("/api/restore/repos/2/password", {"password": PASSWORD}, dict(MUT, Origin="http://evil.example"))
    check("a password from another origin: 403", st == 403, "%d %s" % (st, v))
    st, v = post("/api/restore/repos/2/password", {"password": 5})
    check("a password that is no string: 400", st == 400, "%d %s" % (st, v))
    st, v = post("/api/restore/repos/2/password", {"password": PASSWORD})
    check("the right password opens it", st == 200 and v["open"] is True and v["encrypted"] is True and
          v["password"] is False, "%d %s" % (st, v))
    st, v = get("/api/restore/repos/2/snapshots")
    check("its snapshots", st == 200 and len(v["snapshots"]) == 1, "%d %s" % (st, v))
    os.unlink(os.path.join(src, ODD[4]))
    st, pv = post("/api/restore/preview", {"repo": 2, "snapshot": "latest", "items": ["sample:%d" % ids["new\nline".encode()]]})
    check("a preview from the encrypted repository", st == 200 and pv["counts"]["create"]["items"] == 1 and
          pv["conflicts"] == 0, "%d %s" % (st, pv))
    st, v = post("/api/restore/apply", {"preview": pv.get("preview"), "expect": pv.get("expect"), "choices": {}})
    deadline = time.time() + 120
    while st == 202 and time.time() < deadline:
        jst, jv = get("/api/restore/job")
        if jv.get("state") != "running":
            break
        time.sleep(0.05)
    check("the worker restores from it with the page's password", st == 202 and jv["state"] == "done" and
          jv["created"] == 1 and jv["repo"] == 2 and sha(os.path.join(src, ODD[4])) == orig[ODD[4]], "%d %s" % (st, jv))

    # ---- a clean stop; the password in no answer and no log line -----------------------------------
    rc, err = api.stop()
    lines = err.strip().split("\n")
    check("SIGTERM: exit 0, nothing on standard error but the request lines and 'stopped'",
          rc == 0 and lines[-1] == "shelf serve: stopped" and
          all(x.startswith("shelf serve: ") for x in lines), "%d %r" % (rc, err[-3000:]))
    pw = PASSWORD.encode()
    check("the password is in no answer (%d looked at)" % len(api.seen),
          not any(pw in b or json.dumps(PASSWORD).encode() in b for b in api.seen), "")
    check("the password is in no log line", PASSWORD not in err and "Pässwörd" not in err, "")
except Exception as e:          # noqa: BLE001  (reported, then the server is stopped)
    fail("the API session", repr(e))
finally:
    kill_all()

finish()

# test_archive.sh: shelf archive export/verify/import and export-media.
# Round trips into a fresh library for tar, tar.zst and zip (every hash
# equal, version histories intact); bsdtar, unzip and par2 read what we
# write; damage is found, repaired from parity (by us and by par2), and a
# damaged archive without enough parity is refused; conflicts; and a set of
# hostile archives written here with python3 (tarfile, zipfile), each
# refused with its message and nothing written outside the staging folder.
. "$(dirname "$0")/lib.sh"

for tool in bsdtar unzip par2 python3; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool not installed (scripts/install-deps)"; exit 77; }
done

S="$T/s"
mkdir -p "$S/kit"
for i in 1 2 3; do "$SHELF_TG" --seed "$i" "$S/kit/hit$i.wav"; done
"$SHELF_TG" --seed 9 "$S/kit/Lone Pad.wav"
cat > "$S/kit/kit.sfz" <<'EOF'
<region> sample=hit1.wav lokey=36 hikey=36
<region> sample=hit2.wav lokey=38 hikey=38
EOF
expect 0 "init" "$SHELF" init
expect 0 "import samples" "$SHELF" import "$S"
expect 0 "patch import" "$SHELF" --json patch import "$S/kit/kit.sfz"
P=$(json 'j[0]["id"]')
expect 0 "patch edit" "$SHELF" patch set "$P" params/volume=-3 -m "quieter"
expect 0 "project" "$SHELF" --json project new "Live"
expect 0 "project uses the patch and a sample" "$SHELF" project add 1 "patch:$P" "$S/kit/hit3.wav"
expect 0 "tag" "$SHELF" tag add "$S/kit/hit3.wav" crunchy
expect 0 "rate" "$SHELF" rate "$S/kit/hit3.wav" 4
expect 0 "patch history" "$SHELF" --json patch history "$P"
PHIST=$(json '",".join(v["hash"] for v in j)')

A="$T/a"
mkdir -p "$A"
for ext in tar tar.zst zip; do
    arc="$A/live.$ext"
    expect 0 "$ext: export with parity" "$SHELF" archive export --project 1 "$arc" --parity 10
    contains "$ext: summary" "$out" "3 samples, 1 patches, 1 projects"
    check "$ext: parity files" -f "$arc.par2"
    expect 0 "$ext: bsdtar reads it" bsdtar -tf "$arc"
    contains "$ext: one bag folder with bagit.txt" "$out" "live/bagit.txt"
    contains "$ext: manifests" "$out" "live/manifest-sha512.txt"
    if [ "$ext" = zip ]; then
        expect 0 "zip: unzip -t" unzip -t "$arc"
        contains "zip: no errors" "$out" "No errors detected"
    fi
    expect 0 "$ext: par2 verify" par2 verify "$arc.par2"
    expect 0 "$ext: shelf verify" "$SHELF" archive verify "$arc"
    contains "$ext: intact" "$out" "intact: 8 files"

    # Into a fresh library: every hash equal, histories intact.
    L2="$T/lib-$ext"
    "$SHELF" -L "$L2" init >/dev/null
    expect 0 "$ext: import into a fresh library" "$SHELF" -L "$L2" archive import "$arc"
    contains "$ext: created" "$out" "5 created"
    expect 0 "$ext: samples there" "$SHELF" -L "$L2" --json ls
    check "$ext: three samples" "$(json 'len(j)')" = 3
    check "$ext: all managed" "$(json 'all(s["blob"] == s["sha256"] for s in j)')" = True
    SRC=$("$SHELF" --json ls | python3 -c 'import json,sys; print(sorted(s["sha256"] for s in json.load(sys.stdin) if s["name"] != "Lone Pad"))')
    check "$ext: same sample hashes" "$(json 'sorted(s["sha256"] for s in j)')" = "$SRC"
    check "$ext: tags and rating kept" "$(json '[(s["tags"], s["rating"]) for s in j if s["name"] == "hit3"][0]')" = "(['crunchy'], 4)"
    expect 0 "$ext: patch history" "$SHELF" -L "$L2" --json patch history 1
    check "$ext: patch history intact" "$(json '",".join(v["hash"] for v in j)')" = "$PHIST"
    expect 0 "$ext: project" "$SHELF" -L "$L2" --json refs project:1
    check "$ext: project linked to the patch and sample" "$(json 'sorted(r["kind"] for r in j if r["relation"] == "uses")')" = "['patch', 'sample']"
    check "$ext: staging removed" -z "$(ls -A "$L2" | grep archive-)"
done

# Conflicts on a second import; a preview changes nothing.
L2="$T/lib-zip"
expect 0 "preview" "$SHELF" -L "$L2" --json archive import --preview --on-conflict keep-both "$A/live.zip"
check "preview plans keep-both" "$(json 'j["kept_both"]')" = 3
expect 0 "preview wrote nothing" "$SHELF" -L "$L2" --json ls
check "still three samples" "$(json 'len(j)')" = 3
expect 0 "skip by default" "$SHELF" -L "$L2" --json archive import "$A/live.zip"
check "samples skipped" "$(json 'j["skipped"]')" = 3
expect 0 "keep both" "$SHELF" -L "$L2" --json archive import --on-conflict keep-both "$A/live.zip"
expect 0 "now six samples" "$SHELF" -L "$L2" --json ls
check "six samples" "$(json 'len(j)')" = 6
expect 2 "bad policy" "$SHELF" -L "$L2" archive import --on-conflict maybe "$A/live.zip"
check "audit log rows" "$(sqlite3 "$L2/shelf.db" "SELECT count(*) FROM audit_log WHERE action = 'archive-import'")" -ge 10

# Damage: found exactly, repaired from parity by us and by par2.
cp "$A/live.tar" "$T/orig.tar"
python3 - "$A/live.tar" <<'EOF'
import sys
f = open(sys.argv[1], 'r+b'); f.seek(3000); f.write(b'\xff' * 40); f.close()
EOF
expect 28 "verify finds the damage (16 + 4 corrupt + 8 repairable)" "$SHELF" archive verify "$A/live.tar"
contains "names the damaged file" "$out" "corrupt    data/samples/"
"$SHELF" -L "$T/lib-rep" init >/dev/null
expect 0 "import repairs a copy first" "$SHELF" -L "$T/lib-rep" archive import "$A/live.tar"
contains "says it repaired" "$out" "repaired from parity first"
check "the archive itself is untouched" "$(cmp -s "$A/live.tar" "$T/orig.tar" && echo same)" = ""
head -c $(( $(stat -c %s "$T/orig.tar") - 3000 )) "$T/orig.tar" > "$A/live.tar"
expect 28 "truncated: what is lost (16 + 4 corrupt + 8 repairable)" "$SHELF" archive verify "$A/live.tar"
contains "truncation reported" "$err" "Truncated"
expect 0 "par2 repair restores the truncated archive" par2 repair "$A/live.tar.par2"
check "restored byte for byte" "$(cmp -s "$A/live.tar" "$T/orig.tar" && echo same)" = same
python3 - "$A/live.tar" <<'EOF'
import sys
f = open(sys.argv[1], 'r+b'); f.seek(2000); f.write(b'\0' * 20000); f.close()
EOF
rm -f "$A"/live.tar.vol*.par2
"$SHELF" -L "$T/lib-bad" init >/dev/null
expect 21 "damage beyond the parity" "$SHELF" -L "$T/lib-bad" archive import "$A/live.tar"
contains "refused" "$err" "nothing imported"

# Hostile archives: each refused with its message, nothing outside staging.
H="$T/hostile"
mkdir -p "$H"
python3 - "$H" "$T" <<'PYEOF' || fail "hostile set written"
import hashlib, io, os, sys, tarfile, zipfile
H, T = sys.argv[1], sys.argv[2]
cases = []

def bag_files(oxum=None, lie=False):
    data = {"data/a.txt": b"hello\n", "data/b.txt": b"world\n" * 100}
    m = "".join("%s %s\n" % (hashlib.sha256(b"x" if lie and k == "data/a.txt" else v).hexdigest(), k)
                for k, v in data.items())
    files = {"bagit.txt": b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"}
    files.update(data)
    n = sum(len(v) for v in data.values())
    files["bag-info.txt"] = ("Payload-Oxum: %s\n" % (oxum or "%d.%d" % (n, len(data)))).encode()
    files["manifest-sha256.txt"] = m.encode()
    return files

def tar(name, entries, want):
    with tarfile.open(os.path.join(H, name), "w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    cases.append((name, want))

def reg(path, data):
    ti = tarfile.TarInfo(path); ti.size = len(data); return (ti, data)

def special(path, typ, **kw):
    ti = tarfile.TarInfo(path); ti.type = typ
    for k, v in kw.items(): setattr(ti, k, v)
    return (ti, None)

good = [reg("bag/" + k, v) for k, v in bag_files().items()]
tar("abs.tar", good[:1] + [reg(os.path.join(H, "abs-pwned"), b"x")], "absolute path")
tar("dotdot.tar", good[:1] + [reg("bag/data/../../../pwned", b"x")], "'..' component")
tar("symlink.tar", good[:1] + [special("bag/data/link", tarfile.SYMTYPE, linkname=T),
                               reg("bag/data/link/link-pwned", b"x")], "symbolic link")
tar("hardlink.tar", good[:1] + [special("bag/data/pw", tarfile.LNKTYPE, linkname="/etc/passwd")], "hard link")
tar("device.tar", good[:1] + [special("bag/data/null", tarfile.CHRTYPE, devmajor=1, devminor=3)], "device file")
tar("fifo.tar", good[:1] + [special("bag/data/fifo", tarfile.FIFOTYPE)], "fifo")
tar("dup.tar", good + [reg("bag/data/a.txt", b"again")], "duplicate name")
tar("case.tar", good + [reg("bag/data/A.TXT", b"hello\n")], "where case does not count")
tar("dirfile.tar", good + [reg("bag/data/a.txt/inner", b"x")], "a file and a folder of the same name")
tar("twotops.tar", good + [reg("other/data/x", b"x")], "more than one top folder")
tar("notbag.tar", [e for e in good if e[0].name != "bag/bagit.txt"], "not a BagIt bag")
tar("lie.tar", [reg("bag/" + k, v) for k, v in bag_files(lie=True).items()], "damaged")
tar("oxum.tar", [reg("bag/" + k, v) for k, v in bag_files(oxum="999.9").items()], "damaged")
tar("nolist.tar", good + [reg("bag/data/extra.txt", b"not in the manifest")], "damaged")
# A header that declares 10 TB, and no data.
big = tarfile.TarInfo("bag/data/huge.wav"); big.size = 10 ** 13
with open(os.path.join(H, "huge.tar"), "wb") as f:
    f.write(good[0][0].tobuf(tarfile.PAX_FORMAT)); f.write(good[0][1].ljust(512, b"\0"))
    f.write(big.tobuf(tarfile.PAX_FORMAT))
cases.append(("huge.tar", "declared size over the limit"))
# Truncated in the middle of a file.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    for ti, d in good: t.addfile(ti, io.BytesIO(d))
open(os.path.join(H, "trunc.tar"), "wb").write(buf.getvalue()[:4200])
cases.append(("trunc.tar", "damaged"))
if len(sys.argv) < 4:
    # A bomb: 100 MB of zeros in a few kB of bzip2.
    class Zeros(io.RawIOBase):
        def __init__(self, n): self.n = n
        def readable(self): return True
        def readinto(self, b):
            k = min(len(b), self.n); b[:k] = bytes(k); self.n -= k; return k
    bomb = tarfile.TarInfo("bag/data/zeros.wav"); bomb.size = 100 << 20
    with tarfile.open(os.path.join(H, "bomb.tar.bz2"), "w:bz2", format=tarfile.PAX_FORMAT) as t:
        t.addfile(good[0][0], io.BytesIO(good[0][1])); t.addfile(bomb, Zeros(bomb.size))
    cases.append(("bomb.tar.bz2", "zip bomb"))
# Zip: a backslash path and an absolute one.
with zipfile.ZipFile(os.path.join(H, "backslash.zip"), "w") as z:
    z.writestr("bag/bagit.txt", good[0][1]); z.writestr("bag\\..\\..\\pwned", b"x")
cases.append(("backslash.zip", "unsafe archive"))
with zipfile.ZipFile(os.path.join(H, "abs.zip"), "w") as z:
    z.writestr(zipfile.ZipInfo("bag/bagit.txt"), good[0][1])
    zi = zipfile.ZipInfo("x"); zi.filename = os.path.join(H, "abs-pwned"); z.writestr(zi, b"x")
cases.append(("abs.zip", "absolute path"))
open(os.path.join(H, "garbage.tar"), "wb").write(b"this is not an archive at all\n" * 40)
cases.append(("garbage.tar", "cannot read"))
with open(os.path.join(H, "cases.txt"), "w") as f:
    for n, w in cases: f.write("%s|%s\n" % (n, w))
PYEOF
mkdir -p "$T/lib-h"
"$SHELF" -L "$T/lib-h" init >/dev/null
while IFS='|' read -r file want; do
    [ -n "$file" ] || continue
    st=0
    "$SHELF" -L "$T/lib-h" archive import "$H/$file" >"$T/out" 2>"$T/err" || st=$?
    err=$(cat "$T/err")
    if [ "$st" -ne 0 ]; then ok "hostile $file refused"; else fail "hostile $file imported"; fi
    contains "hostile $file: message" "$err" "$want"
    check "hostile $file: one line" "$(wc -l < "$T/err")" -eq 1
done < "$H/cases.txt"
check "nothing escaped" ! -e "$T/pwned"
check "nothing escaped (absolute)" ! -e "$H/abs-pwned"
check "nothing escaped (symlink target)" ! -e "$T/link-pwned"
expect 0 "hostile: library still empty" "$SHELF" -L "$T/lib-h" --json ls
check "no sample imported" "$(json 'len(j)')" = 0
check "no staging left" -z "$(ls -A "$T/lib-h" | grep archive-)"

finish

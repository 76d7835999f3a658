# test_signatures.sh: signed archives and patch histories (doc/formats.md,
# "Archive signature"): an export is signed by this device or by a key of
# `shelf keys new`; verify and import name the signer and whether it is
# trusted (this device, a paired device, a trusted key, revoked, unknown);
# one byte changed in a payload file, the manifest, the tag manifest or the
# signature is refused with nothing imported; --require-signed refuses what
# is unsigned or untrusted; stock tools still read the bag; samples with
# accents, CJK, emoji, spaces, a newline and non-UTF-8 bytes in their names.
. "$(dirname "$0")/lib.sh"

for tool in bsdtar python3 sha256sum; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool not installed (scripts/install-deps)"; exit 77; }
done

S="$T/s"
mkdir -p "$S"
NAMES=("café é.wav" "鼓 キック.wav" "🥁 emoji.wav" $'new\nline.wav' $'bad\xff\xfe.wav' "plain kick.wav")
i=1
for n in "${NAMES[@]}"; do "$SHELF_TG" --seed "$i" "$S/$n"; i=$((i + 1)); done
printf '<region> sample=plain kick.wav\n' > "$S/kit.sfz"
expect 0 "init" "$SHELF" init
expect 0 "import the samples" "$SHELF" import "$S"
expect 0 "a patch" "$SHELF" --json patch import "$S/kit.sfz"
P=$(json 'j[0]["id"]')

# tamper IN OUT MEMBER OP: copy the tar IN to OUT with one byte of the
# member whose name ends with MEMBER changed (OP: flip = the first byte
# XOR 1; sig = one character of the signature value; remanifest = a
# payload line of manifest-sha256.txt changed and tagmanifest-sha256.txt
# made to match, as a forger without the key would).
tamper() {
    python3 - "$@" <<'PY'
import hashlib, io, sys, tarfile
src, dst, member, op = sys.argv[1:5]
tin = tarfile.open(src)
items = [(m, tin.extractfile(m).read() if m.isfile() else None) for m in tin.getmembers()]
data = {m.name: d for m, d in items}
def base(n): return n.split("/", 1)[1]
done = False
for k, (m, d) in enumerate(items):
    if d is None or done:
        continue
    if op in ("flip", "sig") and base(m.name).endswith(member):
        b = bytearray(d)
        if op == "flip":
            b[len(b) // 2] ^= 1
        else:
            i = b.index(b'"signature": "') + 14
            b[i] = ord("A") if b[i] != ord("A") else ord("B")
        items[k] = (m, bytes(b)); done = True
    if op == "remanifest" and base(m.name) == "manifest-sha256.txt":
        lines = d.decode().split("\n")
        lines[0] = "0" * 64 + lines[0][64:]
        nd = "\n".join(lines).encode()
        items[k] = (m, nd); done = True
        new = hashlib.sha256(nd).hexdigest()
        for j, (m2, d2) in enumerate(items):
            if m2.name.endswith("/tagmanifest-sha256.txt"):
                out = []
                for l in d2.decode().split("\n"):
                    if l.endswith(" manifest-sha256.txt"):
                        l = new + " manifest-sha256.txt"
                    out.append(l)
                items[j] = (m2, "\n".join(out).encode())
assert done, "no member " + member
tout = tarfile.open(dst, "w", format=tarfile.PAX_FORMAT)
for m, d in items:
    if d is not None:
        m.size = len(d)
        tout.addfile(m, io.BytesIO(d))
    else:
        tout.addfile(m)
tout.close()
PY
}

A="$T/a"
mkdir -p "$A"
L2="$T/lib2"
"$SHELF" -L "$L2" init >/dev/null

# ---- signed by this device ------------------------------------------------
expect 0 "export signed by this device" "$SHELF" archive export --all "$A/all.tar"
contains "export says it signed" "$out" "signed with this device's key"
expect 0 "bsdtar lists the bag" bsdtar -tf "$A/all.tar"
contains "the signature is a tag file" "$out" "all/shelf-signature.json"
mkdir -p "$A/x" && bsdtar -xf "$A/all.tar" -C "$A/x"
check "the signature is in no tag manifest" "$(grep -c shelf-signature "$A/x/all/tagmanifest-sha256.txt" "$A/x/all/tagmanifest-sha512.txt" | awk -F: '{s+=$2} END {print s}')" = 0
expect 0 "sha256sum -c checks the tag manifest" sh -c "cd '$A/x/all' && sha256sum -c tagmanifest-sha256.txt"
expect 0 "the payload manifest holds with the names decoded (RFC 8493)" python3 - "$A/x/all" <<'PY'
import hashlib, os, sys, urllib.parse
root = sys.argv[1]
n = 0
for line in open(os.path.join(root, "manifest-sha256.txt"), "rb").read().split(b"\n"):
    if not line:
        continue
    h, p = line.split(b" ", 1)
    p = p.replace(b"%0A", b"\n").replace(b"%0D", b"\r").replace(b"%25", b"%")
    assert hashlib.sha256(open(os.path.join(root.encode(), p), "rb").read()).hexdigest().encode() == h, p
    n += 1
assert n >= 6, n
PY
expect 0 "verify: intact and signed" "$SHELF" archive verify "$A/all.tar"
contains "verify: this device" "$out" "trusted: this device"
DEV=$("$SHELF" --json device id | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
contains "verify: the device id" "$out" "$DEV"
expect 0 "verify --json" "$SHELF" --json archive verify "$A/all.tar"
check "verify --json: trust self" "$(json 'j["signature"]["trust"]')" = self
check "verify --json: device id" "$(json 'j["signature"]["device"]')" = "$DEV"
expect 0 "verify --require-signed: own device" "$SHELF" archive verify --require-signed "$A/all.tar"

# ---- tampering ---------------------------------------------------------------
tamper "$A/all.tar" "$A/payload.tar" "plain kick.wav" flip
expect 20 "a payload byte changed: verify refuses (16 + corrupt)" "$SHELF" archive verify "$A/payload.tar"
expect 20 "a payload byte changed: import refuses" "$SHELF" -L "$L2" archive import "$A/payload.tar"
contains "payload: nothing imported" "$err" "nothing imported"
tamper "$A/all.tar" "$A/sig.tar" "shelf-signature.json" sig
expect 10 "a signature byte changed: verify exits 10" "$SHELF" archive verify "$A/sig.tar"
contains "signature: says it does not match" "$err" "does not match"
check "signature: one-line error" "$(printf '%s\n' "$err" | grep -c '^shelf:')" = 1
expect 10 "a signature byte changed: import exits 10" "$SHELF" -L "$L2" archive import "$A/sig.tar"
contains "signature: nothing imported" "$err" "nothing imported"
tamper "$A/all.tar" "$A/tm.tar" "tagmanifest-sha256.txt" flip
expect 10 "a tag manifest byte changed: verify exits 10" "$SHELF" archive verify "$A/tm.tar"
tamper "$A/all.tar" "$A/forged.tar" "" remanifest
expect 10 "manifest and tag manifest forged: verify exits 10" "$SHELF" archive verify "$A/forged.tar"
expect 10 "forged: import exits 10" "$SHELF" -L "$L2" archive import "$A/forged.tar"
expect 0 "nothing entered the other library" "$SHELF" -L "$L2" --json ls
check "no samples in lib2" "$(json 'len(j)')" = 0

# ---- an unknown signer, then paired ---------------------------------------------
expect 10 "import --require-signed: unknown signer refused" "$SHELF" -L "$L2" archive import --require-signed "$A/all.tar"
contains "unknown: says not trusted" "$err" "not trusted"
expect 0 "still nothing in lib2" "$SHELF" -L "$L2" --json ls
check "no samples in lib2 after the refusal" "$(json 'len(j)')" = 0
expect 0 "verify in lib2: unknown signer" "$SHELF" -L "$L2" --json archive verify "$A/all.tar"
check "lib2 sees an unknown signer" "$(json 'j["signature"]["trust"]')" = unknown
expect 0 "pair the first device in lib2" "$SHELF" -L "$L2" device add "$DEV" --name studio
expect 0 "verify in lib2: paired" "$SHELF" -L "$L2" --json archive verify "$A/all.tar"
check "lib2 sees a paired device" "$(json 'j["signature"]["trust"]')" = paired
expect 0 "import --require-signed from a paired device" "$SHELF" -L "$L2" --json archive import --require-signed "$A/all.tar"
check "import --json: signature paired" "$(json 'j["signature"]["trust"]')" = paired
check "import: 6 samples created" "$(json 'len([i for i in j["items"] if i["kind"] == "sample"])')" = 6

# ---- unsigned ---------------------------------------------------------------
expect 0 "export --no-sign" "$SHELF" archive export --all --no-sign "$A/plain.tar"
expect 0 "bsdtar: no signature" bsdtar -tf "$A/plain.tar"
check "unsigned: no signature file" "$(printf '%s\n' "$out" | grep -c shelf-signature)" = 0
expect 0 "verify unsigned" "$SHELF" archive verify "$A/plain.tar"
contains "verify says unsigned" "$out" "unsigned"
expect 10 "verify --require-signed: unsigned refused" "$SHELF" archive verify --require-signed "$A/plain.tar"
expect 10 "import --require-signed: unsigned refused" "$SHELF" -L "$L2" archive import --require-signed "$A/plain.tar"
contains "unsigned: says so" "$err" "not signed"

# ---- a key of shelf keys new: trust and revoke ----------------------------------
expect 0 "keys new" "$SHELF" keys new "Pack Maker é"
check "the private key is 0600" "$(stat -c %a "$SHELF_LIBRARY/keys/Pack Maker é.key")" = 600
expect 0 "keys new --file" "$SHELF" keys new other --file "$T/other.key"
check "--file: 0600" "$(stat -c %a "$T/other.key")" = 600
expect 1 "keys new: the same name again" "$SHELF" keys new "Pack Maker é"
expect 0 "export --sign-with" "$SHELF" archive export --all "$A/pack.tar" --sign-with "Pack Maker é"
# openssl(1) checks the signature with the public key alone: plain Ed25519
# over the bytes of tagmanifest-sha256.txt.
mkdir -p "$A/p" && bsdtar -xf "$A/pack.tar" -C "$A/p"
python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["signature"]))' \
    "$A/p/pack/shelf-signature.json" > "$T/sig.bin"
openssl pkey -in "$SHELF_LIBRARY/keys/Pack Maker é.key" -pubout -out "$T/pack.pem" 2>/dev/null
expect 0 "openssl pkeyutl verifies the signature" openssl pkeyutl -verify -pubin -inkey "$T/pack.pem" -rawin \
    -in "$A/p/pack/tagmanifest-sha256.txt" -sigfile "$T/sig.bin"
contains "openssl: success" "$out" "Signature Verified Successfully"
expect 0 "verify: unknown key" "$SHELF" -L "$L2" --json archive verify "$A/pack.tar"
check "pack: unknown" "$(json 'j["signature"]["trust"]')" = unknown
check "pack: signer name" "$(json 'j["signature"]["name"]')" = "Pack Maker é"
check "pack: no device" "$(json 'j["signature"]["device"]')" = None
expect 0 "keys export" "$SHELF" keys export "Pack Maker é"
printf '%s\n' "$out" > "$T/pack.pub"
expect 0 "keys trust" "$SHELF" -L "$L2" keys trust "$T/pack.pub"
expect 0 "verify: trusted key" "$SHELF" -L "$L2" archive verify --require-signed "$A/pack.tar"
contains "pack: a key you trusted" "$out" "trusted: a key you trusted"
expect 0 "keys ls --json" "$SHELF" -L "$L2" --json keys ls
check "ls: the trusted key" "$(json '[k["name"] for k in j if k["kind"] == "trusted"]')" = "['Pack Maker é']"
expect 0 "keys revoke" "$SHELF" -L "$L2" keys revoke "Pack Maker é"
expect 0 "keys ls after revoke" "$SHELF" -L "$L2" --json keys ls
check "ls: revoked" "$(json '[k["revoked"] for k in j if k["kind"] == "trusted"]')" = "[True]"
expect 10 "verify --require-signed: revoked key refused" "$SHELF" -L "$L2" archive verify --require-signed "$A/pack.tar"
contains "revoked: says so" "$err" "revoked"
expect 3 "keys revoke: no such key" "$SHELF" -L "$L2" keys revoke nobody
printf '{"format": "shelf-public-key"}' > "$T/bad.pub"
expect 1 "keys trust: not a key file" "$SHELF" -L "$L2" keys trust "$T/bad.pub"

# ---- patch histories ---------------------------------------------------------------
expect 0 "patch export: signed" "$SHELF" patch export "$P" "$A/kit.json"
check "the signature beside it" -f "$A/kit.json.sig"
"$SHELF" -L "$T/lib3" init >/dev/null 2>&1
expect 10 "patch import --require-signed: unknown signer" "$SHELF" -L "$T/lib3" patch import --require-signed "$A/kit.json"
contains "patch: not trusted" "$err" "not trusted"
cp "$A/kit.json" "$A/kit2.json"; cp "$A/kit.json.sig" "$A/kit2.json.sig"
python3 -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[len(d)//2]^=1; open(p,"wb").write(d)' "$A/kit2.json"
expect 10 "patch import: a history byte changed" "$SHELF" -L "$T/lib3" patch import "$A/kit2.json"
contains "patch: does not match" "$err" "does not match"
expect 0 "no patch in lib3" "$SHELF" -L "$T/lib3" --json patch ls
check "lib3 has no patch" "$(json 'len(j)')" = 0
"$SHELF" keys export > "$T/dev.pub"
expect 0 "trust the device key in lib3" "$SHELF" -L "$T/lib3" keys trust "$T/dev.pub"
expect 0 "patch import --require-signed: trusted" "$SHELF" -L "$T/lib3" patch import --require-signed "$A/kit.json"
contains "patch: signer named" "$out" "trusted: a key you trusted"
expect 0 "patch export --no-sign" "$SHELF" patch export "$P" "$A/kit3.json" --no-sign
check "no signature file" ! -e "$A/kit3.json.sig"
expect 10 "patch import --require-signed: unsigned" "$SHELF" -L "$T/lib3" patch import --as-new --require-signed "$A/kit3.json"

# ---- project histories ---------------------------------------------------------------
expect 0 "a project" "$SHELF" --json project new "Live 🎛"
J=$(json 'j["id"]')
expect 0 "project export: signed" "$SHELF" --json project export "$J" "$A/live.json"
check "project export --json names the signature" "$(json 'j["signature"]')" = "$A/live.json.sig"
expect 0 "project import: a trusted signer" "$SHELF" -L "$T/lib3" --json project import --require-signed "$A/live.json"
check "project import --json: trusted" "$(json 'j["signature"]["trust"]')" = trusted
printf ' ' >> "$A/live.json"
expect 10 "project import: a byte added" "$SHELF" -L "$T/lib3" project import --as-new "$A/live.json"

finish

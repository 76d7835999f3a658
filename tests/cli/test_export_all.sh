# test_export_all.sh: shelf export-all of a library with everything in it
# (awkward names, a collision of names, managed and referenced samples,
# tags, ratings, favourites, a collection, synonyms, a patch with three
# versions, a project, a paired device, audit rows), read back without
# shelf: sqlite3 (row counts equal the library's), python3 json and csv,
# the BagIt manifests with sha256sum -c (bagit-python is not packaged for
# Debian 12), a changed byte found; no secret in any byte of it.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/a" "$S/b"
"$SHELF_TG" --seed 1 "$S/a/kick é.wav"
"$SHELF_TG" --seed 2 "$S/b/kick é.wav"              # the same name, other audio
"$SHELF_TG" --seed 3 "$S/a/雪 🥁.wav"
"$SHELF_TG" --seed 4 "$S/a/$(printf 'hat \xff\nx.wav')"
"$SHELF_TG" --seed 5 "$S/a/snare, \"quoted\".wav"
cat > "$S/a/pad.sfz" <<'EOF'
<region> sample=kick é.wav lokey=36 hikey=36
EOF
expect 0 "init" "$SHELF" init
expect 0 "import (referenced)" "$SHELF" import "$S/a"
expect 0 "import (managed)" "$SHELF" import --copy "$S/b"
K=$(sample_id "$T/lib" "kick")
expect 0 "tag" "$SHELF" tag add "$K" deep über
expect 0 "rate" "$SHELF" rate "$K" 5
expect 0 "fav" "$SHELF" fav "$K"
expect 0 "collection" "$SHELF" collection new "set ☆"
expect 0 "collection add" "$SHELF" collection add "set ☆" "$K"
expect 0 "synonyms" "$SHELF" synonyms add zqxa zqxb
expect 0 "patch import" "$SHELF" --json patch import "$S/a/pad.sfz"
P=$(json 'j[0]["id"]')
expect 0 "patch v2" "$SHELF" patch set "$P" comment=two
expect 0 "patch v3" "$SHELF" patch set "$P" comment=three
expect 0 "project" "$SHELF" project new "Live ☆" --tempo 120
expect 0 "device id" "$SHELF" -L "$T/other" init
OTHER=$("$SHELF" -q -L "$T/other" device id)
expect 0 "pair a device" "$SHELF" device add "$OTHER" --name "laptop ☆"
expect 0 "a push makes a library key and a change log" "$SHELF" sync push "$T/hub"

expect 0 "export-all" "$SHELF" --json export-all "$T/all.tar" --no-sign
check "five samples" "$(json 'j["samples"]')" = 5
check "one patch" "$(json 'j["patches"]')" = 1
check "one project" "$(json 'j["projects"]')" = 1
check "tables written" "$(json 'j["tables"] >= 20')" = True
expect 1 "OUT exists: refused" "$SHELF" export-all "$T/all.tar" --no-sign
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
expect 2 "export-all takes no selection" "$SHELF" export-all --all "$T/x.tar"

mkdir "$T/x"
tar -xf "$T/all.tar" -C "$T/x"
B="$T/x/all"
check "a bag" -f "$B/bagit.txt"
check "a README" -f "$B/data/README.txt"
contains "the README names the tables" "$(cat "$B/data/README.txt")" "data/library/tables/T.csv"
contains "the README says what is withheld" "$(cat "$B/data/README.txt")" "sync_keys"

# every manifest line checks (payload and tag files), read as RFC 8493
# says (paths percent-encode CR, LF and %): what bagit-python does
cat > "$T/bagcheck.py" <<'EOF'
import hashlib, os, sys
b = sys.argv[1]
def lines(name):
    for line in open(os.path.join(b, name), "rb").read().decode("utf-8").splitlines():
        h, p = line.split(" ", 1)
        p = p.lstrip().replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
        yield h, p
bad, seen = [], set()
for name in ("manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt"):
    alg = hashlib.sha512 if "512" in name else hashlib.sha256
    for h, p in lines(name):
        seen.add(p)
        if alg(open(os.path.join(b, p), "rb").read()).hexdigest() != h:
            bad.append(p)
payload = {os.path.relpath(os.path.join(d, f), b) for d, _, fs in os.walk(os.path.join(b, "data")) for f in fs}
missing = payload - seen
print("bad %d missing %d" % (len(bad), len(missing)))
sys.exit(1 if bad or missing else 0)
EOF
expect 0 "every manifest line checks, every payload file listed" python3 "$T/bagcheck.py" "$B"
(cd "$B" && sha256sum --quiet -c tagmanifest-sha256.txt) >"$T/sum.out" 2>&1
check "sha256sum -c of the tag manifest" "$?" = 0

# the catalog as SQLite: the same rows as the library's
for t in samples tags tag_items ratings favourites collections collection_items synonyms patches projects doc_versions audit_log devices changes; do
    # (the export's own audit row came after its copy)
    w=""; [ "$t" = audit_log ] && w="WHERE action != 'export'"
    a=$(sqlite3 "$T/lib/shelf.db" "SELECT count(*) FROM $t $w")
    b=$(sqlite3 "$B/data/library/shelf.sqlite" "SELECT count(*) FROM $t")
    check "sqlite: $t has $a rows" "$b" = "$a"
done
check "sqlite: secrets withheld" "$(sqlite3 "$B/data/library/shelf.sqlite" "SELECT count(*) FROM sync_keys")" = 0
check "the library had a key to withhold" "$(sqlite3 "$T/lib/shelf.db" "SELECT count(*) FROM sync_keys")" != 0
check "no table file of the withheld" ! -e "$B/data/library/tables/sync_keys.csv"

# every JSON parses; CSV and JSON agree; names survive
expect 0 "json and csv read back" python3 - "$B" <<'EOF'
import csv, glob, json, os, sys
b = sys.argv[1]
for f in glob.glob(b + "/data/**/*.json", recursive=True):
    json.load(open(f, encoding="utf-8"))
for f in glob.glob(b + "/data/library/tables/*.csv"):
    rows = list(csv.DictReader(open(f, encoding="utf-8", newline="")))
    js = json.load(open(f[:-4] + ".json", encoding="utf-8"))
    assert len(rows) == len(js), (f, len(rows), len(js))
samples = json.load(open(b + "/data/library/tables/samples.json"))
names = sorted(s["name"] for s in samples)
assert "snare, \"quoted\"" in names, names
assert names.count("kick é") == 2, names
tags = {t["name"] for t in json.load(open(b + "/data/library/tables/tags.json"))}
assert {"deep", "über"} <= tags, tags
hist = json.load(open(glob.glob(b + "/data/patches/*.json")[0]))
assert len(hist["versions"]) == 3, len(hist["versions"])
devs = json.load(open(b + "/data/library/tables/devices.json"))
assert devs[0]["name"] == "laptop ☆", devs
# samples: both files named "kick é.wav" are there, with their own bytes
kicks = glob.glob(b + "/data/samples/*/kick é.wav")
assert len(kicks) == 2 and open(kicks[0], "rb").read() != open(kicks[1], "rb").read(), kicks
print("ok")
EOF

# no secret leaves: the library key and the device's private key
KEYHEX=$(sqlite3 "$T/lib/shelf.db" "SELECT lower(hex(key)) FROM sync_keys LIMIT 1")
check "a key to look for" -n "$KEYHEX"
check "the library key's hex is in no file" -z "$(grep -rl "$KEYHEX" "$B" | head -1)"
python3 - "$B" "$KEYHEX" <<'EOF' >"$T/raw.out"
import os, sys
b, key = sys.argv[1], bytes.fromhex(sys.argv[2])
hits = [os.path.join(d, f) for d, _, fs in os.walk(b) for f in fs
        if key in open(os.path.join(d, f), "rb").read()]
print(len(hits))
EOF
check "the library key's bytes are in no file" "$(cat "$T/raw.out")" = 0
PRIV=$(sed -n '2p' "$T/lib/device/key.pem")
check "a private key line to look for" -n "$PRIV"
check "the device key is in no file" -z "$(grep -rlF "$PRIV" "$B" | head -1)"

# a changed byte is found
f=$(ls "$B"/data/samples/*/*.wav | head -1)
damage "$f" 100
expect 1 "a changed byte fails the manifest" python3 "$T/bagcheck.py" "$B"

# shelf itself reads it back too
expect 0 "archive verify" "$SHELF" archive verify "$T/all.tar"
expect 0 "another library" "$SHELF" -L "$T/l2" init
expect 0 "archive import into it" "$SHELF" -L "$T/l2" --json archive import "$T/all.tar"
expect 0 "the other library" "$SHELF" -L "$T/l2" --json ls
check "five samples there" "$(json 'len(j)')" = 5

# recorded, so a purge can name it
check "the export is in the audit log" "$(sqlite3 "$T/lib/shelf.db" "SELECT count(*) FROM audit_log WHERE action = 'export' AND detail LIKE 'export-all %all.tar'")" = 1

finish

# test_sfz.sh: SFZ import and export from the command line as real
# libraries use them: #include confined to the patch's folder, FIFOs that
# do not block, truncated samples reported, a 100,000-region file imported
# in seconds, and export that writes only SFZ opcodes in SFZ units.
. "$(dirname "$0")/lib.sh"

S="$T/s"
mkdir -p "$S/kit/samples"
"$SHELF_TG" --seed 1 "$S/kit/samples/a.wav"
"$SHELF_TG" --seed 2 "$S/kit/samples/b.wav"
expect 0 "init" "$SHELF" init

# ---- #include stays inside the patch's folder tree --------------------------
printf 'SECRET-LINE opcode\n' > "$S/secret.sfz"
printf '<region> sample=samples/a.wav\n#include "/etc/passwd"\n' > "$S/kit/abs.sfz"
expect 1 "#include of an absolute path" "$SHELF" patch import "$S/kit/abs.sfz"
contains "refused as absolute" "$err" "abs.sfz:2: cannot include '/etc/passwd': an absolute path"
case "$err" in *root:*) fail "no text of /etc/passwd in the message" ;; *) ok "no text of /etc/passwd in the message" ;; esac
printf '#include "../secret.sfz"\n' > "$S/kit/up.sfz"
expect 1 "#include that leaves the folder" "$SHELF" patch import "$S/kit/up.sfz"
contains "refused as outside" "$err" "cannot include '../secret.sfz': outside the folder of up.sfz"
case "$err" in *SECRET*) fail "no text of the outside file" ;; *) ok "no text of the outside file" ;; esac
mkdir -p "$S/kit/inc"
printf '<region> sample=samples/b.wav key=62\n' > "$S/kit/inc/b.sfz"
printf '#include "../inc/b.sfz"\n' > "$S/kit/inc/via.sfz"
printf '<region> sample=samples/a.wav key=60\n#include "inc/via.sfz"\n' > "$S/kit/ok.sfz"
expect 0 "#include with .. that stays inside" "$SHELF" --json patch import "$S/kit/ok.sfz"
expect 0 "show it" "$SHELF" --json patch show "$(json 'j[0]["id"]')"
check "both regions" "$(json 'sorted(z["key"][0] for z in j["zones"].values())' | tr -d ' ')" = "[60,62]"

# ---- FIFOs and devices never block -----------------------------------------
mkfifo "$S/kit/fifo.sfz"
printf '#include "fifo.sfz"\n' > "$S/kit/usefifo.sfz"
expect 1 "#include of a FIFO" timeout 60 "$SHELF" patch import "$S/kit/usefifo.sfz"
contains "FIFO refused" "$err" "cannot include 'fifo.sfz': not a regular file"
expect 1 "importing a FIFO" timeout 60 "$SHELF" patch import "$S/kit/fifo.sfz"
contains "not a regular file" "$err" "not a regular file"
mkfifo "$S/kit/fifo.json"
expect 1 "importing a FIFO as a shelf document" timeout 60 "$SHELF" patch import "$S/kit/fifo.json"
contains "not a regular file (json)" "$err" "not a regular file"

# ---- a truncated WAV is reported, not imported shorter -----------------------
"$SHELF_TG" --seed 3 "$T/whole.wav"
head -c $(( $(stat -c %s "$T/whole.wav") / 2 )) "$T/whole.wav" > "$S/kit/samples/cut.wav"
printf '<region> sample=samples/cut.wav\n' > "$S/kit/cut.sfz"
expect 1 "patch import with a truncated sample" "$SHELF" patch import "$S/kit/cut.sfz"
contains "truncated reported by patch import" "$err" "truncated"
expect 4 "import of a truncated sample" "$SHELF" import "$S/kit/samples/cut.wav"
contains "truncated reported by import" "$err" "truncated"

# ---- export: SFZ opcodes in SFZ units, <global> and <group>, round trip -------
cat > "$S/kit/exp.sfz" <<'SFZ'
<control> default_path=samples/
<global> volume=-6 ampeg_release=0.5 not_an_opcode=1
<group> group_label=soft cutoff=800 lovel=1 hivel=64
<region> sample=a.wav key=60 tune=10
<region> sample=b.wav key=62
<group> group_label=hard cutoff=4000 lovel=65 hivel=127
<region> sample=a.wav key=60 volume=-3 loop_mode=one_shot
SFZ
expect 0 "import for export" "$SHELF" --json patch import "$S/kit/exp.sfz"
E1=$(json 'j[0]["id"]')
expect 0 "export" "$SHELF" patch export "$E1" "$T/xp/exp.sfz"
check "only documented SFZ opcodes written" "$(python3 - "$T/xp/exp.sfz" "$SHELF_SRC/tests/data/sfz-opcodes.txt" <<'PY'
import re, sys
def norm(s): return re.sub(r'[0-9]+|[A-Z]+', '#', s)
ops = set(norm(l.strip()) for l in open(sys.argv[2]) if l.strip() and not l.startswith('//'))
mods = ('_oncc#', '_curvecc#', '_smoothcc#', '_stepcc#', 'cc#')
bad = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith('//') or line.startswith('<'):
        continue
    n = norm(line.split('=', 1)[0])
    if n not in ops and not any(n.endswith(m) and n[:-len(m)] in ops for m in mods):
        bad.append(n)
print(bad)
PY
)" = "[]"
contains "shared values under <global>" "$(cat "$T/xp/exp.sfz")" "<global>
ampeg_release=0.5"
contains "group values under <group>" "$(cat "$T/xp/exp.sfz")" "<group>
group_label=soft
cutoff=800
volume=-6"
expect 0 "import the export" "$SHELF" --json patch import "$T/xp/exp.sfz"
E2=$(json 'j[0]["id"]')
"$SHELF" --json patch show "$E1" > "$T/e1.json"
"$SHELF" --json patch show "$E2" > "$T/e2.json"
check "round trip: same zones and params" "$(python3 - "$T/e1.json" "$T/e2.json" <<'PY'
import json, sys
def zones(f):
    j = json.load(open(f))
    out = []
    for z in j["zones"].values():
        p = dict(z.get("params", {}))
        p.pop("not_an_opcode", None)
        out.append((z["sample"]["sha256"], z.get("key"), z.get("root"), z.get("vel"), z.get("loop"),
                    z.get("group"), sorted(p.items())))
    return sorted(out, key=repr)
print(zones(sys.argv[1]) == zones(sys.argv[2]))
PY
)" = True
printf '{"shelf_patch": 1, "name": "Pad", "source": {"format": "zyn"}, "params": {"amp": {"volume": 90}}}' > "$T/pad.json"
expect 0 "a synthesizer patch" "$SHELF" --json patch new --file "$T/pad.json"
PAD=$(json 'j["id"]')
expect 1 "export of a synthesizer refused" "$SHELF" patch export "$PAD" "$T/xp/pad.sfz"
check "one line" "$(printf '%s\n' "$err" | wc -l)" = 1
contains "says why" "$err" "cannot export 'Pad' as SFZ: it has no sample zones (a synthesizer patch)"
check "nothing written" ! -e "$T/xp/pad.sfz"
expect 2 "export to an unknown extension refused" "$SHELF" patch export "$E1" "$T/xp/exp.txt"
contains "names the rule" "$err" "an SFZ file name ends in .sfz"
check "no .txt written" ! -e "$T/xp/exp.txt"

# ---- 100,000 regions in seconds ----------------------------------------------
mkdir -p "$S/big/s"
for i in 0 1 2 3 4 5 6 7 8 9; do "$SHELF_TG" --seed "1$i" "$S/big/s/x$i.wav"; done
python3 - "$S/big/big.sfz" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("<control> default_path=s/\n<global> volume=-3 ampeg_release=0.4\n")
    for g in range(1000):
        f.write("<group> lovel=1 hivel=127 group_label=g%d\n" % g)
        for r in range(100):
            i = g * 100 + r
            f.write("<region> sample=x%d.wav lokey=%d hikey=%d tune=%d\n" % (i % 10, i % 128, i % 128, r))
PY
start=$(date +%s%N)
expect 0 "import 100,000 regions" bash -c 'TIMEFORMAT="%U %S"; { time "$0" --json patch import "$1" >"$2"; } 2>"$3"' \
    "$SHELF" "$S/big/big.sfz" "$T/big.out" "$T/big.time"
wall=$(( ($(date +%s%N) - start) / 1000000 ))
cpu=$(awk '{ printf "%d", ($1 + $2) * 1000 }' "$T/big.time")
echo "    100,000 regions: ${cpu} ms of CPU, ${wall} ms wall"
if [ -n "${SHELF_TEST_CFLAGS:-}" ] || nm -D "$SHELF" 2>/dev/null | grep -q '__asan_init\|__tsan_init' ||
   ldd "$SHELF" | grep -q 'libasan\|libtsan'; then
    echo "    (a sanitizer build: the time is not checked)"
else
    check "100,000 regions in under 10 s of CPU (was over 20 s, or refused)" "$cpu" -lt 10000
fi
P=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$T/big.out")
"$SHELF" --json patch show "$P" > "$T/big.json"
check "the big patch: 100,000 zones, opcodes inherited, group label" "$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
z = j["zones"]["z54321"]
print(len(j["zones"]), sorted(z["params"].items()), z["group"], z["key"])' "$T/big.json" | tr -d ' ')" = \
    "100000[('ampeg_release',0.4),('tune',20),('volume',-3)]g543[48,48]"
finish

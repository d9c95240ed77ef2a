#!/bin/bash
# EdgeRnn's streaming step beside RTNeural's (the C++ per-sample library of audio plugins), one run, side by side.
# LSTM, 8 inputs, 24 outputs, batch 1, one time step per call, state carried, H = 32 64 128 256.
#
# usage: tools/bench-peers.sh [EDGERNN]
#   EDGERNN      an edgernn executable (e.g. artifacts/linux-x64-v3/edgernn); default: the JIT build of this checkout
#                (dotnet build -c Release; the bench warms it up until tier-1 code runs).
# env:  PEER     RTNeural peer directory with build.sh and run.sh (default: ../shared/peers/rtneural beside the
#                repository); skipped, with a note, when it or g++ / clang++ is missing.
#       RTNEURAL_BUILD  a directory build.sh already filled (skips the build); default: a fresh temporary build
#       ROUNDS   rounds, each running edgernn and every RTNeural build once, interleaved so background load spreads
#                over both (default 3); medians over rounds are printed.
#       HIDDEN   (default 32,64,128,256)
#       CPU      the core both sides are pinned to with taskset, as the peer's run.sh does (default 1; empty = none)
#       RUNS     edgernn bench --runs per round (default 21, as many timed repetitions as run.sh's REPS)
#       ALSO     more edgernn builds timed in the same rounds, "name=path ..." (e.g. "native=/tmp/native/edgernn
#                baseline=artifacts/linux-x64-baseline/edgernn"): a second table gives each one's medians and its
#                ratio to EDGERNN (the default artifact), per precision and H.
# Output: per H, RTNeural's best configuration (lowest median), EdgeRnn float32 and int8 medians (ns per step), and
# the ratios RTNeural / EdgeRnn (above 1: EdgeRnn faster).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEER=${PEER:-$ROOT/../shared/peers/rtneural}
ROUNDS=${ROUNDS:-3}
HIDDEN=${HIDDEN:-32,64,128,256}
WORK=$(mktemp -d /tmp/edgernn-peers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if [ $# -ge 1 ]; then
  EDGERNN=("$1")
else
  dotnet build "$ROOT/src/EdgeRnn.Cli" -c Release -v q -nologo >&2
  EDGERNN=(dotnet "$ROOT/src/EdgeRnn.Cli/bin/Release/net10.0/edgernn.dll")
fi

peer=1
if [ ! -x "$PEER/build.sh" ] || [ ! -x "$PEER/run.sh" ]; then
  echo "note: no RTNeural peer at $PEER (set PEER=...); EdgeRnn only" >&2; peer=0
elif ! command -v g++ >/dev/null || ! command -v clang++ >/dev/null; then
  echo "note: the RTNeural peer needs g++ and clang++ (apt: g++ clang); EdgeRnn only" >&2; peer=0
elif [ -n "${RTNEURAL_BUILD:-}" ] && ls "$RTNEURAL_BUILD"/bench_* >/dev/null 2>&1; then
  RT="$RTNEURAL_BUILD"
else
  echo "building RTNeural in $WORK/rtneural ..." >&2
  "$PEER/build.sh" "$WORK/rtneural" >&2
fi
RT=${RT:-$WORK/rtneural}

ALSO=${ALSO:-}
CPU=${CPU-1}
RUNS=${RUNS:-21}
PIN=()
if [ -n "$CPU" ] && command -v taskset >/dev/null; then PIN=(taskset -c "$CPU"); fi
for r in $(seq 1 "$ROUNDS"); do
  "${PIN[@]}" "${EDGERNN[@]}" bench --json --runs "$RUNS" --hidden "$HIDDEN" > "$WORK/edgernn.$r.json"
  for also in $ALSO; do
    "${PIN[@]}" "${also#*=}" bench --json --runs "$RUNS" --hidden "$HIDDEN" > "$WORK/also.${also%%=*}.$r.json"
  done
  if [ "$peer" = 1 ]; then
    RTNEURAL_BUILD="$RT" CPU="$CPU" ROUNDS=1 REPS=21 FILTER="api=ModelT cell=lstm" RAW="$WORK/rt.$r.txt" \
      "$PEER/run.sh" 2>/dev/null | grep '^rtneural' > "$WORK/rtneural.$r.txt" || true
  fi
  echo "round $r/$ROUNDS done (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

head -c 400 "$WORK/edgernn.1.json" | sed -n 's/.*"kernel":"\([^"]*\)".*"float_kernels":"\([^"]*\)","aot":\([a-z]*\).*/edgernn: int8 kernel \1; float kernels \2; native aot \3/p'
echo
python3 - "$WORK" "$ROUNDS" "$peer" "$ALSO" <<'EOF'
import glob, json, re, statistics, sys
work, rounds, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
also = [a.split("=", 1)[0] for a in sys.argv[4].split()]
ours = {}
for r in range(1, rounds + 1):
    for row in json.load(open(f"{work}/edgernn.{r}.json"))["results"]:
        ours.setdefault((row["hidden"], row["precision"]), []).append(row["median_ns"])
theirs = {}
for r in range(1, rounds + 1):
    if not peer:
        break
    for line in open(f"{work}/rtneural.{r}.txt"):
        kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
        theirs.setdefault((int(kv["H"]), kv["backend"] + "/" + kv["march"]), []).append(float(kv["ns_per_step"]))
print(f"{'H':>4} {'RTNeural best (config)':>30} {'EdgeRnn f32':>12} {'EdgeRnn int8':>13} {'RT/f32':>7} {'RT/int8':>8}")
for h in sorted({k[0] for k in ours}):
    f32 = statistics.median(ours[(h, "float32")])
    i8 = statistics.median(ours[(h, "int8")])
    cands = [(statistics.median(v), cfg) for (hh, cfg), v in theirs.items() if hh == h]
    if cands:
        best, cfg = min(cands)
        print(f"{h:>4} {best:>18.1f} ({cfg:>10}) {f32:>12.1f} {i8:>13.1f} {best / f32:>6.2f}x {best / i8:>7.2f}x")
    else:
        print(f"{h:>4} {'-':>30} {f32:>12.1f} {i8:>13.1f}")
print(f"ns per step, medians over {rounds} rounds; ratios = RTNeural / EdgeRnn (above 1: EdgeRnn faster)")
if also:
    print()
    builds = {}
    for name in also:
        for r in range(1, rounds + 1):
            doc = json.load(open(f"{work}/also.{name}.{r}.json"))
            for row in doc["results"]:
                builds.setdefault(name, {}).setdefault((row["hidden"], row["precision"]), []).append(row["median_ns"])
            builds.setdefault(name + ":kernel", doc["kernel"] + "; float " + doc["float_kernels"])
    for name in also:
        print(f"{name}: int8 kernel {builds[name + ':kernel']}")
    head = "".join(f" {n:>12} {n + '/dflt':>12}" for n in also)
    print(f"{'H':>4} {'precision':>9} {'default':>12}{head}")
    for h in sorted({k[0] for k in ours}):
        for prec in ("float32", "int8"):
            d = statistics.median(ours[(h, prec)])
            cols = ""
            for n in also:
                v = statistics.median(builds[n][(h, prec)])
                cols += f" {v:>12.1f} {v / d:>11.2f}x"
            print(f"{h:>4} {prec:>9} {d:>12.1f}{cols}")
    print("ns per step, medians over rounds; name/dflt = that build's time / the default build's (below 1: it is faster)")
EOF

#!/usr/bin/env bash
# test.sh step 3: the published binaries, checked as a device would run them.
#
#   tests/publish-check.sh
#
# The binaries come from publish.ps1, run in a hosted PowerShell runspace by the xunit publish tests
# (tests/EdgeRnn.Cli.Tests/PublishTests.cs) during test.sh step 2; if they are missing or older than the sources,
# this script publishes them first through the same engine (build/run-ps1.cs). Then every check below runs (none stops the others) and prints PASS or FAIL
# with its name; the ARM64 binary runs under qemu-aarch64 as a Raspberry Pi 4 (-cpu cortex-a72) and a Pi 5
# (-cpu cortex-a76), and the portable x64 build (-InstructionSet baseline) under qemu-x86_64 as a pre-AVX core
# (Nehalem), where the default x86-64-v3 build must refuse to start with the runtime's instruction-set message.
# "One file to deploy": each binary is also copied alone into an empty folder, where it must need
# only the C library's own files (ldd; readelf's NEEDED for ARM64) and read a socat pty as a serial port. A command that answers "not built yet" (exit 3, the scaffold) FAILS its check: the checks for
# self-test, predict and demo pass once the branches that build those commands are merged.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
art="$root/artifacts"
python="${EDGERNN_PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

x64="$art/linux-x64/edgernn"
x64_baseline="$art/linux-x64-baseline/edgernn"
arm64="$art/linux-arm64/edgernn"
# A pre-AVX x86 core (qemu-x86_64's Nehalem: SSE4.2, no AVX) for the portable baseline build.
old_x64_cpu=Nehalem
declare -A pi_cpu=([pi4]=cortex-a72 [pi5]=cortex-a76)

# --- 0. artifacts ------------------------------------------------------------------------------------------------
stale=""
for exe in "$x64" "$x64_baseline" "$arm64"; do
  if [ ! -x "$exe" ]; then stale="missing $exe"; break; fi
  newer=$(find src native publish.ps1 Directory.Build.props Directory.Packages.props models deploy -maxdepth 4 -type f \
            -newer "$exe" \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.c' -o -name '*.ps1' \
            -o -name '*.safetensors' -o -name '*.md' -o -name '*.service' -o -name '*.json' \) 2>/dev/null | head -1)
  if [ -n "$newer" ]; then stale="$newer is newer than $exe"; break; fi
done
if [ -n "$stale" ]; then
  echo "== publishing through publish.ps1 in a hosted runspace ($stale)"
  for flavour in linux-x64 linux-x64-baseline linux-arm64; do
    args=(-Runtime "${flavour%-baseline}")
    [ "$flavour" = linux-x64-baseline ] && args+=(-InstructionSet baseline)
    dotnet run build/run-ps1.cs -- ./publish.ps1 "${args[@]}" || { echo "== publish-check: publish.ps1 for $flavour failed"; exit 1; }
  done
fi

# --- the check runner --------------------------------------------------------------------------------------------
passed=0
failed=0
failures=()
n=0
check() {   # check "name" function args...: output to a log; PASS on exit 0, showing the log's first "=> " line
  local name=$1; shift
  n=$((n + 1))
  local log="$work/check-$n.log" start=$SECONDS rc
  "$@" >"$log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'PASS  %-56s %3ds  %s\n' "$name" $((SECONDS - start)) "$(grep -m1 '^=> ' "$log" | cut -c4-)"
  else
    failed=$((failed + 1))
    local why="exit $rc"
    if [ "$rc" -eq 3 ] || grep -q "not built yet" "$log"; then why="exit $rc: command not built yet (its branch is not merged)"; fi
    failures+=("$name ($why)")
    printf 'FAIL  %-56s %3ds  %s\n' "$name" $((SECONDS - start)) "$why"
    tail -n 25 "$log" | sed 's/^/      | /'
  fi
}

# Runs edgernn for a target: x64 natively, pi4/pi5 as the ARM64 binary under qemu with that board's core.
# Bounded by `timeout` (EDGERNN_TIMEOUT seconds, default 600) so a hang fails its check instead of the CI run.
edgernn_on() {
  local target=$1; shift
  local run
  case "$target" in
    x64) run=("$x64") ;;
    old-x64) run=(qemu-x86_64 -cpu "$old_x64_cpu" "$x64_baseline") ;;
    pi4|pi5) run=(qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "${pi_cpu[$target]}" "$arm64") ;;
  esac
  timeout "${EDGERNN_TIMEOUT:-600}" "${run[@]}" "$@"
}

# --- checks ------------------------------------------------------------------------------------------------------
publish_log_clean() {   # the ILC/trimming warnings IL2xxx/IL3xxx (warnings-as-errors already fails the build)
  local log="$art/logs/$1.publish.log"
  [ -f "$log" ] || { echo "no $log"; return 1; }
  if grep -E '\bIL[23][0-9]{3}\b' "$log"; then return 1; fi
}

archive_with_system_tools() {   # GNU tar and sha256sum read what System.Formats.Tar and SHA256 wrote
  local rid=$1 machine=$2 a
  a=$(ls "$art"/edgernn-*-"$rid".tar.gz) || return 1
  (cd "$art" && sha256sum -c "$(basename "$a").sha256") || return 1
  tar -tzvf "$a" || return 1
  mkdir -p "$work/x-$rid" && tar -xzf "$a" -C "$work/x-$rid" || return 1
  local exe
  exe=$(ls "$work/x-$rid"/*/edgernn) || return 1
  [ -x "$exe" ] || { echo "edgernn lost its execute bit"; return 1; }
  local bytes
  bytes=$(stat -c %s "$exe")
  echo "=> edgernn $bytes bytes, archive $(stat -c %s "$a") bytes"
  file "$exe" 2>/dev/null || true
  # one file to deploy: no shared object travels with the binary
  if tar -tzf "$a" | grep -E '\.so(\.|$)'; then echo "the archive ships shared objects"; return 1; fi
  # the size budget (decimal 12 MB), as PublishTests asserts it for every flavour
  [ "$bytes" -lt 12000000 ] || { echo "edgernn is $bytes bytes, over the 12,000,000-byte budget"; return 1; }
  # e_machine, bytes 18-19 of the ELF header: 3e00 x86-64, b700 aarch64
  [ "$(od -An -tx1 -j18 -N2 "$exe" | tr -d ' \n')" = "$machine" ] || { echo "wrong ELF machine"; return 1; }
}

version_check() {
  local target=$1 out
  out=$(edgernn_on "$target" version) || return 1
  echo "=> $(grep '^instruction sets:' <<<"$out" | cut -c19-)"
  echo "$out"
  head -1 <<<"$out" | grep -Eq '^edgernn [0-9]+\.[0-9]+\.[0-9]+' || return 1
  grep -Eq '^commit: +[0-9a-f]{40}' <<<"$out" || return 1
  case "$target" in
    x64) grep -q '^runtime: *linux-x64' <<<"$out" ;;
    old-x64) grep -q '^runtime: *linux-x64' <<<"$out" && ! grep -q '^instruction sets:.*Avx' <<<"$out" \
               && grep -q '^int8 kernel path: *ssse3' <<<"$out" ;;
    pi4) grep -q '^runtime: *linux-arm64' <<<"$out" && grep -q '^instruction sets:.*AdvSimd' <<<"$out" && ! grep -q '^instruction sets:.* Dp' <<<"$out" ;;
    pi5) grep -q '^runtime: *linux-arm64' <<<"$out" && grep -q '^instruction sets:.* Dp' <<<"$out" ;;
  esac
}

self_test() {
  local out rc
  out=$(edgernn_on "$1" self-test 2>&1); rc=$?
  echo "=> $(grep -m1 -i 'active kernel path' <<<"$out")"
  echo "$out"
  return "$rc"
}

# A model for the predict comparison: the bundled ones, or, until models/ has one, a small LSTM written here in the
# reference layout (/work/shared/spec/reference_forecaster.py: PyTorch state_dict names, gate order, metadata),
# 7 inputs so it reads ETTh1's columns, with normalization taken from the rows it will see.
make_model() {
  "$python" - "$1" "$root/models/data/ett/ETTh1.csv" <<'PY'
import csv, json, random, struct, sys
out, data = sys.argv[1], sys.argv[2]
rows = [list(map(float, r[1:])) for i, r in enumerate(csv.reader(open(data))) if 0 < i <= 240]
n_in, hidden, n_out = 7, 16, 1
mean = [sum(c) / len(c) for c in zip(*rows)]
std = [max(1e-6, (sum((x - m) ** 2 for x in c) / len(c)) ** 0.5) for c, m in zip(zip(*rows), mean)]
rng = random.Random(7)
k = hidden ** -0.5
def t(*shape):
    n = 1
    for s in shape: n *= s
    return shape, [rng.uniform(-k, k) for _ in range(n)]
tensors = {"rnn.weight_ih_l0": t(4 * hidden, n_in), "rnn.weight_hh_l0": t(4 * hidden, hidden),
           "rnn.bias_ih_l0": t(4 * hidden), "rnn.bias_hh_l0": t(4 * hidden),
           "head.weight": t(n_out, hidden), "head.bias": t(n_out)}
header, blobs, off = {}, [], 0
for name, (shape, vals) in tensors.items():
    b = struct.pack("<%df" % len(vals), *vals)
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
header["__metadata__"] = {"arch": "lstm", "input_mean": json.dumps(mean), "input_std": json.dumps(std),
                          "output_mean": json.dumps([mean[-1]]), "output_std": json.dumps([std[-1]])}
raw = json.dumps(header).encode(); raw += b" " * ((8 - len(raw) % 8) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(raw))); f.write(raw); [f.write(b) for b in blobs]
PY
}

# The input a model reads (predict: a header row, then input_size numbers per row): real series from models/data,
# without their time column; a NAB sensor stream for a 1-input model, ETTh1's first input_size columns otherwise.
model_input() {
  local model=$1 n_in
  n_in=$("$python" -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); h=json.loads(f.read(struct.unpack("<Q",f.read(8))[0]))
print(h["rnn.weight_ih_l0"]["shape"][1])' "$model") || return 1
  if is_char_model "$model"; then
    # a character model (metadata "vocab", one-hot inputs): the first 240 characters of the bundled text, one-hot
    "$python" - "$model" "$root/models/data/text/tinyshakespeare.txt" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb"); vocab = json.loads(json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]["vocab"])
print(",".join(f"x{i}" for i in range(len(vocab))))
for c in open(sys.argv[2], encoding="utf-8").read()[:240]:
    print(",".join("1" if t == c else "0" for t in vocab))
PY
  elif [ "$n_in" -eq 1 ]; then
    head -n 241 "$root/models/data/nab/machine_temperature_system_failure.csv" | cut -d, -f2
  elif [ "$n_in" -le 7 ]; then
    head -n 241 "$root/models/data/ett/ETTh1.csv" | cut -d, -f2-$((n_in + 1))
  else
    echo "model $model takes $n_in inputs; no bundled series has that many columns" >&2; return 1
  fi
}

is_char_model() {   # metadata "vocab": a character model (edgernn train --task next-char)
  "$python" -c 'import json,struct,sys
f=open(sys.argv[1],"rb"); h=json.loads(f.read(struct.unpack("<Q",f.read(8))[0]))
sys.exit(0 if "vocab" in h.get("__metadata__", {}) else 1)' "$1"
}

# A character model with a fixed seed writes the same text on ARM64 as on x64 (int8: integer products; the sampler's
# PCG32 and exponential are integer / plain double arithmetic), byte for byte.
generate_matches_x64() {
  local target=$1 model=$2 precision=$3 tag
  tag="$(basename "$model" .safetensors)-$precision"
  local flags=(generate --model "$model" --prime "ROMEO:" --length 400 --temperature 0.8 --seed 7 --precision "$precision")
  if [ ! -f "$work/x64-gen-$tag.txt" ]; then
    edgernn_on x64 "${flags[@]}" >"$work/x64-gen-$tag.txt" || return $?
  fi
  edgernn_on "$target" "${flags[@]}" >"$work/$target-gen-$tag.txt" || return $?
  cat "$work/$target-gen-$tag.txt"; echo
  [ "$(wc -c <"$work/x64-gen-$tag.txt")" -gt 400 ] || { echo "x64 wrote too little"; return 1; }
  cmp "$work/x64-gen-$tag.txt" "$work/$target-gen-$tag.txt" || { diff "$work/x64-gen-$tag.txt" "$work/$target-gen-$tag.txt"; return 1; }
  echo "=> $(wc -c <"$work/$target-gen-$tag.txt") bytes, identical to x64"
}

# Same model, same input: the ARM64 output must equal the x64 output within 1e-5 (relative to the value, at least
# absolute), field by field; non-numeric fields must match exactly.
predict_matches_x64() {
  local target=$1 model=$2 precision=$3 tag
  tag="$(basename "$model" .safetensors)-$precision"
  model_input "$model" >"$work/in-$tag.csv" || return 1
  if [ ! -f "$work/x64-$tag.csv" ]; then
    edgernn_on x64 predict --model "$model" --input "$work/in-$tag.csv" --output "$work/x64-$tag.csv" --precision "$precision" || return $?
  fi
  edgernn_on "$target" predict --model "$model" --input "$work/in-$tag.csv" --output "$work/$target-$tag.csv" --precision "$precision" || return $?
  "$python" - "$work/x64-$tag.csv" "$work/$target-$tag.csv" <<'PY'
import sys
a, b = (open(p).read().split("\n") for p in sys.argv[1:3])
assert len(a) == len(b), f"{len(a)} lines on x64, {len(b)} on the target"
numbers, worst = 0, 0.0
for i, (la, lb) in enumerate(zip(a, b), 1):
    fa, fb = la.split(","), lb.split(",")
    assert len(fa) == len(fb), f"line {i}: {len(fa)} vs {len(fb)} fields"
    for x, y in zip(fa, fb):
        try:
            u, v = float(x), float(y)
        except ValueError:
            assert x == y, f"line {i}: '{x}' vs '{y}'"
            continue
        numbers += 1
        d = abs(u - v) / max(1.0, abs(u), abs(v))
        worst = max(worst, d)
        assert d <= 1e-5, f"line {i}: x64 {u!r} vs target {v!r}"
assert numbers > 0, "no numbers in the output"
print(f"=> {numbers} values, worst relative difference {worst:.3g}")
PY
}

demo_shows_forecasts() {   # a short demo run must print forecasts as they arrive: one table row per forecast (seq first)
  local target=$1 rows
  EDGERNN_TIMEOUT=120 edgernn_on "$target" demo --duration 20 >"$work/demo-$target.log" 2>&1
  local rc=$?
  rows=$(grep -cE '^ *[0-9]+ +[0-9]{4}-' "$work/demo-$target.log")
  echo "=> $rows forecast rows; $(grep -m1 -E 'edgernn demo: [0-9]+ forecasts' "$work/demo-$target.log" | cut -c15-)"
  cat "$work/demo-$target.log"
  [ "$rc" -eq 0 ] || return "$rc"
  [ "$rows" -ge 5 ]
}


# --- one file to deploy ------------------------------------------------------------------------------------------
# The C library's own files: what a glibc system always has. Nothing else may be needed (no libstdc++, no libgcc_s,
# no libz/libssl/libicu: Native AOT links its own zlib and loads OpenSSL only if TLS is used, by dlopen; System.IO.Ports'
# native part is linked in from native/serial-ports). linux-vdso/linux-gate are the kernel's, not files.
libc_own='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|linux-vdso\.so\.1)$'

lone_copy() {   # lone_copy x64|arm64: the binary copied into a fresh empty folder; prints its path
  local dir="$work/lone-$1-$RANDOM"
  mkdir "$dir" || return 1
  case "$1" in x64) cp "$x64" "$dir/edgernn" ;; arm64) cp "$arm64" "$dir/edgernn" ;; esac || return 1
  echo "$dir/edgernn"
}

only_libc_needed() {   # x64: ldd on the lone copy; arm64: the NEEDED entries of its dynamic section
  local arch=$1 exe libs bad
  exe=$(lone_copy "$arch") || return 1
  if [ "$arch" = x64 ]; then
    ldd "$exe" || return 1
    if ldd "$exe" | grep -q 'not found'; then echo "a library is not found"; return 1; fi
    libs=$(ldd "$exe" | awk '{ n = $1; sub(".*/", "", n); print n }')
  else
    local readelf=aarch64-linux-gnu-readelf
    command -v "$readelf" >/dev/null || readelf=readelf
    "$readelf" -d "$exe" || return 1
    libs=$("$readelf" -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    # the interpreter the kernel loads it with
    libs="$libs
$("$readelf" -l "$exe" | sed -n 's/.*Requesting program interpreter: .*\/\([^]]*\)\]/\1/p')"
  fi
  libs=$(sort -u <<<"$libs" | sed '/^$/d')
  [ -n "$libs" ] || { echo "no libraries listed"; return 1; }
  bad=$(grep -Ev "$libc_own" <<<"$libs")
  echo "=> needs only $(tr '\n' ' ' <<<"$libs")"
  [ -z "$bad" ] || { echo "needs more than the C library: $bad"; return 1; }
}

# A lone copy of the binary (in an empty folder, run from there, no LD_LIBRARY_PATH) plays ETTh1 into one end of a socat
# pty pair (simulate: System.IO.Ports writes) while another lone copy runs the daemon on the other end (run --source
# serial: System.IO.Ports reads, decodes, forecasts); /metrics must then count the samples read.
lone_binary_reads_serial_pty() {
  local target=$1 arch=x64 exe dir port pids=() rc=1 samples=0
  [ "$target" = x64 ] || arch=arm64
  exe=$(lone_copy "$arch") || return 1
  dir=$(dirname "$exe")
  [ "$(ls -A "$dir")" = edgernn ] || { echo "the folder is not empty besides edgernn"; return 1; }
  port=$((20000 + RANDOM % 20000))
  local run
  case "$target" in
    x64) run=("$exe") ;;
    pi4|pi5) run=(qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "${pi_cpu[$target]}" "$exe") ;;
  esac
  socat -d pty,raw,echo=0,link="$dir/tty-device" pty,raw,echo=0,link="$dir/tty-gateway" 2>"$dir/socat.log" & pids+=($!)
  for _ in $(seq 50); do [ -e "$dir/tty-device" ] && [ -e "$dir/tty-gateway" ] && break; sleep 0.1; done
  (cd "$dir" && exec env -u LD_LIBRARY_PATH timeout 120 "${run[@]}" run --source "serial:$dir/tty-gateway@115200" \
      --model "$root/models/etth1_ot.safetensors" --stream ett --metrics "127.0.0.1:$port" --state-dir "$dir/state" \
      >"$dir/run.log" 2>&1) & pids+=($!)
  (cd "$dir" && exec env -u LD_LIBRARY_PATH timeout 120 "${run[@]}" simulate --input "$root/models/data/ett/ETTh1.csv" \
      --to "serial:$dir/tty-device@115200" --rate 40 --loop >"$dir/simulate.log" 2>&1) & pids+=($!)
  for _ in $(seq 90); do
    sleep 1
    samples=$(curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | sed -n 's/^edgernn_samples_total{stream="ett"} \([0-9]*\).*/\1/p')
    if [ "${samples:-0}" -ge 40 ]; then rc=0; break; fi
    if grep -qs "Unable to load shared library" "$dir/run.log" "$dir/simulate.log"; then break; fi   # the old failure
  done
  curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -E '^edgernn_(samples_total|source_frames_total|source_bytes_total)' || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  echo "=> ${samples:-0} samples read from a socat pty by edgernn alone in $(basename "$dir")"
  echo "--- run.log"; tail -n 20 "$dir/run.log"; echo "--- simulate.log"; tail -n 5 "$dir/simulate.log"
  if grep -q "Unable to load shared library" "$dir/run.log" "$dir/simulate.log"; then return 1; fi
  return "$rc"
}

# The default x64 build is x86-64-v3: on a CPU without AVX2 it must stop at once, non-zero, saying why (the .NET
# runtime's own check, before any of our code runs), rather than crash later on an illegal instruction.
default_x64_refuses_old_cpu() {
  local out rc
  out=$(timeout 120 qemu-x86_64 -cpu "$old_x64_cpu" "$x64" version 2>&1); rc=$?
  echo "=> exit $rc: $(grep -m1 -i 'instruction set' <<<"$out")"
  echo "$out"
  [ "$rc" -ne 0 ] && grep -q "required instruction sets are not supported" <<<"$out"
}

# --- run ---------------------------------------------------------------------------------------------------------
echo "== publish-check: published binaries (artifacts/), ARM64 under qemu-aarch64 as Pi 4 (cortex-a72) and Pi 5 (cortex-a76), the baseline x64 build under qemu-x86_64 as a pre-AVX core"
check "publish linux-x64: no IL2xxx/IL3xxx in publish log" publish_log_clean linux-x64
check "publish linux-arm64: no IL2xxx/IL3xxx in publish log" publish_log_clean linux-arm64
check "archive linux-x64: sha256sum -c, GNU tar, ELF x86-64, < 12 MB" archive_with_system_tools linux-x64 3e00
check "archive linux-arm64: sha256sum -c, GNU tar, ELF aarch64, < 12 MB" archive_with_system_tools linux-arm64 b700

check "x64: lone binary needs only the C library (ldd)" only_libc_needed x64
check "arm64: lone binary needs only the C library (readelf NEEDED)" only_libc_needed arm64
for target in x64 pi4 pi5; do
  check "$target: lone binary reads a socat pty (simulate -> run)" lone_binary_reads_serial_pty "$target"
done

models=()
for m in "$root"/models/*.safetensors; do [ -f "$m" ] && models+=("$m"); done
if [ ${#models[@]} -eq 0 ]; then
  make_model "$work/generated-lstm.safetensors" && models+=("$work/generated-lstm.safetensors")
fi

check "x64 default (x86-64-v3) on a $old_x64_cpu core: refuses with the ISA message" default_x64_refuses_old_cpu
for target in x64 old-x64 pi4 pi5; do
  check "$target: version" version_check "$target"
  check "$target: self-test" self_test "$target"
done
for target in old-x64 pi4 pi5; do
  for m in "${models[@]}"; do
    for precision in float32 int8; do
      check "$target: predict $(basename "$m" .safetensors) $precision = x64" predict_matches_x64 "$target" "$m" "$precision"
    done
  done
  for m in "${models[@]}"; do
    if is_char_model "$m"; then
      check "$target: generate $(basename "$m" .safetensors) int8 --seed 7 = x64" generate_matches_x64 "$target" "$m" int8
    fi
  done
  check "$target: demo --duration 20 shows forecasts" demo_shows_forecasts "$target"
done

echo "publish-check: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
  printf '  failed: %s\n' "${failures[@]}"
  exit 1
fi

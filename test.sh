#!/usr/bin/env bash
# Everything the tests need, then every test. On a fresh Debian or Ubuntu machine with only the .NET SDK:
#   ./test.sh
# It installs the apt packages the tests use (PyTorch as the reference, socat for ptys, mosquitto as a real broker,
# qemu and a cross toolchain for the ARM64 binary, cmake for the C firmware tests), then runs, in order:
#   1. the firmware-bridge C tests (CMake + CTest)
#   2. every .NET test project: dotnet test EdgeRnn.sln
#   3. Native AOT publish for linux-x64 and linux-arm64 through publish.ps1, and the ARM64 binary under qemu
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

packages=(python3-torch python3-numpy socat mosquitto qemu-user clang lld gcc-aarch64-linux-gnu libc6-dev-arm64-cross cmake g++ make systemd)
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Optional: clang's fuzzer runtime turns on the bounded libFuzzer run of the C decoder (its name is Debian 12's).
if ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed" \
   && apt-cache show libclang-rt-14-dev >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive ${sudo_cmd:-} apt-get install -y -qq --no-install-recommends libclang-rt-14-dev >/dev/null || true
fi
export EDGERNN_PYTHON=/usr/bin/python3
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

echo "== 1. firmware-bridge C tests"
if [ -f firmware-bridge/CMakeLists.txt ]; then
  cmake -S firmware-bridge -B firmware-bridge/build -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build firmware-bridge/build -j2 >/dev/null
  (cd firmware-bridge/build && ctest --output-on-failure) 2>&1 | tee "$root/test-results-c.log"
fi

echo "== 2. .NET tests"
set +e
dotnet test EdgeRnn.sln -c Release 2>&1 | tee "$root/test-results.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then echo "== .NET tests failed (exit $rc)"; exit "$rc"; fi

echo "== 3. Native AOT publish and ARM64 under qemu"
if [ -x tests/publish-check.sh ]; then
  tests/publish-check.sh 2>&1 | tee "$root/test-results-publish.log"
fi

# One closing line over all three runners (each already failed the script above if anything failed).
passed=0; failed=0; skipped=0
read -r p f < <(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$root/test-results-c.log" 2>/dev/null | tail -n 1)
passed=$((passed + ${p:-0} - ${f:-0})); failed=$((failed + ${f:-0}))
while read -r f p s; do passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s)); done < <(
  sed -n 's/^[A-Za-z]*!  *- Failed: *\([0-9]*\), Passed: *\([0-9]*\), Skipped: *\([0-9]*\),.*/\1 \2 \3/p' "$root/test-results.log")
read -r p f < <(sed -n 's/^publish-check: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$root/test-results-publish.log" 2>/dev/null | tail -n 1)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
echo "== all tests passed"
echo "$passed passed, $failed failed, $skipped skipped"

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

packages=(python3-torch python3-numpy socat mosquitto qemu-user clang lld gcc-aarch64-linux-gnu libc6-dev-arm64-cross cmake g++ make)
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
  (cd firmware-bridge/build && ctest --output-on-failure)
fi

echo "== 2. .NET tests"
set +e
dotnet test EdgeRnn.sln -c Release 2>&1 | tee "$root/test-results.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then echo "== .NET tests failed (exit $rc)"; exit "$rc"; fi

echo "== 3. Native AOT publish and ARM64 under qemu"
if [ -x tests/publish-check.sh ]; then
  tests/publish-check.sh
fi
echo "== all tests passed"

#!/usr/bin/env bash
# Fuzzes the checkpoint readers (core/pth.h, core/safetensors.h) with libFuzzer: configures a clang-14 build tree with -DCAGE_FUZZ=ON,
# builds fuzz_pth and runs it for CAGE_FUZZ_SECONDS (default 20) on a seed corpus holding maxvit_small.pth.
# Usage: scripts/fuzz.sh [build dir, default build-fuzz]
# Exits 77 (a skip for ctest) when clang-14 or its libFuzzer runtime is missing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$repo/build-fuzz}
cc=${CAGE_FUZZ_CC:-clang-14}
cxx=${CAGE_FUZZ_CXX:-clang++-14}
seconds=${CAGE_FUZZ_SECONDS:-20}

if ! command -v "$cxx" >/dev/null 2>&1 || ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz.sh: SKIPPED: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
# The compiler alone is not enough: libFuzzer and ASan come with the compiler-rt package.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
  echo "fuzz.sh: SKIPPED: $cxx cannot link -fsanitize=fuzzer,address (apt-get install libclang-rt-14-dev)"
  exit 77
fi

args=(-S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx"
      -DCAGE_FUZZ=ON -DCAGE_CUDA=OFF -DCAGE_EMU=OFF -DCAGE_BENCH=OFF -DCAGE_TESTS=OFF
      -DCAGE_FUZZ_SECONDS="$seconds")
[[ -n "${CAGE_FUZZ_SEED_PTH:-}" ]] && args+=(-DCAGE_FUZZ_SEED_PTH="$CAGE_FUZZ_SEED_PTH")
command -v ninja >/dev/null 2>&1 && args+=(-G Ninja)
cmake "${args[@]}"
cmake --build "$build" --target fuzz_pth fuzz_pth_seeds fuzz_safetensors fuzz_decode -j "${CAGE_FUZZ_JOBS:-2}"
status=0
ctest --test-dir "$build" -R "fuzz_(pth|safetensors|decode)" --output-on-failure || status=$?
# libFuzzer's summary (executions, corpus growth) from the test log.
grep -hE "^Done [0-9]+ runs|^stat::|^SUMMARY|^artifact_prefix|Test unit written" "$build/Testing/Temporary/LastTest.log" || true
exit "$status"

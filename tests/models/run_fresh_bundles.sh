#!/usr/bin/env bash
# Makes a fresh set of MaxViT golden bundles with torchvision's own model (tools/reference/make_bundles.py)
# and checks them with the C++ reference test, which discovers bundles from their metadata alone.
# Fails when the generator or the test fails, or when a written bundle was not checked (fewer than 2 at least):
# a test that silently skips a directory would otherwise pass.
#
# usage: run_fresh_bundles.sh PYTHON MAKE_BUNDLES_PY TEST_BINARY [make_bundles.py options...]
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 PYTHON MAKE_BUNDLES_PY TEST_BINARY [make_bundles.py options...]" >&2
  exit 2
fi
python=$1 generator=$2 binary=$3
shift 3

dir=$(mktemp -d "${TMPDIR:-/tmp}/cage_fresh_bundles.XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$python" "$generator" --out "$dir" "$@"
written=$(find "$dir" -maxdepth 1 -name '*.safetensors' | wc -l)

log="$dir/test.log"
status=0
CAGE_REFERENCE_DIR="$dir" "$binary" --gtest_filter='MaxVitReference.*:Devices/MaxVitBundles.*' >"$log" 2>&1 || status=$?
cat "$log"
if [ "$status" -ne 0 ]; then
  echo "run_fresh_bundles: the reference test failed (exit $status)" >&2
  exit 1
fi
# "[reference <device>] <bundle> <output> ..." lines: every written bundle checked on every device.
checked=$({ grep '^\[reference cpu\]' "$log" || true; } | awk '{print $3}' | sort -u | wc -l)
checked_emu=$({ grep '^\[reference emu\]' "$log" || true; } | awk '{print $3}' | sort -u | wc -l)
echo "run_fresh_bundles: $written bundles written, $checked checked on cpu, $checked_emu on emu"
if [ "$checked" -lt 2 ] || [ "$checked" -lt "$written" ]; then
  echo "run_fresh_bundles: expected every written bundle (and at least 2) to be checked" >&2
  exit 1
fi
if "$binary" --gtest_list_tests | grep -q '/emu  '; then
  if [ "$checked_emu" -lt "$written" ]; then
    echo "run_fresh_bundles: expected every written bundle to be checked on emu too" >&2
    exit 1
  fi
fi

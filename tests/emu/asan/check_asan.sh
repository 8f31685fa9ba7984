#!/bin/bash
# Passes only if AddressSanitizer reports the probe's out-of-bounds writes (past a cudaMalloc'd buffer, past dynamic
# shared memory) as heap-buffer-overflows at the kernels' source lines, and the correct kernels run without a report.
# Usage: check_asan.sh <cage_emu_asan_probe> <asan_kernels.cu>
set -u
probe=$1
kernels=$2
expect_report() {  # mode, marker comment in the .cu file
  local line where report status
  line=$(grep -n "$2" "$kernels" | head -1 | cut -d: -f1)
  where="$(basename "$kernels"):$line"
  report=$(ASAN_OPTIONS=detect_leaks=0 "$probe" "$1" 2>&1)
  status=$?
  if [ $status -eq 0 ]; then
    echo "FAIL ($1): the out-of-bounds kernel ran without an AddressSanitizer report"; echo "$report"; exit 1
  fi
  if ! grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" <<<"$report"; then
    echo "FAIL ($1): no heap-buffer-overflow report"; echo "$report"; exit 1
  fi
  if ! grep -q "$where" <<<"$report"; then
    echo "FAIL ($1): the report does not name $where"; echo "$report"; exit 1
  fi
  echo "$1: out-of-bounds write reported at $where"
}
expect_report oob "BUG ON PURPOSE: i == n"
expect_report smem "SHARED BUG ON PURPOSE"

clean=$("$probe" clean 2>&1)
status=$?
if [ $status -ne 0 ] || grep -q "AddressSanitizer" <<<"$clean"; then
  echo "FAIL: the correct kernels did not run clean (exit $status)"; echo "$clean"; exit 1
fi
echo "correct kernels ran clean"

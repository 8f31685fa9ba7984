#!/usr/bin/env bash
# cage_train and cage_eval end to end on small generated fixtures in the AffectNet and EMOTIC layouts (each with
# a corrupt or missing image: the run goes on and the counts are reported), and Ctrl-C during training.
# Usage: run_binaries.sh PYTHON CAGE_TRAIN CAGE_EVAL
set -euo pipefail
python=$1 train=$2 eval=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" "$here/tools/reference/make_affect_fixtures.py" "$work/data"
tiny="$here/tests/train/tiny_model.json"
pipe="resize(32,32) normalize(imagenet)"
fail() { echo "FAIL: $*"; exit 1; }

# AffectNet, combined protocol: 48 usable images of 50 rows (1 corrupt, 1 missing).
an="affectnet:$work/data/affectnet/train.csv,$work/data/affectnet/train_set/images"
"$train" --data "$an" --mode combined --model-config "$tiny" --epochs 2 --batch 8 --lr 1e-3 --holdout 0.25 \
  --train-pipeline "hflip(0.5) $pipe" --eval-pipeline "$pipe" --run-dir "$work/an" --workers 2 > "$work/an.log" 2>&1 \
  || { cat "$work/an.log"; fail "cage_train on AffectNet"; }
cat "$work/an.log"
grep -q "data: .* (50 samples)" "$work/an.log" || fail "AffectNet index should list 50 rows"
grep -qi "missing" "$work/an.log" && grep -qi "corrupt" "$work/an.log" || fail "no warning for the missing / corrupt image"
[ "$(wc -l < "$work/an/metrics.jsonl")" -eq 2 ] || fail "metrics.jsonl should have 2 lines"
"$eval" --weights "$work/an/best.safetensors" --data "$an" --pipeline "$pipe" --json "$work/an_eval.json" \
  --report "$work/an_report" > "$work/an_eval.log" 2>&1 || { cat "$work/an_eval.log"; fail "cage_eval on AffectNet"; }
cat "$work/an_eval.log"
grep -q "skipped 2 samples" "$work/an_eval.log" || fail "cage_eval should report 2 skipped samples"
"$python" -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['per_class'] and 'valence' in m and 'pooled' in m, m.keys()" \
  "$work/an_eval.json" || fail "metrics JSON lacks classification or valence/arousal"
ls "$work/an_report"/*.png > /dev/null || fail "no pictures in the report"

# The CUDA kernels end to end: the same run on the CUDA emulator (--device emu) follows the CPU run (the same seed,
# data order and augmentation): one epoch's losses agree to float32 noise, and its weights evaluate alike on both.
for dev in cpu emu; do
  "$train" --data "$an" --mode combined --model-config "$tiny" --epochs 1 --batch 8 --lr 1e-3 --holdout 0.25 \
    --train-pipeline "hflip(0.5) $pipe" --eval-pipeline "$pipe" --run-dir "$work/dev_$dev" --device "$dev" \
    > "$work/dev_$dev.log" 2>&1 || { cat "$work/dev_$dev.log"; fail "cage_train --device $dev"; }
done
for dev in cpu emu; do
  "$eval" --weights "$work/dev_emu/best.safetensors" --data "$an" --pipeline "$pipe" --device "$dev" \
    --json "$work/dev_eval_$dev.json" > "$work/dev_eval_$dev.log" 2>&1 \
    || { cat "$work/dev_eval_$dev.log"; fail "cage_eval --device $dev"; }
done
grep -q "^device: emu" "$work/dev_emu.log" || { cat "$work/dev_emu.log"; fail "cage_train --device emu did not run on emu"; }
"$python" - "$work" <<'PY' || fail "the emu run does not follow the cpu run"
import json, sys
w = sys.argv[1]
cpu = [json.loads(l) for l in open(f"{w}/dev_cpu/metrics.jsonl")]
emu = [json.loads(l) for l in open(f"{w}/dev_emu/metrics.jsonl")]
for key in ("train_loss", "holdout_loss"):
    a, b = cpu[-1][key], emu[-1][key]
    print(f"cpu vs emu {key}: {a:.7f} {b:.7f} (diff {abs(a - b):.2e})")
    assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), key
ec, ee = (json.load(open(f"{w}/dev_eval_{d}.json")) for d in ("cpu", "emu"))
assert ec["accuracy"] == ee["accuracy"], (ec["accuracy"], ee["accuracy"])
for dim in ("valence", "arousal"):
    a, b = ec[dim]["rmse"], ee[dim]["rmse"]
    print(f"cage_eval cpu vs emu {dim} RMSE: {a:.7f} {b:.7f}")
    assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), dim
PY

# EMOTIC: 24 usable people, 1 missing image; multi-label + V/A/D.
em="emotic:$work/data/emotic/emotic.csv,$work/data/emotic"
"$train" --data "$em" --mode emotic --model-config "$tiny" --epochs 1 --batch 8 --lr 1e-3 --holdout 0 \
  --train-pipeline "$pipe" --eval-pipeline "$pipe" --run-dir "$work/em" > "$work/em.log" 2>&1 \
  || { cat "$work/em.log"; fail "cage_train on EMOTIC"; }
cat "$work/em.log"
"$eval" --weights "$work/em/best.safetensors" --data "$em" --pipeline "$pipe" --json "$work/em_eval.json" \
  > "$work/em_eval.log" 2>&1 || { cat "$work/em_eval.log"; fail "cage_eval on EMOTIC"; }
cat "$work/em_eval.log"
grep -q "skipped 1 samples" "$work/em_eval.log" || fail "cage_eval should report 1 skipped sample"

# bf16 mixed precision from the command line: recorded in config.json, refused on another device with a clear line.
if grep -q avx512_bf16 /proc/cpuinfo; then
  "$train" --data "$an" --mode combined --model-config "$tiny" --epochs 1 --batch 8 --lr 1e-3 --holdout 0.25 \
    --train-pipeline "$pipe" --eval-pipeline "$pipe" --run-dir "$work/b16" --precision bf16 > "$work/b16.log" 2>&1 \
    || { cat "$work/b16.log"; fail "cage_train --precision bf16"; }
  grep -q "^precision: bf16" "$work/b16.log" || fail "cage_train --precision bf16 did not say so"
  grep -q '"precision": "bf16"' "$work/b16/config.json" || fail "config.json does not record the precision"
  if "$train" --data "$an" --mode combined --model-config "$tiny" --epochs 1 --batch 8 --run-dir "$work/b16emu" \
      --precision bf16 --device emu 2> "$work/b16emu.log" > /dev/null; then
    fail "bf16 on the emu device was accepted"
  fi
  grep -q "CPU only" "$work/b16emu.log" || { cat "$work/b16emu.log"; fail "no clear error for bf16 off the CPU"; }
fi

# A bad dataset is one clear line and a non-zero exit.
if "$train" --data "csv:$work/nothing.csv" --model-config "$tiny" --run-dir "$work/bad" 2> "$work/bad.log"; then
  fail "a missing CSV was accepted"
fi
cat "$work/bad.log"

# Ctrl-C: the run saves its state, exits 130, and --resume finishes it.
"$train" --data "$an" --mode combined --model-config "$tiny" --epochs 400 --batch 8 --holdout 0.25 \
  --train-pipeline "$pipe" --eval-pipeline "$pipe" --run-dir "$work/int" > "$work/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -f "$work/int/state.safetensors" ] && break; sleep 0.1; done
sleep 1
kill -INT "$pid"
status=0; wait "$pid" || status=$?
cat "$work/int.log" | tail -3
[ "$status" -eq 130 ] || fail "Ctrl-C should exit with 130, got $status"
grep -q "interrupted: state saved" "$work/int.log" || fail "no 'state saved' message"
"$python" - "$work/int/state.safetensors" <<'PY' || fail "state.safetensors does not load"
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; h = json.loads(raw[8:8 + n])
assert any(k.startswith("model.") for k in h) and any(k.startswith("optim.") for k in h)
print("state.safetensors:", len(h) - 1, "tensors, position", h["__metadata__"]["position"])
PY
echo "PASS: binaries on AffectNet and EMOTIC fixtures, bf16 mixed precision, Ctrl-C"

#!/usr/bin/env bash
# The built-in AdaIN model (any picture as a style), trained on the CPU.
# Half-width decoder (the CPU model), photos + every painting but the held-out 10 %.
# Two stages on one checkpoint: STAGE1_STEPS at 128 px (batch 8), then up to STEPS at
# 256 px (batch 4) so strokes are learnt at a scale that reads at 640x360.
# Resumable across machines: the run folder's checkpoint if there is one, else the
# small weights-only state kept in the repository ($STATE, overwritten in place).
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/adain}
STATE=${STATE:-state/adain-decoder.pt}
STAGE1_STEPS=${STAGE1_STEPS:-4500}
STEPS=${STEPS:-6500}
train() {
  local resume=()
  if [ -f "$OUT/checkpoint.pt" ]; then resume=(--resume "$OUT/checkpoint.pt")
  elif [ -f "$STATE" ]; then resume=(--resume "$STATE"); fi
  stylecam train adain --style-dir "$DATA/styles" "$DATA/styles_extra" --content-dir "$DATA/content" \
    --out "$OUT" --state "$STATE" --decoder-width 0.5 --style-size 512 --style-windows 1 \
    --lr 2e-4 --checkpoint-every 250 --checkpoint-minutes 10 --sample-every 500 --seed 1 \
    --threads ${THREADS:-2} --device cpu ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} "${resume[@]}" --json "$@"
}
done_steps() {  # steps already in the checkpoint this run would resume from (0: none)
  local ck="$OUT/checkpoint.pt"; [ -f "$ck" ] || ck="$STATE"; [ -f "$ck" ] || { echo 0; return; }
  python -c "import sys, torch; print(torch.load(sys.argv[1], weights_only=True)['step'])" "$ck"
}
if [ "$(done_steps)" -lt "$STAGE1_STEPS" ]; then
  summary=$(train --image-size 128 --batch 8 --steps "$STAGE1_STEPS")
  if grep -q '"stopped_early": true' <<<"$summary"; then
    echo "stage 1 stopped early; run this script again to continue" >&2
    exit 0
  fi
fi
train --image-size 256 --batch 4 --steps "$STEPS"

#!/usr/bin/env bash
# The CPU real-time tier: one fast CIN net holding the 12 built-in styles.
# Reproduces the shipped model from ../shared/data (or any photo folder + the
# same paintings). Two stages on one checkpoint: STAGE1_STEPS steps of the style
# recipe, then fine-tuning up to STEPS with the warp-consistency loss against
# flicker (export/temporal_loss.py, weight TEMPORAL_WEIGHT).
# Resumable: run it again and it continues from the checkpoint in $OUT.
set -euo pipefail
DATA=${DATA:-../shared/data}
S=$DATA/styles
OUT=${OUT:-runs/cpu-cin-12}
STAGE1_STEPS=${STAGE1_STEPS:-7500}
STEPS=${STEPS:-9500}
TEMPORAL_WEIGHT=${TEMPORAL_WEIGHT:-1e7}
train() {
  local resume=()
  [ -f "$OUT/checkpoint.pt" ] && resume=(--resume "$OUT/checkpoint.pt")
  stylecam train cin \
    --styles $S/starry_night.jpg $S/great_wave.jpg $S/the_scream.jpg $S/composition_vii.jpg \
             $S/udnie.jpg $S/the_kiss.jpg $S/grande_jatte.jpg $S/water_lilies.jpg \
             $S/yellow_red_blue.jpg $S/woman_with_a_hat.jpg $S/shipwreck_of_the_minotaur.jpg $S/mondrian_composition.jpg \
    --content-dir "$DATA/content" --out "$OUT" \
    --arch fast --widths 16,48 --res-blocks 4 \
    --image-size 128 --style-size 512 --batch 4 --lr 2e-3 \
    --content-layers relu3_1 --style-layers relu1_1,relu2_1,relu3_1,relu4_1 \
    --style-weight 1e-6 --tv-weight 1e5 \
    --checkpoint-every 250 --sample-every 500 --seed 1 \
    --threads 2 --device cpu ${MAX_MINUTES:+--max-minutes $MAX_MINUTES} "${resume[@]}" --json "$@"
}
summary=$(train --steps "$STAGE1_STEPS")
if grep -q '"stopped_early": true' <<<"$summary"; then
  echo "stage 1 stopped early; run this script again to continue" >&2
  exit 0
fi
train --steps "$STEPS" --temporal-weight "$TEMPORAL_WEIGHT"

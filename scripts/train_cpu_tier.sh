#!/usr/bin/env bash
# The CPU real-time tier: one fast CIN net holding the 12 built-in styles.
# Reproduces release 8 from ../shared/data (or any photo folder + the same paintings); the shipped
# release 10 goes on from it: R9W=1 (below), then scripts/tune_release.sh.
# Two stages on one checkpoint:
#   1. STAGE1_STEPS at 128 px crops (batch 8) of photos scaled to a 200 px short side: the colour
#      mapping and coarse texture, cheaply;
#   2. on to STEPS at 256 px crops (batch 4) of photos at a 400 px short side, the scale the net
#      runs at (640x360 .. 960x540), so strokes are learnt at the size they are seen; with the
#      warp-consistency loss against flicker (export/temporal_loss.py) from its first step, so any
#      checkpoint is shippable, its weight set per phase (PHASES, below): release 7;
#   3. release 8: a fine-tune of release 7 averaged with it (the end of this script).
# RECIPE picks what it reproduces: release8 (the default; the shipped release's start) or r9c (2026-12-04, not
# shipped): stages 1 and 2 up to step 9,600 (the first eight phases below, release 6's point) on a net
# with 48 channels at 1/4 resolution (--widths 12,48), from its first step; on one H200 (bf16,
# DATA=.gpu/data from scripts/gpu_pack.py --no-extra, 853 photos) 7.4 min beside two other nets.
# RECIPE=wide (in training, 2026-12-04; not shipped) is release 8's whole recipe (every phase, the tune
# and the average) on r9c's net, its small state in state/cpu-tier-w.pt: run it again, on any
# machine, and it goes on from wherever the last run stopped (its state file holds the step).
# Resumable: run it again and it continues from $OUT/checkpoint.pt, or from the small weights-only
# copy in $STATE (kept in the repository) on a fresh machine.
# MAX_MINUTES bounds the whole script (every stage and phase together), not each train call.
# DEADLINE (epoch seconds), where a caller sets it, bounds several runs of this script instead.
# DEVICE=cuda PRECISION=bf16 runs the same recipe on a GPU (scripts/gpu_train.sh cpu-tier);
# NET picks the architecture. Release 5 (release 6's first 8,700 steps): --widths 12,32 --res-blocks 4 --padding zeros, the
# whole recipe from scratch on one H200 in 5.6 min (DEVICE=cuda); release 4 was --widths 16,48 with
# reflect padding until step 7,366, 6.08 h on 2 CPU cores.
set -euo pipefail
DATA=${DATA:-../shared/data}
S=$DATA/styles
STAGE1_STEPS=${STAGE1_STEPS:-1000}
RECIPE=${RECIPE:-release8}
r9c_net="--widths 12,48 --res-blocks 4 --padding zeros"  # r9c's net, trained on by RECIPE=wide
case "$RECIPE" in
  release8) STEPS=${STEPS:-16265} ;;
  r9c) STEPS=${STEPS:-9600}; NET=${NET:-$r9c_net} ;;
  wide) STEPS=${STEPS:-16265}; NET=${NET:-$r9c_net}; OUT=${OUT:-runs/cpu-tier-w}; STATE=${STATE:-state/cpu-tier-w.pt} ;;
  *) echo "train_cpu_tier: RECIPE=$RECIPE is not a recipe; use release8 (the shipped release's start), r9c or wide" >&2; exit 2 ;;
esac
OUT=${OUT:-runs/cpu-cin-12}
STATE=${STATE:-state/cpu-cin-12.pt}
STYLE_WEIGHT=${STYLE_WEIGHT:-1.5e-6}
TV_WEIGHT=${TV_WEIGHT:-1e5}
CONTENT_LAYERS=${CONTENT_LAYERS:-relu3_1}
CONTENT_WEIGHT=${CONTENT_WEIGHT:-1}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-cpu}
PRECISION=${PRECISION:-auto}
NET=${NET:---widths 12,32 --res-blocks 4 --padding zeros}
NET="$NET${ANTIALIAS:+ --antialias $ANTIALIAS}"  # ANTIALIAS=down|full: the blurs of nets.Blur, from the first step
NET="$NET${UPSAMPLE:+ --upsample $UPSAMPLE}"  # UPSAMPLE=bilinear: nets.Bilinear2 in the decoder (a shuffle state switches over)
DEADLINE=${DEADLINE:-${MAX_MINUTES:+$(( $(date +%s) + ${MAX_MINUTES%.*} * 60 ))}}
minutes_left() {  # for --max-minutes: what is left of MAX_MINUTES (at least a few seconds)
  if [ -n "$DEADLINE" ]; then
    local s=$(( DEADLINE - $(date +%s) ))
    (( s < 6 )) && s=6
    echo "--max-minutes $(awk -v s="$s" 'BEGIN{printf "%.2f", s/60}')"
  fi
}
train() {
  local resume=()
  if [ -f "$OUT/checkpoint.pt" ]; then resume=(--resume "$OUT/checkpoint.pt")
  elif [ -f "$STATE" ]; then resume=(--resume "$STATE"); fi
  stylecam train cin \
    --styles $S/starry_night.jpg $S/great_wave.jpg $S/the_scream.jpg $S/composition_vii.jpg \
             $S/udnie.jpg $S/the_kiss.jpg $S/grande_jatte.jpg $S/water_lilies.jpg \
             $S/yellow_red_blue.jpg $S/woman_with_a_hat.jpg $S/shipwreck_of_the_minotaur.jpg $S/mondrian_composition.jpg \
    --content-dir "$DATA/content" --out "$OUT" --state "$STATE" \
    --arch fast $NET --subpixel-up \
    --style-size 512 --lr 2e-3 \
    --content-layers "$CONTENT_LAYERS" --content-weight "$CONTENT_WEIGHT" --style-layers relu1_1,relu2_1,relu3_1,relu4_1 \
    --style-weight "$STYLE_WEIGHT" --tv-weight "$TV_WEIGHT" \
    --checkpoint-every 250 --checkpoint-minutes 10 --sample-every 500 --seed 1 \
    --threads "$THREADS" --device "$DEVICE" --precision "$PRECISION" $(minutes_left) "${resume[@]}" --json "$@"
}
stop_if_early() {  # after a train call: a run stopped by MAX_MINUTES/DEADLINE ends the script, to be run again
  if grep -q '"stopped_early": true' <<<"$summary"; then
    echo "stopped early in $1; run this script again to continue" >&2
    exit 0
  fi
}
summary=$(train --steps "$STAGE1_STEPS" --image-size 128 --content-size 200 --batch 8)
stop_if_early "stage 1"
# Stage 2, phase by phase: "end step:anti-flicker weight[:option=value,...]", the options passed on as
# --option value (train --help); a list value is written with ';' (swd-layers=relu2_1;relu3_1). Release 3 was made by the first three: 1e7 to step 4,342 (release
# 2), 3e7 to 5,268 (flicker fell below release 1's but the styles weakened: great_wave 0.37 > the
# 0.35 bar), then 1.5e7 on (shipped at step 6,736). Then 2.2e7 to 7,366 (stopped: parking-lot flicker
# did not move), and release 4: noise on the anti-flicker pair's second frame (--temporal-noise),
# with padding inside the convs (--padding zeros: no Pad passes at run time; the net learns its
# borders here). Release 5 (NET above) has zero padding from its first step and went through the
# same phases.
# Release 6 is release 5 (step 8,700) fine-tuned with a sliced Wasserstein style term beside
# the Gram one (--swd-weight): 500 steps at the last anti-flicker setting, then 400 with more of it
# (8e7, noise 0.04) to win back the flicker the stronger colours brought.
# Release 7 goes on from release 6 with three times the SWD weight, winning the flicker back with more
# anti-flicker weight (1e8, 1.2e8, then 1.5e8 at noise 0.05), then content and Gram style weights raised
# (a phase's options come after the script's own, so they override CONTENT_WEIGHT and STYLE_WEIGHT) to
# hold the summed style ratio while the low layers sharpen. Steps 9,600-11,500 ran on 2 CPU cores; the
# last 4,765 on a lent H100 (bf16, resumed from the weights-only state at 11,500, so Adam restarted).
default_phases=$([ -z "${PHASES:-}" ] && [ "$RECIPE" != r9c ] && echo 1 || echo 0)
# Every recipe shares the phases to 9,200 and release 6's last setting (to 9,600 in release 8's and
# wide's; to $STEPS, 9,600, in r9c's, which ends there).
early="4342:1e7 5268:3e7 6736:1.5e7 7366:2.2e7 8300:1.5e7:temporal-noise=0.015,padding=zeros 8700:3e7:temporal-noise=0.03,padding=zeros 9200:3e7:temporal-noise=0.03,padding=zeros,swd-weight=1e5"
release6_last="8e7:temporal-noise=0.04,padding=zeros,swd-weight=1e5"
[ "$RECIPE" = r9c ] && PHASES=${PHASES:-"$early $STEPS:$release6_last"}
PHASES=${PHASES:-"$early 9600:$release6_last 10000:1e8:temporal-noise=0.05,padding=zeros,swd-weight=3e5 10800:1.2e8:temporal-noise=0.05,padding=zeros,swd-weight=3e5 11200:1.5e8:temporal-noise=0.05,padding=zeros,swd-weight=3e5,content-weight=1.5 11500:1.5e8:temporal-noise=0.05,padding=zeros,swd-weight=3e5,content-weight=1.5,style-weight=2.2e-6 $STEPS:1.5e8:temporal-noise=0.05,padding=zeros,swd-weight=3e5,content-weight=1.5,style-weight=2.2e-6"}
stage2() {  # "end step:anti-flicker weight[:option=value,...]": one stage-2 phase's training call
  local end weight opts opt v extra=()
  IFS=: read -r end weight opts <<<"$1"
  for opt in ${opts//,/ }; do v=${opt#*=}; extra+=("--${opt%%=*}" "${v//;/,}"); done
  train --steps "$end" --image-size 256 --content-size 400 --batch 4 --temporal-weight "$weight" "${extra[@]}"
}
fine_tune() {  # DIR FROM LABEL PHASE...: stage-2 phases in their own run folder $OUT/DIR, started
  # from the state FROM (weights only, Adam afresh) unless DIR holds a run already or its small state
  # (FT_STATE, else DIR/state.pt) is there; $summary is the last phase's
  local dir=$OUT/$1 from=$2 label=$3 phase state=${FT_STATE:-$OUT/$1/state.pt}
  shift 3
  mkdir -p "$dir"
  [ -f "$dir/checkpoint.pt" ] || [ -f "$state" ] || cp "$from" "$state"
  for phase in "$@"; do
    summary=$(OUT=$dir; STATE=$state; stage2 "$phase")
    stop_if_early "$label"
  done
}
for phase in $PHASES; do
  summary=$(stage2 "$phase")
  echo "$summary"
  stop_if_early "a phase of stage 2"
done
# Release 8 (2026-11-27): candidate d, release 7 fine-tuned from its weights alone (Adam afresh, as
# `gpu_train.sh cpu-tier-tune` did on a lent H100, on DATA=.gpu/data) to TUNE_STEPS at TUNE_PHASE,
# then averaged weight by weight with release 7 (`stylecam average`, AVERAGE_WEIGHTS: release 7's,
# d's): d's low-layer texture and steadiness, with content back under the bar (d alone: 1.51x
# release 1's). It follows the default PHASES only (a caller's own PHASES is a fine-tune of its
# own); AVERAGE=1 forces it, AVERAGE=0 skips it. The shipped file is exported from
# $OUT/release8/checkpoint.pt (scripts/ship_cpu_tier.sh with RUN=$OUT/release8).
[ "${AVERAGE:-$default_phases}" = 1 ] || exit 0
if [ ! -f "$OUT/release8/checkpoint.pt" ]; then
  TUNE_STEPS=${TUNE_STEPS:-19800}
  TUNE_PHASE=${TUNE_PHASE:-"3e8:temporal-noise=0.08,padding=zeros,swd-weight=1e6,content-weight=2.0,style-weight=2.2e-6"}
  AVERAGE_WEIGHTS=${AVERAGE_WEIGHTS:-"0.2 0.8"}
  # the tune's small state: in the repository for RECIPE=wide, whose tune spans CPU sittings
  TUNE_STATE=${TUNE_STATE:-$([ "$RECIPE" = wide ] && echo state/cpu-tier-w-tune.pt || echo "$OUT/tune/state.pt")}
  step=$(grep -o '"step": [0-9]*' <<<"$summary" | head -n 1 | grep -o '[0-9]*$')
  if [ "$step" != "$STEPS" ]; then
    echo "the run is at step $step, not release 7's $STEPS: $STATE is already past it (release 8's average?)" >&2
    exit 0
  fi
  mkdir -p "$OUT/release8"
  [ -f "$OUT/release7.pt" ] || cp "$STATE" "$OUT/release7.pt"  # the tune's start and the average's first part
  FT_STATE=$TUNE_STATE fine_tune tune "$OUT/release7.pt" "release 8's fine-tune" "$TUNE_STEPS:$TUNE_PHASE"
  echo "$summary"
  # shellcheck disable=SC2086
  stylecam average "$OUT/release7.pt" "$TUNE_STATE" --weights $AVERAGE_WEIGHTS -o "$OUT/release8/checkpoint.pt" >&2
  cp "$OUT/release8/checkpoint.pt" "$STATE"  # the repository's small state is the shipped model's
fi
# Candidate r9w (2026-12-03, twenty-fourth sitting; the start of releases 9 and 10, scripts/tune_release.sh): release 8 fine-tuned whole (every
# weight, Adam afresh) against flicker, each style's anti-flicker weight scaled by how far it
# flickered past release 1 (temporal-style-weights), with more Gram and SWD weight to hold texture.
# Phase 1 (w2): 6e8 base, udnie and yellow_red_blue x4, the_scream x2, the_kiss, woman_with_a_hat,
# grande_jatte and great_wave x1.5, Gram 3e-6, SWD 1.5e6: 10 of 12 styles steady, but great_wave
# 0.402 at 960x540 (8 photos). Phase 2 (from phase 1's checkpoint, Adam kept) re-weighs each style
# by phase 1's result (w5's factors): more for those still over release 1, less for great_wave. The
# norms-only tunes of candidate r9h (`git show 6900a89:scripts/train_cpu_tier.sh` keeps that block)
# steadied styles one by one but could not hold texture at 960x540; here the filters move too.
# Opt-in (R9W=1); writes $OUT/r9w/checkpoint.pt (state/cpu-tier-whole.pt), not $STATE.
[ "${R9W:-0}" = 1 ] || exit 0
W9="temporal-noise=0.08,padding=zeros,content-weight=2.0,temporal-moving-sprites=3,checkpoint-every=100,style-weight=3e-6,swd-weight=1.5e6"
W9_1=${W9_1:-"udnie=4;yellow_red_blue=4;the_scream=2;the_kiss=1.5;woman_with_a_hat=1.5;grande_jatte=1.5;great_wave=1.5"}
W9_2=${W9_2:-"starry_night=1.6;udnie=6;yellow_red_blue=5;grande_jatte=2;water_lilies=1.2;the_scream=2;the_kiss=1.5;woman_with_a_hat=1.5;great_wave=0.8"}
W9_PHASES=${W9_PHASES:-"20100:6e8:$W9,temporal-style-weights=$W9_1 20300:6e8:$W9,temporal-style-weights=$W9_2"}
# shellcheck disable=SC2086
fine_tune whole "$OUT/release8/checkpoint.pt" "r9w's whole-net tune" $W9_PHASES
mkdir -p "$OUT/r9w"
cp "$OUT/whole/checkpoint.pt" "$OUT/r9w/checkpoint.pt"

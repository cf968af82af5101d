#!/usr/bin/env bash
# The shipped release (release 10; release 9 before it): candidate r9w's w5 (state/cpu-tier-whole.pt,
# release 8 tuned whole against flicker with a share per style: `R9W=1 scripts/train_cpu_tier.sh`)
# with some styles' norms tuned on, one group of styles at a time, and each style's rows taken from
# the checkpoint that met its bars (`stylecam graft`; the filters stay w5's, so each style is exactly
# the checkpoint it came from). Why these tunes and checkpoints: docs/training.md, "Candidate r9s",
# "Release 9" and "Release 10".
# Every tune: the norms of the named styles only (train-only=norms, Adam afresh unless said), the
# anti-flicker term at 6e8 times the style's share, noise 0.08, 3 moving patches, content weight
# 2.0; about 2 s a step on 2 CPU cores, 3-65 steps each, so the whole script is about 10 minutes of
# training (release 9's, 5.5 min of steps alone, took 50 min beside another 2-thread job, measured).
# Writes $OUT/checkpoint.pt (the shipped weights; the repository keeps them in state/cpu-tier-graft.pt).
# Then: RUN=$OUT PEER_PYTHON=... scripts/ship_cpu_tier.sh exports and scores it into the package.
# Resumable at the granularity of a tune: one whose checkpoint is there is not run again.
set -euo pipefail
FROM=${FROM:-state/cpu-tier-whole.pt}
OUT=${OUT:-runs/release}
mkdir -p "$OUT"
common="temporal-noise=0.08,padding=zeros,content-weight=2.0,temporal-moving-sprites=3,train-only=norms"

tune() {  # NAME START END STYLES SHARES GRAM SWD: the tune's folder $OUT/NAME, from START to step END
  # (a weights-only START begins with Adam afresh; a tune's own ck-*.pt goes on with its Adam)
  local dir=$OUT/$1 start=$2 end=$3 styles=$4 shares=$5 gram=$6 swd=$7
  [ -f "$dir/ck-$end.pt" ] && return 0
  mkdir -p "$dir"
  if [[ "$start" == */ck-*.pt ]]; then [ -f "$dir/checkpoint.pt" ] || cp "$start" "$dir/checkpoint.pt"
  else [ -f "$dir/checkpoint.pt" ] || [ -f "$dir/state.pt" ] || cp "$start" "$dir/state.pt"; fi
  OUT=$dir STATE=$dir/state.pt STEPS=$end AVERAGE=0 \
    PHASES="$end:6e8:$common,checkpoint-every=5,style-weight=$gram,swd-weight=$swd,train-styles=$styles,temporal-style-weights=$shares" \
    bash scripts/train_cpu_tier.sh >/dev/null
  cp "$dir/checkpoint.pt" "$dir/ck-$end.pt"
}

# w5 is at step 20,300. r9s: great_wave and water_lilies steadied with more Gram weight (g), and
# woman_with_a_hat alone at a share of 2.2 (h), 50 steps each.
tune g "$FROM" 20350 "great_wave;water_lilies;woman_with_a_hat" "great_wave=1.3;water_lilies=1.2;woman_with_a_hat=1.2" 3.5e-6 1.5e6
tune h "$FROM" 20350 "woman_with_a_hat" "woman_with_a_hat=2.2" 3e-6 1.5e6
stylecam graft "$FROM" --take great_wave="$OUT/g/ck-20350.pt" --take water_lilies="$OUT/g/ck-20350.pt" \
  --take woman_with_a_hat="$OUT/h/ck-20350.pt" -o "$OUT/r9s.pt" >&2
# From r9s, the five styles over 0.35 at 960x540: udnie and yellow_red_blue at high shares (k, 25
# steps); grande_jatte (n, 3 steps: under 0.35 and steady; starry_night trains beside it as it did
# when run, which sets grande_jatte's share of the batches); starry_night with more Gram weight (x2,
# 3 steps); great_wave with far more Gram weight and little SWD (y, 50 steps), then more Gram still
# with y's Adam kept (z, 15 steps): the Gram terms are what the ratio measures, while SWD's
# low-layer marks are what boils on moving pixels.
tune k "$OUT/r9s.pt" 20375 "starry_night;udnie;grande_jatte;yellow_red_blue" "starry_night=1.2;udnie=5;grande_jatte=1.5;yellow_red_blue=3.5" 3.5e-6 1.5e6
tune n "$OUT/r9s.pt" 20353 "starry_night;grande_jatte" "starry_night=1.4;grande_jatte=1.8" 3.5e-6 1.5e6
tune x2 "$OUT/r9s.pt" 20353 "starry_night" "starry_night=1.4" 6e-6 1.5e6
tune y "$OUT/r9s.pt" 20400 "great_wave" "great_wave=1.0" 1.2e-5 2.5e5
tune z "$OUT/y/ck-20400.pt" 20415 "great_wave" "great_wave=1.0" 1.5e-5 2.5e5
stylecam graft "$OUT/r9s.pt" --take udnie="$OUT/k/ck-20375.pt" --take yellow_red_blue="$OUT/k/ck-20375.pt" \
  --take starry_night="$OUT/x2/ck-20353.pt" --take grande_jatte="$OUT/n/ck-20353.pt" \
  --take great_wave="$OUT/z/ck-20415.pt" -o "$OUT/checkpoint.pt" >&2
echo "$OUT/checkpoint.pt"

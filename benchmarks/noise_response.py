"""How much of a camera's noise a net passes on: the output's change per unit of the input's.

    python benchmarks/noise_response.py --model a.onnx [--model b.onnx ...] [--std 0.01] [--json]

A still camera's frames differ by noise alone, and a net that turns it into texture boils there
(parking's still pixels are most of its flicker). The nets learn to ignore white noise, which is what
`--temporal-noise` used to train on, far better than the clips' own grain (benchmarks/clip_grain.py:
blurred by 0.6-1 px, three quarters luma). Each clip's first frame gets noise of --std ([0, 1] units)
of each kind below, rounded to 8 bits as a camera's is; the figure is the RMS change of the output
over the RMS change of the input, averaged over --draws draws and every third style. A net trained on
grain (`--temporal-noise-blur`, `--temporal-noise-grey`) should show its drop in the grain columns.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flicker_bench import add_clips_argument, given_or_shared_clips, models_missing, read_clip  # noqa: E402
from sizes import frame_size  # noqa: E402

from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from stylecam.realtime.errors import EXIT_USER  # noqa: E402

KINDS = {  # name: (blur sigma px, grey share: the part of the variance the same in all channels)
    "white": (0.0, 0.0),
    "grain 0.8px": (0.8, 0.0),
    "grain 0.8px luma": (0.8, 0.6),  # the clips' grain: luma share 0.6 + 0.4 / 3 = 0.73
    "grain 2px": (2.0, 0.0),
}


def noise(shape: tuple[int, int, int], blur: float, grey: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-std noise (H, W, 3): per channel, with a `grey` share of its variance common to all three,
    blurred by a Gaussian of sigma `blur` px, scaled back to unit std."""
    z = rng.standard_normal(shape, dtype=np.float32)
    if grey > 0:
        z = np.sqrt(1 - grey) * z + np.sqrt(grey) * rng.standard_normal((*shape[:2], 1), dtype=np.float32)
    if blur > 0:
        z = cv2.GaussianBlur(z, (0, 0), blur)
    return z / z.std()


def response(engine: OrtEngine, frame: np.ndarray, std: float, blur: float, grey: float, styles: list[int],
             draws: int, rng: np.random.Generator) -> float:
    """Mean over styles and draws of RMS(out change) / RMS(in change), both in [0, 255] levels."""
    ratios = []
    for s in styles:
        clean = engine.stylize(frame, {s: 1.0}).astype(np.float32)
        for _ in range(draws):
            noisy = np.clip(np.rint(frame + 255.0 * std * noise(frame.shape, blur, grey, rng)), 0, 255).astype(np.uint8)
            d_in = noisy.astype(np.float32) - frame.astype(np.float32)
            d_out = engine.stylize(noisy, {s: 1.0}).astype(np.float32) - clean
            ratios.append(float(np.sqrt((d_out ** 2).mean() / max((d_in ** 2).mean(), 1e-12))))
    return float(np.mean(ratios))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="ONNX model (repeatable)")
    add_clips_argument(ap)
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--std", type=float, default=0.01, help="noise std in [0, 1] units (the clips': 0.002-0.005)")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    clips = given_or_shared_clips(args.clips)
    if not clips or models_missing(args.model):
        return EXIT_USER
    if not 0 < args.std <= 0.1:
        print(f"--std must be in (0, 0.1], got {args.std}", file=sys.stderr)
        return EXIT_USER
    frames = {c.name: read_clip(c, 1, args.size)[0] for c in clips}
    results = []
    for m in args.model:
        bank = StyleBank([m])
        engine = OrtEngine(bank, device="cpu", threads=args.threads)
        styles = list(range(0, len(bank), 3))
        row = {"model": Path(m).name, "per_clip": {}}
        for clip, frame in frames.items():
            rng = np.random.default_rng(0)  # the same draws for every model
            row["per_clip"][clip] = {k: round(response(engine, frame, args.std, *v, styles, args.draws, rng), 3)
                                     for k, v in KINDS.items()}
        row["mean"] = {k: round(float(np.mean([c[k] for c in row["per_clip"].values()])), 3) for k in KINDS}
        results.append(row)
        print(f"{row['model'][:24]:24} " + "  ".join(f"{k} {v:.3f}" for k, v in row["mean"].items()), file=sys.stderr)
    if args.json:
        print(json.dumps({"size": f"{args.size[0]}x{args.size[1]}", "std": args.std, "draws": args.draws,
                          "kinds": {k: {"blur_px": b, "grey": g} for k, (b, g) in KINDS.items()},
                          "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

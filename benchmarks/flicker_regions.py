"""Where raw flicker lives: the warping error of each model's output on moving and on still pixels.

    python benchmarks/flicker_regions.py --model a.onnx --model b.onnx [--frames 40] [--halo] [--json]

Pixels whose input flow is over --moving px are "moving" (people, cars), the rest "still". A net can be
steadier than another on still pixels (where camera noise boils into texture) and less steady on
moving ones (where the texture is redrawn as things move): the single figure of flicker_bench.py
hides which. The input's own figures are the floor. Style 1 of each model (or --style, by name or
number), raw output, no stabilizer.

--halo says how far from moving things a net's output changes: each pair again with only the moving
pixels taken from the second frame (the still ones, camera noise and all, from the first), and the
output's change on still pixels by their distance from the nearest moving one. The input changes
nowhere there, so every figure is the net's reach: a net that redraws texture round each walking
figure shows it at 2-16 px (docs/training.md, "Halos").
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
from stylecam.realtime.temporal import FlowEstimator, pair_flow, warping_error  # noqa: E402
from stylecam.realtime.errors import EXIT_USER, UserError  # noqa: E402

HALO_BINS = (0, 2, 4, 8, 16, 32, 64, 10_000)  # px from the nearest moving pixel


def halo_profile(prev_out: np.ndarray, out: np.ndarray, moving: np.ndarray, valid: np.ndarray) -> list[float]:
    """Mean of sum_c (out - prev_out)^2 ([0, 1] RGB) on still pixels in each HALO_BINS band (NaN: none)."""
    dist = cv2.distanceTransform((~moving).astype(np.uint8), cv2.DIST_L2, 5)
    d = (((out.astype(np.float32) - prev_out.astype(np.float32)) / 255.0) ** 2).sum(-1)
    bands = []
    for lo, hi in zip(HALO_BINS, HALO_BINS[1:]):
        m = (dist > lo) & (dist <= hi) & valid
        bands.append(float(d[m].mean()) if m.any() else float("nan"))
    return bands


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="ONNX model (repeatable)")
    add_clips_argument(ap)
    ap.add_argument("--frames", type=int, default=40, help="first N frames of each clip (after --skip)")
    ap.add_argument("--skip", type=int, default=0, help="frames to pass over first (flicker_styles.py's later window: 200)")
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--moving", type=float, default=0.5, help="flow (px) over which a pixel counts as moving")
    ap.add_argument("--halo", action="store_true", help="also the output's change on still pixels by distance "
                    "from moving ones, with only the moving pixels changed (one more run a frame)")
    ap.add_argument("--style", default="1", help="the style to run, by name or 1-based number, in every model "
                                                 "(default 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    size = args.size
    clips = given_or_shared_clips(args.clips)
    if not clips or models_missing(args.model):
        return EXIT_USER
    banks = {Path(m).name: StyleBank([m]) for m in args.model}
    try:
        pick = {k: b.find(args.style).index for k, b in banks.items()}
    except UserError as e:
        print(f"--style: {e}", file=sys.stderr)
        return EXIT_USER
    engines = {k: OrtEngine(b, device="cpu", threads=args.threads) for k, b in banks.items()}
    est = FlowEstimator("accurate", 1.0)
    results = []
    for clip in clips:
        frames = read_clip(clip, args.frames, size, args.skip)
        outs = {"input": frames} | {k: [e.stylize(f, {pick[k]: 1.0}) for f in frames] for k, e in engines.items()}
        acc: dict[str, dict[str, list[float]]] = {k: {"moving": [], "still": []} for k in outs}
        share = []
        halo: dict[str, list[list[float]]] = {k: [] for k in engines}
        for i in range(1, len(frames)):
            flow, valid = pair_flow(frames[i - 1], frames[i], est)
            moving = np.linalg.norm(flow, axis=-1) > args.moving
            share.append(float(moving.mean()))
            if args.halo and moving.any():
                moved = np.where(moving[..., None], frames[i], frames[i - 1])
                for k, e in engines.items():
                    halo[k].append(halo_profile(outs[k][i - 1], e.stylize(moved, {pick[k]: 1.0}), moving, valid))
            for k, seq in outs.items():
                for name, region in (("moving", moving), ("still", ~moving)):
                    acc[k][name].append(warping_error(seq[i - 1], seq[i], flow, valid, region))
        row = {"clip": clip.name, "moving_share": round(float(np.mean(share)), 4),
               "warp_error_x1e3": {k: {r: round(float(np.nanmean(v)) * 1e3, 4) for r, v in a.items()}
                                   for k, a in acc.items()}}
        if args.halo:
            row["halo_bins_px"] = list(HALO_BINS)
            row["halo_x1e3"] = {k: [round(float(v) * 1e3, 4) for v in np.nanmean(np.array(h), 0)]
                                for k, h in halo.items() if h}
        results.append(row)
        print(f"{clip.name[:24]:24} moving {row['moving_share']:.1%}  " + "  ".join(
            f"{k}: {v['moving']:.3f} / {v['still']:.3f}" for k, v in row["warp_error_x1e3"].items()), file=sys.stderr)
        for k, bands in row.get("halo_x1e3", {}).items():
            print(f"  halo {k[:20]:20} " + "  ".join(f"{lo}-{hi}px {v:.3f}" for lo, hi, v in
                                                     zip(HALO_BINS, HALO_BINS[1:], bands)), file=sys.stderr)
    if args.json:
        print(json.dumps({"size": f"{size[0]}x{size[1]}", "frames": args.frames, "skip": args.skip,
                          "style": args.style, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a real camera's noise looks like on the clips: its size, its grain and how much of it is luma.

    python benchmarks/clip_grain.py [--clips a.mp4 ...] [--frames 21] [--json]

The anti-flicker loss adds noise to its second frame (`--temporal-noise`, `--temporal-noise-blur`) so
a net learns not to turn a still camera's noise into boiling texture; this says what noise to add.
On each pair of frames, the change on still pixels (flow under --moving px, and --margin px away from
any pixel over it), less its slow drift (a Gaussian of 8 px: exposure, not grain), is described by
its std ([0, 1] units), its luma share (the variance of the channels' mean over a channel's variance:
1/3 for noise drawn per channel, 1 for grey noise) and the correlation of neighbours 1, 2 and 4 px
apart, with the Gaussian blur (sigma, px) of white noise that has that correlation at that distance:
exp(-d^2 / (4 sigma^2)). A sigma that grows with the distance is a heavier tail than a Gaussian's.
Pairs with no change at all (repeated frames) are skipped.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flicker_bench import add_clips_argument, given_or_shared_clips, read_clip  # noqa: E402
from sizes import frame_size  # noqa: E402
from stylecam.realtime.temporal import FlowEstimator, pair_flow  # noqa: E402
from stylecam.realtime.errors import EXIT_USER  # noqa: E402

LAGS = (1, 2, 4)  # px between the neighbours correlated


def grain_stats(prev: np.ndarray, cur: np.ndarray, still: np.ndarray) -> dict[str, float] | None:
    """std, luma share and neighbour correlations (horizontal and vertical pooled) of cur - prev on the
    `still` pixels (both of a pair still, for a correlation); None where nothing changed."""
    d = cur.astype(np.float32) / 255.0 - prev.astype(np.float32) / 255.0
    if not np.any(d[still]):
        return None
    d = d - cv2.GaussianBlur(d, (0, 0), 8)
    out = {"std": float(d[still].std()),
           "luma_share": float(d.mean(-1)[still].var() / max(d[still].var(), 1e-20))}
    for lag in LAGS:
        across = (d[:, :-lag], d[:, lag:], still[:, :-lag] & still[:, lag:])
        down = (d[:-lag], d[lag:], still[:-lag] & still[lag:])
        p = np.concatenate([a[m].ravel() for a, _, m in (across, down)])
        q = np.concatenate([b[m].ravel() for _, b, m in (across, down)])
        out[f"corr_{lag}px"] = float(np.corrcoef(p, q)[0, 1])
    return out


def gaussian_sigma(corr: float, lag: int) -> float:
    """The sigma (px) of the Gaussian blur that gives white noise this correlation at `lag` px."""
    if not 0 < corr < 1:
        return float("nan")
    return lag / (2 * math.sqrt(-math.log(corr)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clips_argument(ap)
    ap.add_argument("--frames", type=int, default=21)
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--moving", type=float, default=0.5, help="flow (px) over which a pixel counts as moving")
    ap.add_argument("--margin", type=int, default=4, help="px a still pixel must be from any moving one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    clips = given_or_shared_clips(args.clips)
    if not clips:
        return EXIT_USER
    est = FlowEstimator("accurate", 1.0)
    results = []
    for clip in clips:
        frames = read_clip(clip, args.frames, args.size)
        rows = []
        for a, b in zip(frames, frames[1:]):
            flow, valid = pair_flow(a, b, est)
            moving = (np.linalg.norm(flow, axis=-1) > args.moving).astype(np.uint8)
            near = cv2.dilate(moving, np.ones((2 * args.margin + 1,) * 2, np.uint8)) > 0
            s = grain_stats(a, b, valid & ~near)
            if s is not None:
                rows.append(s)
        if not rows:
            print(f"{clip.name}: no pair changed", file=sys.stderr)
            continue
        row = {"clip": clip.name, "pairs": len(rows)} | {k: round(float(np.nanmean([r[k] for r in rows])), 4)
                                                          for k in rows[0]}
        row["sigma_px"] = {str(lag): round(gaussian_sigma(row[f"corr_{lag}px"], lag), 2) for lag in LAGS}
        results.append(row)
        print(f"{clip.name[:28]:28} pairs {row['pairs']:3}  std {row['std']:.4f}  luma {row['luma_share']:.2f}  corr "
              + " / ".join(f"{row[f'corr_{lag}px']:.2f}" for lag in LAGS) + "  sigma "
              + " / ".join(f"{row['sigma_px'][str(lag)]:.2f}" for lag in LAGS), file=sys.stderr)
    if args.json:
        print(json.dumps({"size": f"{args.size[0]}x{args.size[1]}", "frames": args.frames, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

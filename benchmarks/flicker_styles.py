"""Raw flicker of every style, not only the first: is each one at or below a baseline's same style?

    python benchmarks/flicker_styles.py --model new.onnx --baseline old.onnx [--frames 40] [--skip 0] [--styles a,b] [--json]
    python benchmarks/flicker_styles.py --model a.onnx b.onnx c.onnx --baseline old.onnx   (candidates side by side)

flicker_bench.py, flicker_regions.py and the ship script measure style 1 (starry_night) only, so the
anti-flicker bar ("no worse than the release before on the clips") was only ever checked on one of the
twelve styles. Here every style of each model runs on each clip's first --frames frames at --size, raw
(no stabilizer), and the warping error of each (Lai et al. 2018, realtime/temporal.py, x1e3) is measured
with one flow per pair of input frames for all of them. The verdict counts the styles of --model at or
below --baseline's same-named style on every clip. Several --model files are judged in one run (a
verdict each, under "verdicts"; "verdict" is the first's): the accurate flow costs more than a small
net, so candidates measured together cost little more than one, and all see the same flow.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flicker_bench import add_clips_argument, given_or_shared_clips, models_missing, read_clip  # noqa: E402
from sizes import frame_size  # noqa: E402

from stylecam.realtime.engine import Engine, OrtEngine  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from stylecam.realtime.temporal import FlowEstimator, TemporalMeter  # noqa: E402
from stylecam.realtime.errors import EXIT_USER  # noqa: E402


def style_flicker(frames: Sequence[np.ndarray], engines: Mapping[str, Engine], styles: Mapping[str, Sequence[int]],
                  meter: TemporalMeter | None = None) -> dict[str, list[float]]:
    """Model name -> warping error (x1e3) of each of its `styles` (indices, in the order to report), raw
    output; the flow of each input pair is computed once for every model and style."""
    meter = meter or TemporalMeter(FlowEstimator("accurate", 1.0))
    for f in frames:
        meter.update(f, {f"{name}#{s}": e.stylize(f, {s: 1.0}) for name, e in engines.items() for s in styles[name]})
    summary = meter.summary()
    return {name: [round(1e3 * summary[f"{name}#{s}"]["warp_error"], 4) for s in styles[name]] for name in engines}


def verdict(per_clip: Mapping[str, Mapping[str, list[float]]], model: str, baseline: str,
            names: Sequence[str]) -> dict:
    """The styles of `model` at or below `baseline` on every clip; for each style over it on some clip, its
    worst ratio (model / baseline) over the clips; and the worst ratio of all."""
    worst = [max(c[model][i] / c[baseline][i] if c[baseline][i] > 0 else float("inf") for c in per_clip.values())
             for i in range(len(names))]
    return {"at_or_below_on_every_clip": [n for n, r in zip(names, worst) if r <= 1.0],
            "over_on_some_clip": {n: round(r, 3) for n, r in zip(names, worst) if r > 1.0},
            "worst_ratio": round(max(worst), 3) if worst else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, nargs="+", help="ONNX model(s) whose styles are judged")
    ap.add_argument("--baseline", default=None, help="ONNX model with the same style names to judge against")
    add_clips_argument(ap)
    ap.add_argument("--frames", type=int, default=40, help="first N frames of each clip (after --skip)")
    ap.add_argument("--skip", type=int, default=0,
                    help="frames to pass over at each clip's start: a later window confirms a choice of checkpoint "
                         "made on the first, so the choice is not fitted to one window's noise")
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--styles", default=None, help="comma list of style names to measure (default: all); a fine-tune "
                                                   "that trained some styles only (train --train-styles) need not re-measure the rest")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    paths = args.model + ([args.baseline] if args.baseline else [])
    clips = given_or_shared_clips(args.clips)
    if not clips or models_missing(paths):
        return EXIT_USER
    banks = {Path(p).name: StyleBank([p]) for p in paths}
    if len(banks) < len(paths):
        print("two of --model and --baseline have the same file name; copy one under another name", file=sys.stderr)
        return EXIT_USER
    first = Path(args.model[0]).name
    names = [s.name for s in banks[first].styles]
    if args.styles:
        asked = [n.strip() for n in args.styles.split(",") if n.strip()]
        unknown = [n for n in asked if n not in names]
        if unknown:
            print(f"--styles names {unknown[0]}, not a style of {first} ({', '.join(names)})",
                  file=sys.stderr)
            return EXIT_USER
        names = [n for n in names if n in asked]
    order: dict[str, list[int]] = {}
    for key, bank in banks.items():
        own = [s.name for s in bank.styles]
        missing = [n for n in names if n not in own]
        if missing:
            print(f"{key} has no style {missing[0]}; pass a baseline with the same styles", file=sys.stderr)
            return EXIT_USER
        order[key] = [own.index(n) for n in names]
    engines = {k: OrtEngine(b, "cpu", threads=args.threads) for k, b in banks.items()}
    per_clip: dict[str, dict[str, list[float]]] = {}
    for clip in clips:
        frames = read_clip(clip, args.frames, args.size, args.skip)
        if len(frames) < 2:
            print(f"skipping {clip}: fewer than 2 frames after the first {args.skip}", file=sys.stderr)
            continue
        print(f"{clip.name}: {len(frames)} frames x {len(names)} styles x {len(engines)} models", file=sys.stderr)
        per_clip[clip.name] = style_flicker(frames, engines, order)  # a baseline may list its styles differently
    keys = list(engines)
    out = {"size": f"{args.size[0]}x{args.size[1]}", "frames": args.frames, "skip": args.skip, "styles": names,
           "warp_error_x1e3": per_clip}
    if args.baseline:
        base = keys[-1]
        out["verdicts"] = {k: verdict(per_clip, k, base, names) for k in keys[:-1]}
        out["verdict"] = out["verdicts"][keys[0]]
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print("raw warping error x1e3 (Lai et al. 2018), " + " / ".join(keys) + " per clip")
    print(f"{'style':<28}" + "".join(f"{c[:22]:>24}" for c in per_clip))
    for i, n in enumerate(names):
        print(f"{n:<28}" + "".join(f"{' / '.join(f'{v[k][i]:.3f}' for k in keys):>24}" for v in per_clip.values()))
    for k, v in out.get("verdicts", {}).items():
        print(f"{k} at or below {keys[-1]} on every clip: {len(v['at_or_below_on_every_clip'])} of {len(names)} "
              f"styles; over on some clip: {v['over_on_some_clip'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

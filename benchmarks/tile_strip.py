"""Tiled against whole: how far a picture stylized in tiles lands from the same picture run whole.

    python benchmarks/tile_strip.py                          # built-in CPU tier, style 2, 1024 px in 400 px tiles
    python benchmarks/tile_strip.py --model realtime/models/adain.onnx --size 512 --tile 320 --overlap 128

Tiles are small here so that a mid-size photo (samples/astronaut.jpg) shows what a huge one does
with 1536 px tiles. Prints the mean |tiled - whole| (grey levels) with each tile normalised on its
own statistics and on the whole picture's, seam bands and tile insides apart, and writes a strip
(whole | tiles on their own statistics | tiles on the whole picture's) to --out.
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
from stylecam.realtime.modelfile import builtin_models  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from stylecam.realtime.tiles import Tiling, _starts  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="default: the built-in CPU tier")
    ap.add_argument("--style", type=int, default=2, help="1-based style number")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--tile", type=int, default=400)
    ap.add_argument("--overlap", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "docs" / "tiles_strip.jpg"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = args.model or next(str(p) for p in builtin_models() if "adain" not in p.name)
    img = cv2.cvtColor(cv2.imread(str(ROOT / "samples" / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (args.size, args.size), interpolation=cv2.INTER_CUBIC)
    bank = StyleBank([model])
    mix = {args.style - 1: 1.0}
    whole = OrtEngine(bank, "cpu").stylize(img, mix)
    seams = np.zeros(img.shape[:2], bool)
    for s in _starts(args.size, args.tile, args.overlap)[1:]:
        seams[s:s + args.overlap, :] = True
        seams[:, s:s + args.overlap] = True
    result = {"model": Path(model).name, "style": args.style, "size": args.size, "tile": args.tile,
              "overlap": args.overlap}
    shown = [whole]
    for passes, label in ((1, "own_statistics"), (2, "whole_picture_statistics")):
        tiling = Tiling(above=args.size * args.size // 4, tile=args.tile, overlap=args.overlap, passes=passes)
        tiled = OrtEngine(bank, "cpu", tiling=tiling).stylize(img, mix)
        err = np.abs(tiled.astype(np.float32) - whole).mean(axis=2)
        result[label] = {"mean": round(float(err.mean()), 2), "seams": round(float(err[seams].mean()), 2),
                         "insides": round(float(err[~seams].mean()), 2)}
        shown.append(tiled)
    half = args.size // 2
    strip = np.concatenate([cv2.resize(o, (half, half), interpolation=cv2.INTER_AREA) for o in shown], 1)
    cv2.imwrite(args.out, cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    result["strip"] = args.out
    print(json.dumps(result, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

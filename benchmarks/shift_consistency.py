"""How far a trained net's output follows the picture when it moves by a few pixels.

    python benchmarks/shift_consistency.py state/cpu-cin-12.pt [more states ...] [--json]

Training crops (photos at a 400 px short side, 288 px windows) are moved right by 1, 2 and 4 px
(whole pixels: no resampling) and by 0.5 and 1.5 (linear), and the output of the moved crop is
compared with the moved output, away from the borders and the wrapped seam (mean squared, x1e3,
every third style unless --styles says). A 4 px move is a whole step of the fast net's stride-4
grid; if the 1-2 px figures are many times the 4 px one, the texture is tied to that grid and
redrawn as things move: flicker on moving things.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stylecam.export.data import ImageCache, is_held_out, list_images, to_tensor  # noqa: E402
from stylecam.export.temporal_loss import roll_shift  # noqa: E402
from stylecam.export.train import build_from_checkpoint, load_checkpoint  # noqa: E402

MOVES = (1.0, 2.0, 4.0, 0.5, 1.5)
MARGIN = 24


def crops(folder: Path, n: int) -> torch.Tensor:
    """The top-left 288 px of the first n training photos, scaled as training scales them (stage 2)."""
    cache = ImageCache([p for p in list_images(folder) if not is_held_out(p)][:n], 400, "photos")
    return torch.stack([to_tensor(im[:288, :288]) for im in cache.images])


@torch.no_grad()
def measure(net: torch.nn.Module, x: torch.Tensor, styles: list[int] | None = None) -> dict[str, float]:
    """Mean over `styles` (0-based; default every third) of the shift error per move."""
    s = net.n_styles
    res: dict[str, list[float]] = {}
    for st in styles if styles is not None else range(0, s, 3):
        w = torch.zeros(len(x), s)
        w[:, st] = 1
        y = net(x, w)
        for d in MOVES:
            e = (roll_shift(y, d) - net(roll_shift(x, d), w))[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
            res.setdefault(f"{d:g}px", []).append(float((e * e).mean()) * 1e3)
    return {k: round(float(np.mean(v)), 4) for k, v in res.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("states", nargs="+", help="checkpoints or small states of CIN nets")
    ap.add_argument("--content-dir", default=str(ROOT.parent / "shared" / "data" / "content"))
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--styles", default=None,
                    help="style numbers (1-based, comma-separated) to average over, e.g. 1 to compare a one-style net "
                         "with a CIN net's first style; default every third")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        styles = [int(v) - 1 for v in args.styles.split(",")] if args.styles else None
    except ValueError:
        ap.error(f"--styles takes style numbers like 1,4 (got {args.styles!r})")
    torch.manual_seed(0)
    x = crops(Path(args.content_dir), args.photos)
    rows = []
    for st in args.states:
        net = build_from_checkpoint(load_checkpoint(st))
        if styles and not all(0 <= k < net.n_styles for k in styles):
            ap.error(f"--styles {args.styles}: {st} holds styles 1 to {net.n_styles}")
        r = {"state": st, "mse_x1e3": measure(net, x, styles)}
        rows.append(r)
        print(st, "  ".join(f"{k} {v:.3f}" for k, v in r["mse_x1e3"].items()), file=sys.stderr)
    if args.json:
        print(json.dumps({"photos": len(x), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

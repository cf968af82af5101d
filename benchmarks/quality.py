"""Quality of the shipped (or given) models: style and content loss against the unstylized photo
(the ceiling of style loss) and the Gatys optimiser (the floor), a contact sheet, and frame-to-frame
change on a real clip.

    python benchmarks/quality.py --model realtime/models/cpu-cin-12.onnx --photos 8 --gatys-steps 0
    python benchmarks/quality.py --sheet docs/contact_sheet.jpg --json > quality.json

Losses use the shared VGG19 (export/vgg.py): Gram style loss over relu1_1..relu5_1 (each
Gram normalised by C*H*W, squared Frobenius distance, summed over layers) and content loss as the
feature MSE at relu4_2, both at 512 px (long side) on held-out photos (export.data.is_held_out,
never trained on). Outputs come from the real runtime path (realtime.engine on the ONNX file).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from export import losses as L  # noqa: E402
from export.data import is_held_out, list_images, read_rgb, resize_long, to_tensor, to_uint8  # noqa: E402
from export.vgg import VGG19Features  # noqa: E402
from realtime.engine import OrtEngine  # noqa: E402
from realtime.modelfile import builtin_models  # noqa: E402
from realtime.styles import StyleBank  # noqa: E402

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
DATA = ROOT.parent / "shared" / "data"


class Scorer:
    def __init__(self):
        self.vgg = VGG19Features(STYLE_LAYERS + (CONTENT_LAYER,))
        self.grams: dict[str, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def feats(self, img: np.ndarray) -> dict[str, torch.Tensor]:
        return self.vgg(to_tensor(img)[None])

    @torch.no_grad()
    def style_target(self, path: str, size: int) -> dict[str, torch.Tensor]:
        if path not in self.grams:
            f = self.feats(resize_long(read_rgb(path), size))
            self.grams[path] = {l: L.gram_matrix(f[l]) for l in STYLE_LAYERS}
        return self.grams[path]

    @torch.no_grad()
    def score(self, out: np.ndarray, photo_feats: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
              ) -> tuple[float, float]:
        f = self.feats(out)
        style = float(L.gram_style_loss(f, target, STYLE_LAYERS))
        content = float(L.content_loss(f, photo_feats, [CONTENT_LAYER]))
        return style, content


def style_file(name: str, styles_dir: Path) -> Path | None:
    p = styles_dir / f"{name}.jpg"
    return p if p.is_file() else None


def gatys_output(photo: np.ndarray, style_path: Path, steps: int, cache: Path | None = None, key: str = ""
                 ) -> np.ndarray:
    """Gatys optimisation of the photo (the floor); cached on disk because it costs minutes."""
    from export.gatys import GatysConfig, Style, stylize

    if cache is not None:
        f = cache / f"{key}_{style_path.stem}_{photo.shape[1]}x{photo.shape[0]}_{steps}.png"
        if f.is_file():
            return read_rgb(f)

    s = to_tensor(resize_long(read_rgb(style_path), 512))[None]
    res = stylize(to_tensor(photo)[None], [Style(s)], GatysConfig(steps=steps, max_size=512, device="cpu"),
                  progress=False)
    out = to_uint8(res.image[0])
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(f), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    return out


def contact_sheet(bank: StyleBank, engine: OrtEngine, photos: list[Path], path: Path, cell: int = 256) -> None:
    """Rows: the photo, then every style; columns: the photos. Labels under each style row."""
    cols = []
    for p in photos:
        img = read_rgb(p)
        h, w = img.shape[:2]
        side = min(h, w)  # square cells, so photos of any shape line up
        img = img[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        img = cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)
        tiles = [img] + [engine.stylize(img, {s.index: 1.0}) for s in bank.styles]
        cols.append(tiles)
    rows = []
    labels = ["photo"] + [f"{s.index + 1}. {s.name}" for s in bank.styles]
    for r, label in enumerate(labels):
        row = np.concatenate([c[r] for c in cols], axis=1)
        bar = np.full((22, row.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([row, bar], axis=0))
    # Two columns of rows to keep the sheet from being one very tall strip.
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:]
    if len(right) < len(left):
        right.append(np.full_like(left[-1], 255))
    sheet = np.concatenate([np.concatenate(left, 0), np.full((sum(r.shape[0] for r in left), 12, 3), 255, np.uint8),
                            np.concatenate(right, 0)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def temporal(engine: OrtEngine, style: int, clip: Path, frames: int, size: tuple[int, int]) -> dict[str, float]:
    import av

    prev_in = prev_out = None
    d_in, d_out = [], []
    with av.open(str(clip)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i >= frames:
                break
            img = cv2.resize(fr.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA)
            out = engine.stylize(img, {style: 1.0})
            if prev_in is not None:
                d_in.append(np.abs(img.astype(np.int16) - prev_in).mean())
                d_out.append(np.abs(out.astype(np.int16) - prev_out).mean())
            prev_in, prev_out = img.astype(np.int16), out.astype(np.int16)
    return {"clip": clip.name, "frames": frames, "input_mad": float(np.mean(d_in)), "output_mad": float(np.mean(d_out)),
            "ratio": float(np.mean(d_out) / max(1e-9, np.mean(d_in)))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the first shipped model)")
    ap.add_argument("--content-dir", default=str(DATA / "content"))
    ap.add_argument("--styles-dir", default=str(DATA / "styles"))
    ap.add_argument("--photos", type=int, default=8, help="held-out photos to score")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--gatys-steps", type=int, default=0, help="L-BFGS steps for the Gatys floor (0: skip)")
    ap.add_argument("--gatys-photos", type=int, default=1)
    ap.add_argument("--gatys-cache", default=str(ROOT / "runs" / "gatys_cache"), help="reuse Gatys outputs from here")
    ap.add_argument("--styles", default=None, help="comma list of style names to score (default: all)")
    ap.add_argument("--sheet", default=None, help="write a contact sheet here (astronaut + coffee from samples/)")
    ap.add_argument("--clip", default=str(DATA / "video" / "vtest_pedestrians.mp4"))
    ap.add_argument("--clip-frames", type=int, default=60)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = args.model or str(next(p for p in builtin_models() if "adain" not in p.name))
    bank = StyleBank([model])
    engine = OrtEngine(bank, device="cpu")
    scorer = Scorer()
    held = [p for p in list_images(args.content_dir) if is_held_out(p)][: args.photos]
    photos = [resize_long(read_rgb(p), args.size) for p in held]
    photo_feats = [scorer.feats(p) for p in photos]
    rows = []
    t0 = time.time()
    wanted = set(args.styles.split(",")) if args.styles else None
    for s in bank.styles:
        if wanted and s.name not in wanted:
            continue
        sp = style_file(s.name, Path(args.styles_dir))
        if sp is None:
            print(f"skip {s.name}: no style image in {args.styles_dir}", file=sys.stderr)
            continue
        target = scorer.style_target(str(sp), args.size)
        ours_s, ours_c, photo_s, gatys_s, gatys_c = [], [], [], [], []
        for i, (img, pf) in enumerate(zip(photos, photo_feats)):
            out = engine.stylize(img, {s.index: 1.0})
            a, b = scorer.score(out, pf, target)
            ours_s.append(a)
            ours_c.append(b)
            with torch.no_grad():  # the photo's own features are already at hand
                photo_s.append(float(L.gram_style_loss(pf, target, STYLE_LAYERS)))
            if args.gatys_steps and i < args.gatys_photos:
                g = gatys_output(img, sp, args.gatys_steps, Path(args.gatys_cache), held[i].stem)
                a, b = scorer.score(g, pf, target)
                gatys_s.append(a)
                gatys_c.append(b)
        row = {"style": s.name, "ours_style": float(np.mean(ours_s)), "photo_style": float(np.mean(photo_s)),
               "ours_content": float(np.mean(ours_c))}
        row["style_ratio_vs_photo"] = row["ours_style"] / row["photo_style"]
        if gatys_s:
            n = len(gatys_s)
            row.update(gatys_style=float(np.mean(gatys_s)), gatys_content=float(np.mean(gatys_c)),
                       ours_style_vs_gatys=float(np.mean(ours_s[:n]) / np.mean(gatys_s)),
                       gatys_vs_photo=float(np.mean(gatys_s) / np.mean(photo_s[:n])))
        row["passes"] = row["style_ratio_vs_photo"] <= 0.5
        rows.append(row)
        print(f"{s.name:28} style/photo {row['style_ratio_vs_photo']:.3f}  content {row['ours_content']:.4g}"
              + (f"  gatys/photo {row['gatys_vs_photo']:.3f}" if gatys_s else ""), file=sys.stderr)
    result = {"model": Path(model).name, "photos": len(photos), "size": args.size, "rows": rows,
              "all_pass": all(r["passes"] for r in rows), "seconds": round(time.time() - t0, 1)}
    if args.sheet:
        contact_sheet(bank, engine, [ROOT / "samples" / "astronaut.jpg", ROOT / "samples" / "coffee.jpg"],
                      Path(args.sheet))
        result["sheet"] = args.sheet
    if args.clip and Path(args.clip).is_file() and args.clip_frames:
        result["temporal"] = temporal(engine, 0, Path(args.clip), args.clip_frames, (640, 360))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{'style':28} {'ours/photo':>10} {'content':>10} {'ours/gatys':>10}")
        for r in rows:
            print(f"{r['style']:28} {r['style_ratio_vs_photo']:>10.3f} {r['ours_content']:>10.4g} "
                  f"{r.get('ours_style_vs_gatys', float('nan')):>10.2f}")
        if "temporal" in result:
            t = result["temporal"]
            print(f"temporal ({t['clip']}, {t['frames']} frames): mean |O_t - O_t-1| {t['output_mad']:.2f} "
                  f"vs input {t['input_mad']:.2f} (x{t['ratio']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

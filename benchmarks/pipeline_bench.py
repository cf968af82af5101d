"""End-to-end throughput of the threaded pipeline vs a naive one-thread loop, same clip, same run.

    python benchmarks/pipeline_bench.py                 # shipped models, else tiny built ones
    python benchmarks/pipeline_bench.py --model m.onnx --sizes 640x360 --frames 60 --json

For each model kind x size x device (CPU; CUDA when a session loads there) it writes a
generated clip, runs `run_pipeline` (decode | infer | encode threads) and the naive
read-run-write loop on it, and reports fps, per-stage ms and the speed-up ratio; then the
pipeline again with the flicker stabilizer on (`--stabilize`, which runs in the writer thread).
Tiny built models are a few 3x3 convolutions (needs the `onnx` package; realtime does not).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.errors import UserError  # noqa: E402
from stylecam.realtime.modelfile import builtin_models, read_model_info  # noqa: E402
from stylecam.realtime.pipeline import RenderSettings, constant_settings, run_pipeline  # noqa: E402
from stylecam.realtime.sinks import VideoFileSink  # noqa: E402
from stylecam.realtime.sources import VideoSource  # noqa: E402
from stylecam.realtime.stabilize import Stabilizer  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from stylecam.testing import make_clip, make_tiny_model  # noqa: E402
from sizes import frame_size  # noqa: E402

SIZES = [(320, 240), (640, 360), (1280, 720), (1920, 1080)]


def naive(clip: Path, engine: OrtEngine, out: Path, settings: RenderSettings) -> float:
    """The obvious single-threaded loop: decode a frame, run it, encode it."""
    src = VideoSource(str(clip))
    sink = VideoFileSink(out, fps=src.rate, time_base=src.time_base)
    t = time.perf_counter()
    n = 0
    for f in src:
        f.image = engine.stylize(f.image, settings.mix)
        sink.write(f)
        n += 1
    sink.close()
    src.close()
    return n / (time.perf_counter() - t)


def threaded(clip: Path, engine: OrtEngine, out: Path, settings: RenderSettings, post: list | None = None
             ) -> tuple[float, dict]:
    src = VideoSource(str(clip))
    sink = VideoFileSink(out, fps=src.rate, time_base=src.time_base)
    t = time.perf_counter()
    stats = run_pipeline(src, engine, [sink], constant_settings(settings), post=post or [], progress=False)
    return stats.frames_out / (time.perf_counter() - t), dict(stats.stage_ms)


def devices() -> list[str]:
    import onnxruntime as ort

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="model file(s); default: shipped, else tiny built ones")
    ap.add_argument("--sizes", nargs="+", type=frame_size, default=SIZES, help="WIDTHxHEIGHT ...")
    ap.add_argument("--frames", type=int, default=24, help="frames at 640x360; scaled down for larger sizes")
    ap.add_argument("--device", action="append", help="cpu/cuda/tensorrt (default: cpu, plus cuda if present)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("stylecam").setLevel(logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="stylecam-bench-"))
    if args.model:
        models = [Path(m) for m in args.model]
    else:
        shipped = builtin_models()
        by_kind: dict[str, Path] = {}
        for p in shipped:
            by_kind.setdefault(read_model_info(p).kind, p)
        models = list(by_kind.values()) or [make_tiny_model(tmp / f"tiny-{k}.onnx", k, op="convnet")
                                            for k in ("feedforward", "cin")]
    rows = []
    for model in models:
        bank = StyleBank([model])
        settings = RenderSettings({0: 1.0})
        kind = bank[0].kind
        for dev in args.device or devices():
            try:
                engine = OrtEngine(bank, dev)
            except UserError as e:
                print(f"skip {dev}: {e}", file=sys.stderr)
                continue
            for w, h in args.sizes:
                spec = f"{w}x{h}"
                n = max(6, round(args.frames * 640 * 360 / (w * h)))
                clip = make_clip(tmp / f"clip-{spec}.mp4", n, 30, (w, h), audio=False, pattern="texture")
                engine.stylize(np.zeros((h, w, 3), np.uint8), settings.mix)  # warm-up: session, allocations
                fps_pipe, stage = threaded(clip, engine, tmp / "pipe.mp4", settings)
                fps_naive = naive(clip, engine, tmp / "naive.mp4", settings)
                fps_stab, stage_stab = threaded(clip, engine, tmp / "stab.mp4", settings, [Stabilizer()])
                row = {"model": model.name, "kind": kind, "device": engine.device, "size": spec, "frames": n,
                       "fps": round(fps_pipe, 2), "naive_fps": round(fps_naive, 2),
                       "speedup": round(fps_pipe / fps_naive, 2) if fps_naive else None,
                       "stage_ms": {k: round(v, 2) for k, v in stage.items()},
                       "fps_stabilized": round(fps_stab, 2), "stabilizer_ms": round(stage_stab.get("post", 0.0), 2)}
                rows.append(row)
                print(f"  {model.name} {engine.device} {spec}: {fps_pipe:.1f} fps (naive {fps_naive:.1f})",
                      file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = f"{'model':<22}{'kind':<12}{'dev':<6}{'size':<11}{'frames':>7}{'fps':>9}{'naive':>9}{'ratio':>7}" \
           f"{'read':>8}{'infer':>8}{'write':>8}  (ms){'stabilized':>12}{'post ms':>9}"
    print(head)
    for r in rows:
        s = r["stage_ms"]
        print(f"{r['model']:<22}{r['kind']:<12}{r['device']:<6}{r['size']:<11}{r['frames']:>7}{r['fps']:>9.1f}"
              f"{r['naive_fps']:>9.1f}{r['speedup']:>7.2f}{s.get('read', 0):>8.1f}{s.get('infer', 0):>8.1f}"
              f"{s.get('write', 0):>8.1f}      {r['fps_stabilized']:>12.1f}{r['stabilizer_ms']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

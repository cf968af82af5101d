"""Clips with camera motion for the flicker benchmark, made from the shared clips and photos.

    python benchmarks/motion_clips.py                      # -> runs/motion_clips/*.mp4 (not committed)
    python benchmarks/flicker_bench.py --clips runs/motion_clips/*.mp4 ../shared/data/video/*.mp4

Today's flicker figures came from static cameras; webcams and phones pan, zoom, shake and change
light. Each clip here is a 640x360 window moved over a larger source (a real clip, so the scene
moves too, or a still photo, as in animation) by a known per-frame affine motion: pans from 0.2 to
3 px a frame, a slow zoom, a slow rotation, hand-held shake, a fade-in, a hard cut, a dim and noisy
scene. The motion of every frame goes into <clip>.json beside it, so tests and benchmarks can
check a motion estimate against the truth.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
from sizes import frame_size  # noqa: E402


@dataclass
class Motion:
    name: str
    source: str                   # a clip in video/, or a photo in content/ (a still: animation-like)
    pan: tuple[float, float] = (0.0, 0.0)   # px a frame (output pixels)
    zoom: float = 0.0             # relative scale change a frame (+: in)
    rotate: float = 0.0           # degrees a frame
    shake: float = 0.0            # px, a smooth random hand-held jitter
    fade_in: int = 0              # frames from black
    cut_to: str | None = None     # second source from the middle frame on
    gain: float = 1.0             # brightness (dim scenes: 0.3)
    noise: float = 0.0            # sensor noise sigma (grey levels), for dim scenes


MOTIONS = [
    Motion("pan_0.2px_vtest", "video/vtest_pedestrians.mp4", pan=(0.2, 0.0)),
    Motion("pan_0.5px_people", "video/people_walking_one_by_one.mp4", pan=(0.5, 0.1)),
    Motion("pan_3px_parking", "video/parking_lot_cars.mp4", pan=(3.0, 0.0)),
    Motion("pan_0.4px_photo", "content/bsds_0001.jpg", pan=(0.4, 0.2)),
    Motion("zoom_in_vtest", "video/vtest_pedestrians.mp4", zoom=0.003),
    Motion("rotate_parking", "video/parking_lot_cars.mp4", rotate=0.08),
    Motion("shake_people", "video/people_walking_one_by_one.mp4", shake=2.0),
    Motion("fade_in_pan_vtest", "video/vtest_pedestrians.mp4", pan=(0.3, 0.0), fade_in=20),
    Motion("cut_parking_to_people", "video/parking_lot_cars.mp4", pan=(0.5, 0.0),
           cut_to="video/people_walking_one_by_one.mp4"),
    Motion("dim_pan_vtest", "video/vtest_pedestrians.mp4", pan=(0.5, 0.0), gain=0.3, noise=3.0),
]


def frames_of(spec: str, n: int) -> list[np.ndarray]:
    """n RGB frames of a clip (looped if short) or n copies of a photo."""
    path = DATA / spec
    if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        return [img] * n
    out: list[np.ndarray] = []
    while len(out) < n:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                out.append(f.to_ndarray(format="rgb24"))
                if len(out) >= n:
                    break
    return out


def matrices(m: Motion, n: int, size: tuple[int, int], src: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Per frame, the 2x3 map from output pixels to source pixels (the camera's window)."""
    w, h = size
    sw, sh = src
    # the largest window that stays inside the source over the whole travel (a little margin for
    # rotation and zoom; beyond the edge the source is mirrored)
    tx, ty = abs(m.pan[0]) * n + 4 * m.shake, abs(m.pan[1]) * n + 4 * m.shake
    base = 0.92 * min(sw / (w + tx), sh / (h + ty))  # source px per output px
    rng = np.random.default_rng(seed)
    jitter = np.cumsum(rng.normal(0, 1, (n, 2)), axis=0)
    jitter = cv2.GaussianBlur(jitter.astype(np.float32), (1, 9), 2.0) if m.shake else np.zeros((n, 2), np.float32)
    if m.shake:
        jitter *= m.shake / max(1e-6, float(np.abs(jitter).max()))
    out = []
    for t in range(n):
        s = base / (1.0 + m.zoom) ** t  # source px per output px
        a = np.deg2rad(m.rotate * t)
        cx = sw / 2 + (m.pan[0] * (t - n / 2) + jitter[t, 0]) * base
        cy = sh / 2 + (m.pan[1] * (t - n / 2) + jitter[t, 1]) * base
        c, si = np.cos(a) * s, np.sin(a) * s
        # source = R*S*(p - centre_out) + centre_src
        mat = np.array([[c, -si, cx - c * w / 2 + si * h / 2],
                        [si, c, cy - si * w / 2 - c * h / 2]], np.float32)
        out.append(mat)
    return out


def make(m: Motion, out_dir: Path, n: int, size: tuple[int, int], fps: int) -> Path:
    first = frames_of(m.source, n)
    second = frames_of(m.cut_to, n) if m.cut_to else None
    sh, sw = first[0].shape[:2]
    mats = matrices(m, n, size, (sw, sh))
    rng = np.random.default_rng(1)
    path = out_dir / f"{m.name}.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"crf": "12", "preset": "medium"}
        for t in range(n):
            src = second[t] if (second is not None and t >= n // 2) else first[t]
            img = cv2.warpAffine(src, mats[t], size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REFLECT)
            img = img.astype(np.float32) * m.gain
            if m.fade_in and t < m.fade_in:
                img *= t / m.fade_in
            if m.noise:
                img += rng.normal(0, m.noise, img.shape)
            vf = av.VideoFrame.from_ndarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, fps)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    meta = {**asdict(m), "frames": n, "size": list(size), "fps": fps,
            "cut_at": n // 2 if m.cut_to else None,
            "source_to_output_px": [m_.tolist() for m_ in mats]}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default=str(ROOT / "runs" / "motion_clips"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--only", default=None, help="comma list of clip names")
    args = ap.parse_args()
    size = args.size
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    for m in MOTIONS:
        if wanted and m.name not in wanted:
            continue
        if not (DATA / m.source).is_file() or (m.cut_to and not (DATA / m.cut_to).is_file()):
            print(f"skip {m.name}: {m.source} not in {DATA}", file=sys.stderr)
            continue
        print(make(m, out, args.frames, size, args.fps), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

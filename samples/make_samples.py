"""Make the bundled samples from permissively licensed packages (see samples/README.md).

    apt-get install opencv-doc          # vtest.avi (Apache-2.0 AND BSD-3-Clause)
    pip download scikit-image --no-deps -d /tmp/skw   # astronaut, coffee (public domain / CC0)
    python samples/make_samples.py --skimage-wheel /tmp/skw/scikit_image-*.whl

The clip's audio track is synthesised here (a few soft sine chimes), so every
byte of it is ours.
"""
from __future__ import annotations

import argparse
import io
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def chimes(seconds: float, rate: int = 48000) -> np.ndarray:
    """Stereo float32 (2, N): soft decaying sine notes, one every half second."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    out = np.zeros(n, np.float32)
    notes = [523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46]  # C5 E5 G5 ...
    for i, start in enumerate(np.arange(0, seconds, 0.5)):
        f = notes[i % len(notes)]
        s = int(start * rate)
        tt = t[: n - s]
        out[s:] += (0.25 * np.sin(2 * np.pi * f * tt) * np.exp(-tt * 3.0)).astype(np.float32)
    pan = np.stack([out * 0.9, out * 0.7])
    return np.clip(pan, -1, 1).astype(np.float32)


def make_clip(dst: Path, seconds: float = 6.0, width: int = 640, height: int = 480) -> None:
    if not VTEST.is_file():
        raise SystemExit(f"{VTEST} missing: apt-get install opencv-doc")
    src = av.open(str(VTEST))
    vin = src.streams.video[0]
    fps = Fraction(vin.average_rate or 10)
    tmp = dst.with_name(dst.stem + ".tmp" + dst.suffix)
    out = av.open(str(tmp), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.options = {"crf": "24", "preset": "slow"}
    a_rate = 48000
    aus = out.add_stream("aac", rate=a_rate)
    aus.layout = "stereo"
    n = 0
    for frame in src.decode(vin):
        if n >= seconds * float(fps):
            break
        img = cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA)
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        vf.pts = n
        vf.time_base = 1 / fps
        out.mux(vs.encode(vf))
        n += 1
    out.mux(vs.encode())
    audio = chimes(n / float(fps), a_rate)
    step = 1024
    for i in range(0, audio.shape[1], step):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, i:i + step]), format="fltp", layout="stereo")
        af.sample_rate = a_rate
        af.pts = i
        af.time_base = Fraction(1, a_rate)
        out.mux(aus.encode(af))
    out.mux(aus.encode())
    out.close()
    src.close()
    tmp.replace(dst)
    print(f"{dst}: {n} frames at {fps} fps, {dst.stat().st_size / 1e6:.2f} MB")


def make_stills(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        for name, out in (("skimage/data/astronaut.png", "astronaut.jpg"), ("skimage/data/coffee.png", "coffee.jpg")):
            data = np.frombuffer(z.read(name), np.uint8)
            img = cv2.imdecode(data, cv2.IMREAD_COLOR)
            cv2.imwrite(str(HERE / out), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            print(f"{HERE / out}: {img.shape[1]}x{img.shape[0]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skimage-wheel", type=Path, help="scikit-image wheel to take the stills from")
    args = p.parse_args()
    make_clip(HERE / "pedestrians.mp4")
    if args.skimage_wheel:
        make_stills(args.skimage_wheel)


if __name__ == "__main__":
    main()

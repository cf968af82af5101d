"""Memory of `stylecam image` on a huge photo: peak resident memory, time, and whether it fits a cap.

    python benchmarks/big_image.py                      # 8000x6000, built-in default style
    python benchmarks/big_image.py --size 8000x6000 --cap-gb 4 --json

The photo is made here (samples/astronaut.jpg scaled up, with noise so it does not compress to
nothing). The command runs as a user runs it, in a fresh process; its peak RSS comes from
getrusage. With --cap-gb it runs once more under that address-space limit (RLIMIT_AS), the way
a small container or `ulimit -v` would hold it.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from sizes import frame_size  # noqa: E402


def run(cmd: list[str], cap: int | None) -> tuple[int, float, float, str]:
    def limit() -> None:
        if cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
    return r.returncode, secs, max(peak, before) / 2**20, r.stderr.strip().splitlines()[-1:] and r.stderr.strip().splitlines()[-1] or ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=frame_size, default="8000x6000", help="WIDTHxHEIGHT")
    ap.add_argument("--cap-gb", type=float, default=4.0, help="also run under this address-space cap (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    w, h = args.size
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "big.jpg"
        img = cv2.resize(cv2.imread(str(ROOT / "samples" / "astronaut.jpg")), (w, h), interpolation=cv2.INTER_CUBIC)
        img = cv2.add(img, np.random.default_rng(0).integers(0, 12, img.shape, dtype=np.uint8))
        cv2.imwrite(str(src), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        del img
        cmd = [sys.executable, "-m", "stylecam", "image", str(src), "-o", str(Path(td) / "out.png"), "-q"]
        rc, secs, peak, last = run(cmd, None)
        result = {"size": f"{w}x{h}", "rc": rc, "seconds": round(secs, 1), "peak_rss_gb": round(peak, 2)}
        if rc != 0:
            result["error"] = last
        out = cv2.imread(str(Path(td) / "out.png"))
        result["output_size"] = f"{out.shape[1]}x{out.shape[0]}" if out is not None else None
        if args.cap_gb:
            rc2, secs2, _, last2 = run(cmd, int(args.cap_gb * 2**30))
            result[f"under_{args.cap_gb:g}gb_cap"] = {"rc": rc2, "seconds": round(secs2, 1),
                                                      **({"error": last2} if rc2 else {})}
    print(json.dumps(result, indent=1) if args.json else
          "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

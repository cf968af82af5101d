"""Image folders for training: recursive listing, a fixed held-out split, random crops.

Photos are decoded once and kept in memory at a little over the crop size: on a
2-core machine JPEG decoding would otherwise cost as much as the nets.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from stylecam.realtime.files import write_atomic
from stylecam.realtime.sources import IMAGE_SUFFIXES

from .errors import UserError


def list_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.exists():
        raise UserError(f"folder not found: {root}; pass an existing folder of images")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder; pass a folder of images (jpg/png/webp)")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"no images (jpg/png/webp) in {root}; put some photos there or pick another folder")
    return files


def is_held_out(path: str | Path, fraction: float = 0.1) -> bool:
    """Fixed split by a hash of the file name: the same photos are held out on every machine."""
    h = int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16)
    return (h % 1000) < fraction * 1000


def split_holdout(paths: Sequence[Path], fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    train = [p for p in paths if not is_held_out(p, fraction)]
    held = [p for p in paths if is_held_out(p, fraction)]
    if not train:  # tiny folders: keep something to train on
        train, held = list(paths), list(paths[:1])
    if not held and train:  # and something to validate on (then not held out: only for tiny folders)
        held = list(train[:1])
    return train, held


def read_rgb(path: str | Path) -> np.ndarray | None:
    """uint8 RGB or None when the file cannot be decoded."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path, what: str = "image") -> np.ndarray:
    """RGB uint8 (H,W,3) of a file the user named; a missing or undecodable file is a UserError
    naming `what`. Grey and alpha inputs are converted; Unicode paths work (imdecode)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} not found: {p}; check the path")
    img = read_rgb(p)
    if img is None:
        raise UserError(f"cannot read {what} {p}: not a readable image (png, jpg, bmp, tiff, webp)")
    return img


def load_style(path: str | Path, size: int | None) -> torch.Tensor:
    """(1,3,H,W) in [0,1], long side resized to `size` (None keeps it)."""
    img = read_image(path, "style image")
    if size:
        img = resize_long(img, size)
    return to_tensor(img)[None]


def resize_long(img: np.ndarray, long_side: int) -> np.ndarray:
    """Aspect-keeping resize so the long side is `long_side` (area down, cubic up)."""
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def fit_frame(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Centre-crop to the frame's aspect and scale to it: a photo as a webcam or clip would show it."""
    ih, iw = img.shape[:2]
    if iw * h > ih * w:
        cw = ih * w // h
        img = img[:, (iw - cw) // 2:(iw - cw) // 2 + cw]
    else:
        ch = iw * h // w
        img = img[(ih - ch) // 2:(ih - ch) // 2 + ch]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3,H,W) [0,1] -> (H,W,3) uint8."""
    return (t.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


class ImageCache:
    """Decoded images, short side resized to `short` (0: kept as is), held in memory as uint8."""

    def __init__(self, paths: Sequence[Path], short: int, label: str = "images"):
        self.images: list[np.ndarray] = []
        self.paths: list[Path] = []
        self.skipped = 0
        for p in paths:
            img = read_rgb(p)
            if img is None:
                self.skipped += 1
                print(f"warning: skipping unreadable image {p}", file=sys.stderr)
                continue
            if short:
                h, w = img.shape[:2]
                s = short / min(h, w)
                img = cv2.resize(img, (max(short, round(w * s)), max(short, round(h * s))),
                                 interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            self.images.append(img)
            self.paths.append(p)
        if self.skipped:
            print(f"warning: {self.skipped} unreadable {label} skipped", file=sys.stderr)
        if not self.images:
            raise UserError(f"none of the {len(paths)} {label} could be read; check that they are valid jpg/png/webp files")

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
        """n random crops (size x size) with random horizontal flips, (n,3,size,size)."""
        out = []
        for i in rng.integers(0, len(self.images), n):
            img = self.images[i]
            h, w = img.shape[:2]
            y = int(rng.integers(0, h - size + 1))
            x = int(rng.integers(0, w - size + 1))
            crop = img[y:y + size, x:x + size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            out.append(to_tensor(crop))
        return torch.stack(out)

    def center(self, i: int, size: int) -> torch.Tensor:
        img = self.images[i]
        h, w = img.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        return to_tensor(img[y:y + size, x:x + size])


def save_grid(path: str | Path, rows: Sequence[torch.Tensor]) -> None:
    """Save rows of (B,3,H,W) images as one PNG grid (atomically)."""
    lines = [np.concatenate([to_uint8(t) for t in r], axis=1) for r in rows]
    grid = np.concatenate(lines, axis=0)
    write_atomic(path, lambda tmp: cv2.imwrite(str(tmp), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)))

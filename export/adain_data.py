"""AdaIN training data, encoded once: content features and style statistics.

An AdaIN step needs the photo's relu4_1 features and the painting's channel
statistics, both from the frozen encoder. Computing them every step would cost
a third of the step; here they are computed once per run and kept in memory:

- content: relu4_1 of every photo (and of its mirror image), at a little over
  the crop size; a training crop is a random window of those features (one
  feature pixel = 8 image pixels), so the decoder learns on random crops
  without running the encoder again.
- style: mean/std at every style-loss layer for each painting seen whole at the
  size the runtime encodes style pictures (long side 512), plus a few windows of
  it at the same scale, so the decoder sees more than one statistic per painting.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, Sequence

import numpy as np
import torch

from .data import ImageCache, resize_long, to_tensor
from .losses import mean_std
from .vgg import VGG19Features

FEATURE_STRIDE = 8  # relu4_1 is 1/8 of the image


def content_short_side(image_size: int) -> int:
    """Photos are cached at this short side: 15 % over the crop, a multiple of 8."""
    return int(math.ceil(image_size * 1.15 / FEATURE_STRIDE)) * FEATURE_STRIDE


class ContentFeatures:
    """relu4_1 features of every photo and its mirror, stored in bf16 (half the memory)."""

    def __init__(self, images: ImageCache, encode: Callable[[torch.Tensor], torch.Tensor], layer: str,
                 device: torch.device, dtype: torch.dtype = torch.bfloat16, label: str = "content features"):
        self.feats: list[torch.Tensor] = []  # (2, C, h, w): original, mirrored
        t0 = time.monotonic()
        with torch.no_grad():
            for i, img in enumerate(images.images):
                x = to_tensor(img)[None].to(device)
                f = encode(torch.cat([x, x.flip(3)]))
                self.feats.append(f.to(dtype).cpu())
                if (i + 1) % 200 == 0:
                    print(f"{label}: {i + 1}/{len(images)} encoded", file=sys.stderr)
        self.seconds = time.monotonic() - t0
        print(f"{label}: {len(self.feats)} photos encoded once in {self.seconds:.0f} s", file=sys.stderr)

    def __len__(self) -> int:
        return len(self.feats)

    def batch(self, n: int, image_size: int, rng: np.random.Generator) -> torch.Tensor:
        """(n, C, s, s) float32 windows, s = image_size / 8, random photo, mirror and place."""
        s = max(1, image_size // FEATURE_STRIDE)
        out = []
        for i in rng.integers(0, len(self.feats), n):
            f = self.feats[i][int(rng.integers(0, 2))]
            h, w = f.shape[1:]
            y = int(rng.integers(0, h - s + 1))
            x = int(rng.integers(0, w - s + 1))
            out.append(f[:, y:y + s, x:x + s])
        return torch.stack(out).float()


class StyleStats:
    """Per painting and view, channel mean/std at every style layer."""

    def __init__(self, images: Sequence[np.ndarray], vgg: VGG19Features, layers: Sequence[str], device: torch.device,
                 long_side: int = 512, windows: int = 2, seed: int = 0):
        self.layers = list(layers)
        rng = np.random.default_rng(seed)
        per_layer: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {l: [] for l in self.layers}
        self.owner: list[int] = []  # painting index of each view
        t0 = time.monotonic()
        with torch.no_grad():
            for k, img in enumerate(images):
                img = resize_long(img, long_side)
                views = [img]
                h, w = img.shape[:2]
                for _ in range(windows):  # half-size windows at the same scale
                    wh, ww = max(32, h // 2), max(32, w // 2)
                    if wh >= h or ww >= w:
                        break
                    y, x = int(rng.integers(0, h - wh + 1)), int(rng.integers(0, w - ww + 1))
                    views.append(img[y:y + wh, x:x + ww])
                for v in views:
                    feats = vgg(to_tensor(np.ascontiguousarray(v))[None].to(device), self.layers)
                    for l in self.layers:
                        m, s = mean_std(feats[l].float())
                        per_layer[l].append((m[0].cpu(), s[0].cpu()))
                    self.owner.append(k)
        self.mean = {l: torch.stack([m for m, _ in v]) for l, v in per_layer.items()}  # (V, C)
        self.std = {l: torch.stack([s for _, s in v]) for l, v in per_layer.items()}
        self.seconds = time.monotonic() - t0
        print(f"style statistics: {len(images)} paintings, {len(self.owner)} views in {self.seconds:.0f} s",
              file=sys.stderr)

    def __len__(self) -> int:
        return len(self.owner)

    def batch(self, idx: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {l: (self.mean[l][idx], self.std[l][idx]) for l in self.layers}

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.as_tensor(rng.integers(0, len(self.owner), n))

"""Huge pictures in bounded memory: stylize in overlapping tiles, feather the seams, a strip at a time.

A net's buffers grow with the picture (an 8000x6000 photo took 10 GB whole); in tiles they stay
those of one tile. Tiles overlap by `overlap` px and are blended with linear ramps over the
overlap, so instance-norm statistics, which differ a little from tile to tile, fade into each other
instead of meeting at a line. Output rows are finished one band of tiles at a time, so besides the
input and output pictures the working memory is one band (width x tile height) of float32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Tiling:
    above: int = 3840 * 2160  # frames up to 4K UHD run whole; larger ones in tiles
    tile: int = 1536          # tile side (px): a tile's buffers are those of a 1536x1536 frame
    overlap: int = 128        # px shared by neighbouring tiles, blended


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins covering [0, length) with at least `overlap` px shared between neighbours."""
    if length <= tile:
        return [0]
    step = tile - overlap
    n = -(-(length - overlap) // step)  # ceil
    last = length - tile
    return [round(i * last / (n - 1)) for i in range(n)]


def _ramp(n: int, lead: int, trail: int) -> np.ndarray:
    """Weights along one axis of a tile: rising over `lead` px, falling over `trail` px, else 1."""
    w = np.ones(n, np.float32)
    if lead:
        w[:lead] = (np.arange(lead, dtype=np.float32) + 0.5) / lead
    if trail:
        w[n - trail:] = np.minimum(w[n - trail:], (np.arange(trail, 0, -1, dtype=np.float32) - 0.5) / trail)
    return w


def stylize_tiled(frame: np.ndarray, run: Callable[[np.ndarray], np.ndarray], tile: int = Tiling.tile,
                  overlap: int = Tiling.overlap) -> np.ndarray:
    """`run` (HxWx3 uint8 -> same) applied in overlapping tiles; the blended uint8 picture."""
    h, w = frame.shape[:2]
    ys, xs = _starts(h, tile, overlap), _starts(w, tile, overlap)
    out = np.empty_like(frame)
    band: np.ndarray | None = None      # float accumulator for rows [band_y, band_y + band.shape[0])
    weight: np.ndarray | None = None
    band_y = 0
    for r, y in enumerate(ys):
        th = min(tile, h - y)
        end = y + th
        # grow the band to cover this row of tiles (rows already there are the overlap kept from above)
        if band is None:
            band, weight, band_y = np.zeros((th, w, 3), np.float32), np.zeros((th, w, 1), np.float32), y
        elif end > band_y + band.shape[0]:
            extra = end - (band_y + band.shape[0])
            band = np.concatenate([band, np.zeros((extra, w, 3), np.float32)])
            weight = np.concatenate([weight, np.zeros((extra, w, 1), np.float32)])
        lead_y = (ys[r - 1] + min(tile, h - ys[r - 1]) - y) if r else 0
        trail_y = (end - ys[r + 1]) if r + 1 < len(ys) else 0
        wy = _ramp(th, max(0, lead_y), max(0, trail_y))
        for c, x in enumerate(xs):
            tw = min(tile, w - x)
            lead_x = (xs[c - 1] + min(tile, w - xs[c - 1]) - x) if c else 0
            trail_x = (x + tw - xs[c + 1]) if c + 1 < len(xs) else 0
            wt = (wy[:, None] * _ramp(tw, max(0, lead_x), max(0, trail_x))[None, :])[..., None]
            y0 = y - band_y
            band[y0:y0 + th, x:x + tw] += run(np.ascontiguousarray(frame[y:end, x:x + tw])).astype(np.float32) * wt
            weight[y0:y0 + th, x:x + tw] += wt
        # rows no later tile touches are final
        done = (ys[r + 1] if r + 1 < len(ys) else h) - band_y
        out[band_y:band_y + done] = np.clip(band[:done] / weight[:done] + 0.5, 0, 255).astype(np.uint8)
        band, weight, band_y = band[done:].copy(), weight[done:].copy(), band_y + done
    return out

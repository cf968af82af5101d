"""Huge pictures in bounded memory: stylize in overlapping tiles, feather the seams, a strip at a time.

A net's buffers grow with the picture (an 8000x6000 photo took 10 GB whole); in tiles they stay
those of one tile. Tiles overlap by `overlap` px and are blended with linear ramps over the
overlap, so instance-norm statistics, which differ a little from tile to tile, fade into each other
instead of meeting at a line. Output rows are finished one band of tiles at a time, so besides the
input and output pictures the working memory is one band (width x tile height) of float32.
The weights are built to sum to one, so the band needs no weight sum of its own.
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


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, np.ndarray]]:
    """(start, end, weights) of the tiles along one axis. A tile's falling ramp spans exactly its
    overlap with the next tile, and that tile's rising ramp the same pixels, so the weights of
    neighbours sum to one there (and products of the two axes' weights, at corners, too)."""
    starts = _starts(length, tile, overlap)
    ends = [min(s + tile, length) for s in starts]
    out = []
    for i, (s, e) in enumerate(zip(starts, ends)):
        lead = ends[i - 1] - s if i else 0
        trail = e - starts[i + 1] if i + 1 < len(starts) else 0
        out.append((s, e, _ramp(e - s, lead, trail)))
    return out


def stylize_tiled(frame: np.ndarray, run: Callable[[np.ndarray], np.ndarray], tiling: Tiling = Tiling()) -> np.ndarray:
    """`run` (HxWx3 uint8 -> same) applied in overlapping tiles; the blended uint8 picture."""
    h, w = frame.shape[:2]
    rows, cols = _spans(h, tiling.tile, tiling.overlap), _spans(w, tiling.tile, tiling.overlap)
    out = np.empty_like(frame)
    band = np.zeros((0, w, 3), np.float32)  # weighted sum for rows [band_y, band_y + len(band))
    band_y = rows[0][0]
    for r, (y, end, wy) in enumerate(rows):
        # grow the band to cover this row of tiles (rows already there are the overlap kept from above)
        band = np.concatenate([band, np.zeros((end - band_y - len(band), w, 3), np.float32)])
        for x, x_end, wx in cols:
            tile = run(np.ascontiguousarray(frame[y:end, x:x_end])).astype(np.float32)
            band[y - band_y:end - band_y, x:x_end] += tile * (wy[:, None] * wx[None, :])[..., None]
        # rows no later tile touches are final
        done = (rows[r + 1][0] if r + 1 < len(rows) else h) - band_y
        out[band_y:band_y + done] = np.clip(band[:done] + 0.5, 0, 255).astype(np.uint8)
        band, band_y = band[done:].copy(), band_y + done
    return out

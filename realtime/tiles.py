"""Huge pictures in bounded memory: stylize in overlapping tiles, on whole-picture statistics.

A net's buffers grow with the picture (an 8000x6000 photo took 10 GB whole); in tiles they stay
those of one tile. But a net's normalisations (instance norm, AdaIN's content statistics) see only
their tile, so each tile would come out in its own tone. So a first pass runs every tile and pools
the statistics each normalisation saw into the whole picture's (exact for the first layer; deeper
layers saw tiles normalised on their own, a close estimate), and the pass that paints runs every
tile on those (docs/model-format.md, "Tile statistics"). Tiles overlap by `overlap` px and are
blended with linear ramps over the overlap, which hides what is left: a conv's border differs a
little from its inside. Output rows are finished one band of tiles at a time, so besides the input
and output pictures the working memory is one band (width x tile height) of float32. The weights
are built to sum to one, so the band needs no weight sum of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# Per model file: normalisation statistics, (1, 2K) = K channel means then K variances.
Stats = dict[str, np.ndarray]
# A tile in, normalised on the given statistics (None: its own): the stylized tile and the statistics it had.
Run = Callable[[np.ndarray, "Stats | None"], tuple[np.ndarray, Stats]]


@dataclass(frozen=True)
class Tiling:
    above: int = 3840 * 2160  # frames up to 4K UHD run whole; larger ones in tiles
    tile: int = 1536          # tile side (px): a tile's buffers are those of a 1536x1536 frame
    overlap: int = 128        # px shared by neighbouring tiles, blended
    passes: int = 2           # statistics passes + the painting pass (1: each tile on its own statistics)


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


def pool(parts: list[tuple[float, Stats]]) -> Stats:
    """The statistics of a whole from its parts' (weight: each part's share of the pixels): the mean of
    means, and the variance from the pooled second moments. In float64: E[x^2] - mean^2 cancels."""
    out: Stats = {}
    for key in parts[0][1]:
        n = np.array([wt for wt, _ in parts], np.float64)[:, None]
        s = np.stack([p[key].reshape(-1) for _, p in parts]).astype(np.float64)
        k = s.shape[1] // 2
        mean = (n * s[:, :k]).sum(0) / n.sum()
        second = (n * (s[:, k:] + s[:, :k] ** 2)).sum(0) / n.sum()
        out[key] = np.concatenate([mean, np.maximum(second - mean ** 2, 0.0)])[None].astype(np.float32)
    return out


def whole_picture_stats(frame: np.ndarray, run: Run, tiling: Tiling = Tiling(), given: Stats | None = None
                        ) -> Stats | None:
    """One pass over the tiles, their statistics pooled; None when no model reports any (old files).
    A tile weighs what it paints: its blend weights, which over all tiles sum to one per pixel."""
    h, w = frame.shape[:2]
    parts = []
    for y, end, wy in _spans(h, tiling.tile, tiling.overlap):
        for x, x_end, wx in _spans(w, tiling.tile, tiling.overlap):
            _, seen = run(np.ascontiguousarray(frame[y:end, x:x_end]), given)
            if not seen:
                return None
            parts.append((float(wy.sum()) * float(wx.sum()), seen))
    return pool(parts)


def stylize_tiled(frame: np.ndarray, run: Run, tiling: Tiling = Tiling()) -> np.ndarray:
    """`run` (HxWx3 uint8 -> same) applied in overlapping tiles on whole-picture statistics; the blended
    uint8 picture."""
    given = None
    for _ in range(tiling.passes - 1):
        given = whole_picture_stats(frame, run, tiling, given)
        if given is None:
            break
    h, w = frame.shape[:2]
    rows, cols = _spans(h, tiling.tile, tiling.overlap), _spans(w, tiling.tile, tiling.overlap)
    out = np.empty_like(frame)
    band = np.zeros((0, w, 3), np.float32)  # weighted sum for rows [band_y, band_y + len(band))
    band_y = rows[0][0]
    for r, (y, end, wy) in enumerate(rows):
        # grow the band to cover this row of tiles (rows already there are the overlap kept from above)
        band = np.concatenate([band, np.zeros((end - band_y - len(band), w, 3), np.float32)])
        for x, x_end, wx in cols:
            tile = run(np.ascontiguousarray(frame[y:end, x:x_end]), given)[0].astype(np.float32)
            band[y - band_y:end - band_y, x:x_end] += tile * (wy[:, None] * wx[None, :])[..., None]
        # rows no later tile touches are final
        done = (rows[r + 1][0] if r + 1 < len(rows) else h) - band_y
        out[band_y:band_y + done] = np.clip(band[:done] + 0.5, 0, 255).astype(np.uint8)
        band, band_y = band[done:].copy(), band_y + done
    return out

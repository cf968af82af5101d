"""Temporal stability on the CPU: optical flow, warping, occlusion masks, warping error, scene cuts.

OpenCV and numpy only (realtime/ never imports torch). Frames are uint8 (H, W, 3) RGB.

Flow convention: a flow `f` *from A to B* is float32 (H, W, 2) on A's pixel grid with
A(x) ≈ B(x + f(x)) -- what `cv2.DISOpticalFlow.calc(A, B)` returns. `warp(B, f)` samples
B at x + f(x), so it moves B onto A's grid. To bring the previous frame onto the current
one, compute the flow from the current frame to the previous one and warp the previous.

Occlusions: the forward-backward check of Sundaram et al. 2010 as used by Ruder et al. 2016
for video style transfer: a pixel x of A is inconsistent when

    |f_ab(x) + f_ba(x + f_ab(x))|^2 > alpha * (|f_ab(x)|^2 + |f_ba(x + f_ab(x))|^2) + beta

(alpha = 0.01, beta = 0.5 px^2 in the papers), or when x + f_ab(x) leaves the frame.

Motion boundaries (Ruder et al. 2016): |grad u|^2 + |grad v|^2 > 0.01 |f|^2 + 0.002; pixels
there are excluded too.

Warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): for each
pair, the previous output warped onto the current one by the flow of the *input* clip,
squared difference to the current output (RGB in [0, 1], summed over channels) averaged
over non-occluded pixels; then averaged over the pairs of the clip.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

#: name -> (OpenCV DIS preset, parameter overrides).
#: "accurate" = medium refined down to full resolution with small, dense patches: ~5x slower,
#: for measurement only. On the vtest clip at 640x360 it cuts the input's own warping error
#: on moving pixels from 20.6e-3 (medium) to 5.3e-3 -- DIS medium stops at 1/2 resolution
#: and loses the small walking people, which then dominate any warping-error figure.
PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
    "accurate": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
                 {"FinestScale": 0, "PatchSize": 6, "PatchStride": 2, "VariationalRefinementIterations": 10}),
}

#: Forward-backward consistency constants of Sundaram et al. / Ruder et al. (full-size pixels).
FB_ALPHA = 0.01
FB_BETA = 0.5
#: Motion-boundary constants of Ruder et al. 2016.
MB_ALPHA = 0.01
MB_BETA = 0.002


def gray(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W) luminance of an RGB frame (a grey frame passes through)."""
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.setflags(write=False)
    gy.setflags(write=False)
    return gx, gy


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flow resampled to `size` = (W, H), vectors rescaled into the new pixel units."""
    h, w = flow.shape[:2]
    W, H = size
    if (W, H) == (w, h):
        return flow
    out = cv2.resize(flow, (W, H), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= W / w
    out[..., 1] *= H / h
    return out


def flow_to_map(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.remap map (float32 (H, W, 2), absolute x, y) for sampling at x + flow(x) on a `size` = (W, H) grid.

    A smaller flow is turned into absolute coordinates at its own size and then resized:
    cheaper than resizing the flow and adding a full-size grid, and the same away from the
    outermost half low-res pixel (cv2.resize maps pixel centres linearly).
    """
    h, w = flow.shape[:2]
    W, H = size
    gx, gy = _grid(h, w)
    u, v = cv2.split(flow)
    if (W, H) == (w, h):
        return cv2.merge([gx + u, gy + v])
    sx, sy = W / w, H / h
    mx = (gx + u) * sx + (0.5 * sx - 0.5)
    my = (gy + v) * sy + (0.5 * sy - 0.5)
    return cv2.resize(cv2.merge([mx, my]), (W, H), interpolation=cv2.INTER_LINEAR)


def warp(img: np.ndarray, flow: np.ndarray, *, interpolation: int = cv2.INTER_LINEAR,
         border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """`img` sampled at x + flow(x) (cv2.remap); a flow of another size is rescaled to img's size."""
    h, w = img.shape[:2]
    return cv2.remap(img, flow_to_map(flow, (w, h)), None, interpolation, borderMode=border)


def sq_norm(flow: np.ndarray) -> np.ndarray:
    """float32 (H, W): |flow(x)|^2 (on split channels: numpy reductions over a last axis of 2 are slow)."""
    u, v = cv2.split(flow)
    return u * u + v * v


def out_of_bounds(flow: np.ndarray) -> np.ndarray:
    """bool (H, W): where x + flow(x) lands outside the frame."""
    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    u, v = cv2.split(flow)
    x = gx + u
    y = gy + v
    return (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)


def global_motion(flow: np.ndarray, step: int = 8, tol: float = 0.5) -> np.ndarray | None:
    """The camera's part of `flow`: the affine motion most of the frame follows, as a flow field.

    A RANSAC fit (cv2.estimateAffine2D, inliers within `tol` px) on every `step`-th pixel, so
    moving objects are outliers; covers pans, zooms, rotation and shake. None when no model fits.
    """
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    if len(src) < 3:
        return None
    a, _ = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=tol, maxIters=200)
    if a is None:
        return None
    gx, gy = _grid(h, w)
    u = a[0, 0] * gx + a[0, 1] * gy + (a[0, 2] - gx)
    v = a[1, 0] * gx + a[1, 1] * gy + (a[1, 2] - gy)
    return cv2.merge([u.astype(np.float32), v.astype(np.float32)])


def occlusion_mask(flow_ab: np.ndarray, flow_ba: np.ndarray, alpha: float = FB_ALPHA,
                   beta: float = FB_BETA) -> np.ndarray:
    """bool (H, W) on A's grid: True where the forward-backward check fails or x + f_ab(x) leaves the frame.

    `beta` is in squared pixels of these flows; for flows at a reduced scale s, pass beta * s**2.
    """
    back = warp(flow_ba, flow_ab, border=cv2.BORDER_REPLICATE)  # f_ba(x + f_ab(x))
    err = sq_norm(flow_ab + back)
    mag = sq_norm(flow_ab) + sq_norm(back)
    return (err > alpha * mag + beta) | out_of_bounds(flow_ab)


def motion_boundaries(flow: np.ndarray, alpha: float = MB_ALPHA, beta: float = MB_BETA) -> np.ndarray:
    """bool (H, W): motion boundaries as in Ruder et al. 2016, |grad u|^2 + |grad v|^2 > alpha * |flow|^2 + beta.

    The gradient does not change with the flow's scale s, |flow|^2 does: pass alpha / s**2 for small flows.
    """
    u, v = cv2.split(flow)
    g = np.zeros(u.shape, np.float32)
    for c in (u, v):
        for dx, dy in ((1, 0), (0, 1)):
            d = cv2.Sobel(c, cv2.CV_32F, dx, dy, ksize=1, scale=0.5)
            g += d * d
    return g > alpha * (u * u + v * v) + beta


class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016) on grey frames, optionally at a reduced `scale`.

    `calc(a, b)` returns the flow from a to b at a's full size (vectors in full-size pixels);
    `calc_small` works on frames already made small with `small()` and returns small-pixel flow.
    """

    def __init__(self, preset: str = "fast", scale: float = 1.0) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {', '.join(PRESETS)}")
        if not 0.05 <= scale <= 1.0:
            raise ValueError(f"flow scale {scale} is out of range; use 0.05 .. 1")
        self.preset = preset
        self.scale = float(scale)
        base, overrides = PRESETS[preset]
        self._dis = cv2.DISOpticalFlow_create(base)
        for k, v in overrides.items():
            getattr(self._dis, "set" + k)(v)

    def small_size(self, w: int, h: int) -> tuple[int, int]:
        return max(8, round(w * self.scale)), max(8, round(h * self.scale))

    def small(self, frame: np.ndarray) -> np.ndarray:
        g = gray(frame)
        h, w = g.shape
        size = self.small_size(w, h)
        return g if size == (w, h) else cv2.resize(g, size, interpolation=cv2.INTER_AREA)

    def calc_small(self, a_small: np.ndarray, b_small: np.ndarray) -> np.ndarray:
        return self._dis.calc(a_small, b_small, None)

    def calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        return resize_flow(self.calc_small(self.small(a), self.small(b)), (w, h))


def pair_flow(prev: np.ndarray, cur: np.ndarray, estimator: FlowEstimator | None = None,
              alpha: float = FB_ALPHA, beta: float = FB_BETA, boundaries: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """(flow cur->prev, valid) at full size: `warp(prev_output, flow)` lines up with the current frame,
    `valid` is bool (H, W), True on pixels that pass the forward-backward check, stay in frame and
    (with `boundaries`) are not on a motion boundary -- Ruder et al.'s weights. DIS smooths flow
    across object edges, so just-revealed background often passes the forward-backward check;
    the motion-boundary test is what catches it."""
    est = estimator or FlowEstimator("accurate", 1.0)
    h, w = cur.shape[:2]
    a, b = est.small(cur), est.small(prev)
    f_cp = est.calc_small(a, b)
    f_pc = est.calc_small(b, a)
    s2 = est.scale ** 2
    occ = occlusion_mask(f_cp, f_pc, alpha, beta * s2)
    if boundaries:
        occ |= motion_boundaries(f_cp, MB_ALPHA / s2)
    if occ.shape != (h, w):
        occ = cv2.resize(occ.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return resize_flow(f_cp, (w, h)), ~occ


def _unit(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) * (1.0 / 255.0)


def warping_error(prev_out: np.ndarray, cur_out: np.ndarray, flow: np.ndarray, valid: np.ndarray,
                  region: np.ndarray | None = None) -> float:
    """Lai et al. 2018 for one pair: mean over valid pixels of sum_c (O_t - warp(O_{t-1}))^2, RGB in [0, 1].

    `region` (bool) restricts the mean further. NaN when no pixel is left.
    """
    m = valid if region is None else (valid & region)
    n = int(m.sum())
    if n == 0:
        return float("nan")
    d = _unit(cur_out) - _unit(warp(prev_out, flow))
    return float((d * d).sum(-1)[m].sum() / n)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Flow-free flicker figure: mean |a - b| over pixels and channels, in 0..255 units."""
    return float(cv2.absdiff(a, b).mean())


class SceneCutDetector:
    """Flags a hard cut between consecutive frames.

    Works on small grey thumbnails: a cut is a large grey-level histogram change
    (Bhattacharyya distance above `hist_threshold`) or a very large mean absolute
    difference (`mad_threshold`, 0..255). Motion keeps the histogram; a cut changes it.
    """

    def __init__(self, hist_threshold: float = 0.35, mad_threshold: float = 50.0, size: tuple[int, int] = (64, 36),
                 bins: int = 32) -> None:
        self.hist_threshold = hist_threshold
        self.mad_threshold = mad_threshold
        self.size = size
        self.bins = bins
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self.last_distance = 0.0
        self.last_mad = 0.0

    def reset(self) -> None:
        self._prev = None

    def _thumb(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = cv2.resize(gray(frame), self.size, interpolation=cv2.INTER_AREA)
        hist = cv2.calcHist([t], [0], None, [self.bins], [0, 256])
        return t, cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1)

    def _compare(self, pa: tuple[np.ndarray, np.ndarray], pb: tuple[np.ndarray, np.ndarray]) -> bool:
        self.last_distance = float(cv2.compareHist(pa[1], pb[1], cv2.HISTCMP_BHATTACHARYYA))
        self.last_mad = float(cv2.absdiff(pa[0], pb[0]).mean())
        return self.last_distance > self.hist_threshold or self.last_mad > self.mad_threshold

    def __call__(self, frame: np.ndarray) -> bool:
        """Feed the next frame; True when it starts a new shot (never for the first frame)."""
        cur = self._thumb(frame)
        prev, self._prev = self._prev, cur
        if prev is None or prev[0].shape != cur[0].shape:
            return False
        return self._compare(prev, cur)


@dataclass
class _Series:
    warp: list[float] = field(default_factory=list)
    mad: list[float] = field(default_factory=list)
    regions: dict[str, list[float]] = field(default_factory=dict)


class TemporalMeter:
    """Accumulates, over a clip, the warping error and the flow-free difference of several outputs.

    Each `update(src, outputs)` gives the input frame and the named outputs for it (e.g.
    {"raw": ..., "stabilized": ...}); the input itself is measured as "input". The flow
    is computed once per pair on the input frames; pairs across a scene cut are skipped.
    `regions` (name -> bool mask) also reports each output's warping error inside the mask.
    """

    def __init__(self, estimator: FlowEstimator | None = None, alpha: float = FB_ALPHA, beta: float = FB_BETA,
                 cuts: SceneCutDetector | None = None) -> None:
        self.estimator = estimator or FlowEstimator("accurate", 1.0)
        self.alpha, self.beta = alpha, beta
        self.cuts = cuts or SceneCutDetector()
        self._prev: dict[str, np.ndarray] | None = None
        self._series: dict[str, _Series] = {}
        self.pairs = 0
        self.skipped_cuts = 0
        self.valid_fraction: list[float] = []

    def update(self, src: np.ndarray, outputs: Mapping[str, np.ndarray],
               regions: Mapping[str, np.ndarray] | None = None) -> None:
        cur = {"input": src, **outputs}
        cut = self.cuts(src)
        prev, self._prev = self._prev, cur
        if prev is None or prev["input"].shape != src.shape:
            return
        if cut:
            self.skipped_cuts += 1
            return
        flow, valid = pair_flow(prev["input"], src, self.estimator, self.alpha, self.beta)
        self.pairs += 1
        self.valid_fraction.append(float(valid.mean()))
        for name, img in cur.items():
            if name not in prev or prev[name].shape != img.shape:
                continue
            s = self._series.setdefault(name, _Series())
            s.warp.append(warping_error(prev[name], img, flow, valid))
            s.mad.append(mean_abs_diff(prev[name], img))
            for rname, mask in (regions or {}).items():
                s.regions.setdefault(rname, []).append(warping_error(prev[name], img, flow, valid, mask))

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> {"warp_error", "mean_abs_diff", "ratio_to_input", "warp_error_<region>"}."""
        out: dict[str, dict[str, float]] = {}
        base = self._series.get("input")
        base_err = float(np.mean(base.warp)) if base and base.warp else float("nan")
        for name, s in self._series.items():
            e = float(np.nanmean(s.warp)) if s.warp else float("nan")
            row = {"warp_error": e, "mean_abs_diff": float(np.mean(s.mad)) if s.mad else float("nan"),
                   "ratio_to_input": e / base_err if base_err > 0 else float("nan")}
            for rname, vals in s.regions.items():
                v = [x for x in vals if x == x]
                row[f"warp_error_{rname}"] = float(np.mean(v)) if v else float("nan")
            out[name] = row
        return out

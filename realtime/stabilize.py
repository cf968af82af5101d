"""The flicker stabilizer: a pipeline post-processor that blends warped history where motion is trusted.

Per frame (all flow work on small grey copies of the *input*, so the stylized picture
never steers the motion estimate):

1. flow current -> previous input and previous -> current (DIS, `flow_scale` of the size);
2. confidence = forward-backward consistent (Ruder et al. 2016) x in frame x the warped
   previous input matches the current input within `photo_low`..`photo_high` grey levels
   (catches flow errors, DIS's smoothing across object edges and lighting changes) x not
   within `boundary` small px of a motion boundary (stylized pixels there carry the moving
   edge's context) x motion below `max_motion`; the unreliable area is grown by `grow` small
   px and the edge softened, so the weight is soft but stays zero on occlusions;
3. out = w * warp(previous output) + (1 - w) * current stylized, w = strength * confidence.

Camera motion: a moving camera puts every pixel at a sub-pixel offset, and resampling a texture
0.3 px off changes it by tens of grey levels, so a plain photometric check rejects the textured
half of every panning frame. Pixels that move with the camera (the flow's global affine part,
`temporal.global_motion`, within `rigid_low`..`rigid_high` small px) are checked after a
`photo_blur` blur with the local gradient times `photo_texture` forgiven; pixels that move on
their own (people, cars, the background a moving object uncovers) keep the strict check, so the
relaxed check never reaches where a trail could start.

The history is the previous *stabilized* frame (an exponential blend), but it only ever
enters where the input says the pixel is the same surface, so moving objects leave no
trails; disocclusions, fast motion and cuts fall back to the current stylized frame.
State resets on scene cuts, on size changes and on `reset()`.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from .errors import UserError
from .settings import STABILIZE_STRENGTH
from .temporal import (FB_ALPHA, FB_BETA, MB_ALPHA, FlowEstimator, SceneCutDetector, global_motion,
                       motion_boundaries, occlusion_mask, sq_norm, warp)


class Stabilizer:
    """Temporal stabilizer for stylized frames: `__call__(src, out) -> out`, `reset()`, `last_ms`.

    strength: weight of the warped history where the flow is trusted (0 = off, < 1).
    flow_scale: the flow runs at this fraction of the input size (0.5: 320x180 for 640x360).
    The other defaults were tuned with benchmarks/flicker_bench.py so that the error inside
    the moving objects' (dis)occluded regions of its synthetic clip stays at the raw output's,
    and on benchmarks/motion_clips.py's pans, zooms and shake so that a moving camera keeps
    the history (docs/stabilizer.md has the figures).
    """

    def __init__(self, strength: float = STABILIZE_STRENGTH, flow_scale: float = 0.5, *, preset: str = "fast",
                 alpha: float = FB_ALPHA, beta: float = FB_BETA, photo_low: float = 4.0, photo_high: float = 10.0,
                 photo_blur: float = 1.0, photo_texture: float = 0.5, rigid_low: float = 0.25, rigid_high: float = 0.75,
                 max_motion: float = 48.0, grow: int = 4, soften: int = 5, boundary: int = 3,
                 cuts: SceneCutDetector | None = None) -> None:
        if not 0.0 <= strength < 1.0:
            raise UserError(f"stabilizer strength {strength} is out of range; use a number from 0 to 0.99")
        if not 0.05 <= flow_scale <= 1.0:
            raise UserError(f"stabilizer flow scale {flow_scale} is out of range; use 0.05 .. 1")
        self.strength = float(strength)
        self.flow = FlowEstimator(preset, flow_scale)
        self.alpha, self.beta = alpha, beta
        self.photo_low, self.photo_high = photo_low, photo_high
        self.photo_blur, self.photo_texture = photo_blur, photo_texture
        self.rigid_low, self.rigid_high = rigid_low, rigid_high
        self.max_motion = max_motion
        self.grow, self.soften, self.boundary = grow, soften, boundary
        self._band = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * boundary + 1, 2 * boundary + 1)) if boundary else None
        self.cuts = cuts or SceneCutDetector()
        self.last_ms = 0.0
        self.last_confidence = float("nan")  # mean blend confidence of the last frame (0..1)
        self.last_rigid = float("nan")  # fraction of the last frame moving with the camera (0..1)
        self.last_cut = False
        self.resets = 0
        self._prev_small: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self._shape: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)) if grow else None

    def reset(self) -> None:
        self._prev_small = None
        self._prev_out = None
        self._shape = None
        self.cuts.reset()

    def confidence(self, cur_small: np.ndarray, prev_small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow cur->prev, confidence float32 0..1) on the small grid."""
        s = self.flow.scale
        f_cp = self.flow.calc_small(cur_small, prev_small)
        f_pc = self.flow.calc_small(prev_small, cur_small)
        ok = ~occlusion_mask(f_cp, f_pc, self.alpha, self.beta * s * s)
        conf = ok.astype(np.float32)
        # photometric check on the input: the warped previous frame must look like this one
        warped = warp(prev_small, f_cp)
        photo = self._photometric(warped, cur_small, relaxed=False)
        camera = global_motion(f_cp)
        if camera is not None and self.rigid_high > 0:
            residual = cv2.magnitude(*cv2.split(f_cp - camera))
            rigid = np.clip((self.rigid_high - residual) * (1.0 / (self.rigid_high - self.rigid_low)), 0.0, 1.0)
            self.last_rigid = float(rigid.mean())
            photo += rigid * cv2.max(self._photometric(warped, cur_small, relaxed=True) - photo, 0.0)
        else:
            self.last_rigid = 0.0
        conf *= photo
        # very fast motion: DIS is unreliable and a blend would smear
        limit = (self.max_motion * s) ** 2
        conf[sq_norm(f_cp) > limit] = 0.0
        if self.boundary:
            # stylized pixels near a moving edge carry the edge's context (a halo): no history there
            mb = motion_boundaries(f_cp, MB_ALPHA / (s * s)).astype(np.uint8)
            conf[cv2.dilate(mb, self._band) > 0] = 0.0
        if self._kernel is not None:
            conf = cv2.erode(conf, self._kernel)
        if self.soften > 1:
            k = self.soften | 1
            conf = np.minimum(conf, cv2.GaussianBlur(conf, (k, k), 0))
        return f_cp, conf

    def _photometric(self, warped_prev: np.ndarray, cur: np.ndarray, relaxed: bool) -> np.ndarray:
        """float32 0..1: 1 where the warped previous input matches this one, 0 past `photo_high` grey
        levels; `relaxed`: blurred and forgiving the misregistration of a sub-pixel warp."""
        a, b = warped_prev.astype(np.float32), cur.astype(np.float32)
        if relaxed and self.photo_blur > 0:
            a = cv2.GaussianBlur(a, (0, 0), self.photo_blur)
            b = cv2.GaussianBlur(b, (0, 0), self.photo_blur)
        diff = cv2.absdiff(a, b)
        if relaxed and self.photo_texture > 0:  # sub-pixel misregistration costs |grad| grey levels per pixel
            gx = cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
            gy = cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
            diff = cv2.max(diff - self.photo_texture * cv2.magnitude(gx, gy), 0.0)
        return np.clip((self.photo_high - diff) * (1.0 / (self.photo_high - self.photo_low)), 0.0, 1.0)

    def __call__(self, src: np.ndarray, out: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self._step(src, out)
        finally:
            self.last_ms = (time.perf_counter() - t0) * 1000.0

    def _step(self, src: np.ndarray, out: np.ndarray) -> np.ndarray:
        small = self.flow.small(src)
        shape = (src.shape, out.shape)
        cut = self.cuts(src)
        self.last_cut = cut
        prev_small, prev_out = self._prev_small, self._prev_out
        if prev_small is None or prev_out is None or self._shape != shape or cut or self.strength <= 0:
            if prev_small is not None:
                self.resets += 1
            self._prev_small, self._prev_out, self._shape = small, out, shape
            self.last_confidence = 0.0
            return out
        f_cp, conf = self.confidence(small, prev_small)
        h, w = out.shape[:2]
        warped = warp(prev_out, f_cp)
        wgt = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
        wgt *= self.strength
        self.last_confidence = float(conf.mean())
        result = cv2.blendLinear(warped, out, wgt, 1.0 - wgt)
        self._prev_small, self._prev_out = small, result
        return result

"""Frame conversions shared by every source, engine and sink.

Convention everywhere in realtime/: a frame is a C-contiguous numpy uint8 array of
shape (H, W, 3) in RGB order. OpenCV speaks BGR, the networks speak NCHW float32 in
[0, 1]; these helpers are the only place those conversions happen, so a channel-order
bug can live in exactly one module.
"""
from __future__ import annotations

import re

import cv2
import numpy as np

from .errors import UserError

Size = tuple[int, int]  # (width, height), the order OpenCV and users write sizes in


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate the frame convention at a boundary and return a C-contiguous copy if needed."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"expected an RGB frame of shape (H, W, 3), got {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    return np.ascontiguousarray(frame)


def rgb_to_bgr(frame: np.ndarray) -> np.ndarray:
    """RGB -> BGR for OpenCV I/O (a new C-contiguous array)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """BGR (OpenCV) -> RGB (a new C-contiguous array)."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def to_nchw(frame: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB -> float32 (1, 3, H, W) in [0, 1], the networks' input layout."""
    chw = frame.transpose(2, 0, 1).astype(np.float32)
    chw *= 1.0 / 255.0
    return np.ascontiguousarray(chw[None])


def nchw_to_uint8(tensor: np.ndarray, height: int | None = None, width: int | None = None) -> np.ndarray:
    """float (1, 3, H, W) or (3, H, W) in ~[0, 1] -> uint8 HWC, cropped to the top-left height x width,
    overshoot clipped. OpenCV does the scale, rounding and interleave in one pass per plane: the numpy
    way (transpose copy, then scale, clip and cast) took 1.2 ms a 640x360 frame, this 0.1 ms."""
    planes = tensor[0] if tensor.ndim == 4 else tensor
    planes = planes[:, :height, :width]
    # convertScaleAbs saturates at 255 but mirrors negatives: floor them at 0 first
    return cv2.merge([cv2.convertScaleAbs(cv2.max(p, 0.0), alpha=255.0) for p in planes])


def pad_to_multiple(frame: np.ndarray, multiple: int) -> tuple[np.ndarray, Size]:
    """Reflect-pad the bottom/right so H and W are multiples of `multiple`.

    Returns the padded frame and the original (width, height): the output's top-left. The
    networks need aligned sizes; reflection avoids a dark seam the net would style.
    """
    h, w = frame.shape[:2]
    m = max(1, int(multiple))
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return frame, (w, h)
    # BORDER_REFLECT_101 needs the pad to be smaller than the side; tiny frames fall back.
    mode = cv2.BORDER_REFLECT_101 if ph < h and pw < w else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(frame, 0, ph, 0, pw, mode), (w, h)


def resize(frame: np.ndarray, size: Size) -> np.ndarray:
    """Resize to (width, height): INTER_AREA when shrinking (no aliasing), LINEAR when growing."""
    w, h = size
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    interp = cv2.INTER_AREA if w * h < fw * fh else cv2.INTER_LINEAR
    return cv2.resize(frame, (w, h), interpolation=interp)


def blend(source: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """Mix stylized over source: strength 1 is fully stylized, 0 is the input."""
    s = float(np.clip(strength, 0.0, 1.0))
    if s >= 1.0:
        return stylized
    if s <= 0.0:
        return source.copy()
    return cv2.addWeighted(stylized, s, source, 1.0 - s, 0.0)


def preserve_color(source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Keep the input's colours: luminance (Y) from stylized, chroma (Cr, Cb) from source."""
    ys = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    yc = cv2.cvtColor(source, cv2.COLOR_RGB2YCrCb)
    yc[..., 0] = ys[..., 0]
    return cv2.cvtColor(yc, cv2.COLOR_YCrCb2RGB)


_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


MAX_SIDE = 8192  # beyond 8K a frame is a mistake, and its buffers alone would take gigabytes


def parse_size(spec: str | None, scale: bool = True) -> Size | float | None:
    """Parse a user size: "640x360" -> (640, 360); "0.5" -> 0.5 (a scale); None/"" -> None.

    `scale=False` is for a fixed frame size (the benchmarks'), where a scale has nothing to scale:
    a number is refused, and the message for unreadable text does not suggest one."""
    if spec is None or str(spec).strip() == "":
        return None
    text = str(spec)
    m = _SIZE_RE.match(text)
    if m:
        w, h = int(m.group(1)), int(m.group(2))
        if w <= 0 or h <= 0:
            raise UserError(f"size {text!r} has a zero side; use WIDTHxHEIGHT like 640x360")
        if max(w, h) > MAX_SIDE:
            raise UserError(f"size {text!r} is larger than {MAX_SIDE} px on a side; use a smaller WIDTHxHEIGHT")
        return (w, h)
    unreadable = f"cannot read size {text!r}; use WIDTHxHEIGHT like 640x360" + (" or a scale like 0.5" if scale else "")
    if not scale:
        raise UserError(unreadable)
    try:
        factor = float(text)
    except ValueError:
        raise UserError(unreadable) from None
    if not (0.0 < factor <= 8.0):
        raise UserError(f"scale {text!r} is out of range; use a number in (0, 8], e.g. 0.5")
    return factor


def target_size(spec: Size | float | None, width: int, height: int) -> Size:
    """Resolve a parsed size against a frame's (width, height); scales keep the aspect ratio."""
    if spec is None:
        return (width, height)
    if isinstance(spec, tuple):
        return (int(spec[0]), int(spec[1]))
    return (max(1, round(width * spec)), max(1, round(height * spec)))

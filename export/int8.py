"""int8 companions of feed-forward and CIN files (`stylecam export ... --int8 PHOTOS`).

onnxruntime's static quantisation in QDQ form: int8 weights per output channel, uint8 activations
per tensor. Only the convs are quantised: the norms and a CIN net's style mixing stay float, since
quantise/dequantise pairs around every InstanceNormalization cost more than the int8 convs save
(docs/training.md). Activation ranges are the 99.99th percentile over the calibration photos, each
run under every style of a CIN net (their norms scale activations differently): the plain
min/max over the same feeds is set by a few outlier pixels and measured coarser on the shipped
net (mean error 2.5 grey levels against 1.8; 16 photos, 384x216). Whether int8 is faster depends on the CPU
(VNNI/AMX units and onnxruntime's kernels), so the file is written beside the fp32 one, never
instead of it.
"""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .data import fit_frame, list_images, read_rgb
from .errors import UserError

# One size for every calibration frame (the percentile histograms need equal shapes), near 16:9 like
# the working frames and a multiple of 16, so it suits every net's size multiple.
CALIB_SIZE = (448, 256)
PERCENTILE = 99.99
MAX_PHOTOS = 24
# Parity bounds, in grey levels of 255, int8 against the fp32 file on photos held back from calibration.
# Each conv's output is rounded to 256 steps of its calibrated range, and the rounding adds up through
# the convs: release 8 measures a mean of 1.6-1.8 levels, 2.7-3.0 for its worst style (mondrian, whose
# flat blocks meet at hard edges, where a small shift is a large local error); the tests' 8-16 channel
# nets, with fewer channels to average rounding away, 2.6-3.3. Ranges that do not fit the pictures
# (calibrated on flat frames) measure 20 and more: a visible tint and blotches, not rounding.
INT8_MEAN_TOL = 4.0
INT8_STYLE_TOL = 8.0


def calibration_frames(folder: str | Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(calibration, check) frames, (1,3,H,W) float32 RGB [0,1] at CALIB_SIZE, centre-cropped.
    Every fourth photo (sorted by path) is held back for the parity check."""
    paths = list_images(folder)
    frames = []
    for p in paths:
        img = read_rgb(p)
        if img is not None:
            frames.append(_as_input(fit_frame(img, *CALIB_SIZE)))
        if len(frames) >= MAX_PHOTOS + MAX_PHOTOS // 3:
            break
    if len(frames) < 2:
        raise UserError(f"int8 calibration needs at least 2 readable photos in {folder}, found {len(frames)}; "
                        f"add photos like the frames it will stylize (24 are used)")
    return [f for i, f in enumerate(frames) if i % 4 != 3], [f for i, f in enumerate(frames) if i % 4 == 3]


def _as_input(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img.transpose(2, 0, 1))[None].astype(np.float32) / 255.0


def _feeds(frames: list[np.ndarray], n_styles: int) -> list[dict[str, np.ndarray]]:
    """Each frame alone (feed-forward) or under each style in turn (CIN)."""
    if n_styles <= 1:
        return [{"image": f} for f in frames]
    eye = np.eye(n_styles, dtype=np.float32)
    return [{"image": f, "style_weights": eye[k:k + 1]} for f in frames for k in range(n_styles)]


def quantize(fp32: bytes, frames: list[np.ndarray], n_styles: int) -> bytes:
    """The fp32 graph with int8 convs, calibrated on `frames`."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    feeds = _feeds(frames, n_styles)
    stride = max(1, n_styles)  # one photo's feeds at a time: the calibrator keeps every activation of a chunk

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.set_range(0, len(feeds))

        def __len__(self) -> int:
            return len(feeds)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._it = iter(feeds[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    print(f"int8: calibrating on {len(frames)} photos" + (f" x {n_styles} styles" if n_styles > 1 else ""),
          file=sys.stderr)
    # onnxruntime prints its calibration steps to stdout (where --json goes) and warns through the root
    # logger about a pre-processing step these plain conv graphs do not need: both kept quiet
    with tempfile.TemporaryDirectory(prefix="stylecam-int8-") as tmp, \
            contextlib.redirect_stdout(io.StringIO()), _quiet_root_logger():
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
        quantize_static(str(src), str(dst), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"],
                        calibrate_method=CalibrationMethod.Percentile,
                        extra_options={"CalibPercentile": PERCENTILE, "CalibStridedMinMax": stride})
        return dst.read_bytes()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def parity(fp32: bytes, int8: bytes, frames: list[np.ndarray], n_styles: int) -> dict[str, float]:
    """|int8 - fp32| in grey levels: mean over all, mean of the worst style, largest single pixel."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    a, b = (ort.InferenceSession(d, so, providers=["CPUExecutionProvider"]) for d in (fp32, int8))
    per_style: dict[int, list[float]] = {}
    largest = 0.0
    for i, feed in enumerate(_feeds(frames, n_styles)):
        d = np.abs(a.run(None, feed)[0] - b.run(None, feed)[0]) * 255.0
        per_style.setdefault(i % max(1, n_styles), []).append(float(d.mean()))
        largest = max(largest, float(d.max()))
    means = [float(np.mean(v)) for v in per_style.values()]
    return {"mean_levels": round(float(np.mean(means)), 3), "worst_style_levels": round(max(means), 3),
            "max_levels": round(largest, 1), "photos_checked": len(frames)}


def parity_failure(p: dict[str, float]) -> str | None:
    """Why the int8 file is not good enough, or None."""
    if p["mean_levels"] > INT8_MEAN_TOL:
        return f"int8 differs from fp32 by {p['mean_levels']:.2f} grey levels on average > {INT8_MEAN_TOL:g}"
    if p["worst_style_levels"] > INT8_STYLE_TOL:
        return f"int8 differs from fp32 by {p['worst_style_levels']:.2f} grey levels for one style > {INT8_STYLE_TOL:g}"
    return None

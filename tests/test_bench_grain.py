"""benchmarks/clip_grain.py: the noise measure tells white from grained and grey from coloured noise."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from clip_grain import gaussian_sigma, grain_stats  # noqa: E402


def _pair(noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = np.full(noise.shape, 120.0, np.float32)
    return base.astype(np.uint8), np.clip(base + noise, 0, 255).astype(np.uint8)


def test_grain_stats_tell_white_from_blurred_and_grey_from_coloured():
    rng = np.random.default_rng(0)
    still = np.ones((180, 320), bool)
    still[:, :40] = False  # a moving region: not counted
    white = rng.normal(0, 4, (180, 320, 3)).astype(np.float32)
    w = grain_stats(*_pair(white), still)
    assert w["std"] == pytest.approx(4 / 255, rel=0.15)
    assert abs(w["corr_1px"]) < 0.05 and w["luma_share"] == pytest.approx(1 / 3, abs=0.05)
    blurred = cv2.GaussianBlur(rng.normal(0, 1, (180, 320)).astype(np.float32), (0, 0), 1.0)
    grey = np.repeat((blurred * 4 / blurred.std())[..., None], 3, -1)
    g = grain_stats(*_pair(grey), still)
    assert g["luma_share"] > 0.95 and g["corr_1px"] > 0.6 > g["corr_4px"]
    assert gaussian_sigma(g["corr_1px"], 1) == pytest.approx(1.0, abs=0.25)  # the blur it was made with
    assert np.isnan(gaussian_sigma(0.0, 1)) and np.isnan(gaussian_sigma(1.0, 1))
    assert grain_stats(*_pair(np.zeros_like(white)), still) is None  # a repeated frame says nothing

"""benchmarks/noise_response.py: its noise has the grain and luma share it claims, and the response
tells a net that passes noise on from one that smooths it away."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from clip_grain import grain_stats  # noqa: E402
from noise_response import KINDS, noise, response  # noqa: E402


class _Filter:
    """An engine double: a fixed filter of the frame, whatever the style."""

    def __init__(self, blur: float = 0.0):
        self.blur = blur

    def stylize(self, frame: np.ndarray, mix) -> np.ndarray:
        if self.blur <= 0:
            return frame.copy()
        return cv2.GaussianBlur(frame, (0, 0), self.blur)


def test_noise_kinds_match_the_measure_of_the_clips():
    rng = np.random.default_rng(1)
    still = np.ones((180, 320), bool)
    for name, (blur, grey) in KINDS.items():
        z = noise((180, 320, 3), blur, grey, rng)
        assert z.std() == pytest.approx(1.0, abs=1e-3)
        s = grain_stats(np.full(z.shape, 120, np.uint8), np.clip(120 + 4 * z, 0, 255).astype(np.uint8), still)
        assert s["luma_share"] == pytest.approx(grey + (1 - grey) / 3, abs=0.06), name
        assert (s["corr_1px"] > 0.5) == (blur > 0), name


def test_response_is_one_for_a_copy_and_small_for_a_smoother_of_white_noise_only():
    rng = np.random.default_rng(2)
    frame = np.full((90, 160, 3), 128, np.uint8)
    frame[:, 80:] = 60  # an edge: a real frame is not flat
    assert response(_Filter(), frame, 0.01, 0.0, 0.0, [0], 2, rng) == pytest.approx(1.0, abs=1e-6)
    smooth = _Filter(2.0)
    white = response(smooth, frame, 0.01, 0.0, 0.0, [0], 2, rng)
    grain = response(smooth, frame, 0.01, 2.0, 0.0, [0], 2, rng)
    assert white < 0.4 < grain, (white, grain)  # the smoother hides white noise, not grain of its own size

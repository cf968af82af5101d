"""benchmarks/flicker_regions.py: --halo files a change under its distance from the moving pixels; --style picks the style."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from flicker_regions import HALO_BINS, halo_profile  # noqa: E402

from stylecam.testing import make_clip  # noqa: E402


def test_halo_profile_files_a_ring_of_change_by_its_distance():
    h = w = 64
    moving = np.zeros((h, w), bool)
    moving[28:36, 28:36] = True
    prev = np.full((h, w, 3), 100, np.uint8)
    out = prev.copy()
    out[25:39, 25:39] = 110   # changed up to 3 px round the moving square (and on it, which is not still)
    bands = halo_profile(prev, out, moving, np.ones((h, w), bool))
    assert len(bands) == len(HALO_BINS) - 1
    step = 3 * (10 / 255) ** 2
    assert bands[0] == pytest.approx(step)         # 0-2 px: all of it changed
    assert 0 < bands[1] < step                     # 2-4 px: the ring's outer edge, part of the band
    assert 0 < bands[2] < bands[1]                 # 4-8 px: only the square ring's corners (3 px * sqrt 2)
    assert bands[3] == bands[4] == 0               # 8-32 px: untouched
    assert math.isnan(bands[-1])                   # no pixel of a 64 px frame is 64 px from the square
    # pixels the flow check dropped are not counted
    bands = halo_profile(prev, out, moving, np.zeros((h, w), bool))
    assert all(math.isnan(b) for b in bands)


def test_script_refuses_a_missing_model_with_one_line_and_exit_2(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # never read: the model is checked first
    r = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "flicker_regions.py"),
                        "--model", str(tmp_path / "nope.onnx"), "--clips", str(clip)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"model not found: {tmp_path / 'nope.onnx'}; pass an exported .onnx file"]


def test_style_is_picked_by_name_or_number_and_an_unknown_one_is_refused(tmp_path, tiny_model):
    """--style: the style whose flicker is split (a blocker is rarely style 1), by name or by number alike."""
    model = tiny_model("cin")
    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48), audio=False)
    cmd = [sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks" / "flicker_regions.py"),
           "--model", str(model), "--clips", str(clip), "--size", "64x48", "--frames", "4", "--moving", "0",
           "--threads", "1", "--json"]

    def errors(style: str) -> dict:
        r = subprocess.run(cmd + ["--style", style], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["style"] == style
        return out["results"][0]["warp_error_x1e3"][model.name]

    first, third = errors("1"), errors("3")
    assert first != third                                   # the tints differ, so their errors do
    assert errors("tiny-cin-blue") == third                 # the third style, by its name
    r = subprocess.run(cmd + ["--style", "nope"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("--style: unknown style 'nope'")

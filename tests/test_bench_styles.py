"""benchmarks/flicker_styles.py: every style's raw flicker, judged style by style against a baseline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
from flicker_bench import build_standin_model  # noqa: E402
from flicker_styles import style_flicker, verdict  # noqa: E402

from stylecam.testing import make_clip  # noqa: E402


class _Boiling:
    """An engine double: style 0 passes the frame through, style 1 adds fresh noise to every frame."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def stylize(self, frame: np.ndarray, mix) -> np.ndarray:
        (style,) = mix
        if style == 0:
            return frame.copy()
        return np.clip(frame + self.rng.normal(0, 12, frame.shape), 0, 255).astype(np.uint8)


def _still_frames(n: int = 5) -> list[np.ndarray]:
    yy, xx = np.mgrid[0:72, 0:96]
    img = np.stack([xx * 2, yy * 3, (xx + yy)], -1).astype(np.uint8)
    return [img.copy() for _ in range(n)]


def test_each_style_is_measured_on_its_own_and_reported_in_the_order_asked():
    out = style_flicker(_still_frames(), {"a": _Boiling(1), "b": _Boiling(2)}, {"a": [0, 1], "b": [1, 0]})
    a, b = out["a"], out["b"]
    assert a[0] == pytest.approx(0.0, abs=1e-6) and b[1] == pytest.approx(0.0, abs=1e-6)
    # noise of std 12 levels, fresh each frame: 3 channels x 2 x (12/255)^2 ~ 13e-3, less what the clip clips
    assert 8.0 < a[1] < 15.0 and 8.0 < b[0] < 15.0


def test_verdict_counts_a_style_over_on_any_clip_as_over():
    names = ["calm", "busy", "equal"]
    per_clip = {"c1": {"new": [0.1, 0.5, 0.2], "old": [0.2, 0.4, 0.2]},
                "c2": {"new": [0.1, 0.1, 0.3], "old": [0.3, 0.2, 0.3]}}
    v = verdict(per_clip, "new", "old", names)
    assert v["at_or_below_on_every_clip"] == ["calm", "equal"]
    assert v["over_on_some_clip"] == {"busy": 1.25}
    assert v["worst_ratio"] == 1.25


def test_script_finds_the_flickering_model_over_a_steady_baseline(tmp_path):
    flicker = build_standin_model(tmp_path / "flicker.onnx")          # a new random texture phase every frame
    steady = build_standin_model(tmp_path / "steady.onnx", amp=0.0)   # the same net with no texture
    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(64, 48), audio=False)
    cmd = [sys.executable, str(BENCH / "flicker_styles.py"), "--clips", str(clip), "--size", "64x48", "--frames", "6",
           "--threads", "1", "--json"]
    r = subprocess.run(cmd + ["--model", str(flicker), "--baseline", str(steady)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["styles"] == ["stand-in"]
    errs = out["warp_error_x1e3"]["clip.mp4"]
    assert errs["flicker.onnx"][0] > 2 * errs["steady.onnx"][0]
    assert out["verdict"]["at_or_below_on_every_clip"] == []
    assert list(out["verdict"]["over_on_some_clip"]) == ["stand-in"]
    r = subprocess.run(cmd + ["--model", str(steady), "--baseline", str(flicker)], capture_output=True, text=True,
                       timeout=300)
    assert json.loads(r.stdout)["verdict"]["at_or_below_on_every_clip"] == ["stand-in"]


def test_several_models_are_judged_against_one_baseline_in_one_run(tmp_path):
    """Candidates side by side: each gets its own verdict against the baseline, on the same flow."""
    flicker = build_standin_model(tmp_path / "flicker.onnx")
    steady = build_standin_model(tmp_path / "steady.onnx", amp=0.0)
    mid = build_standin_model(tmp_path / "mid.onnx", amp=0.02)
    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(64, 48), audio=False)
    cmd = [sys.executable, str(BENCH / "flicker_styles.py"), "--clips", str(clip), "--size", "64x48", "--frames", "6",
           "--threads", "1", "--model", str(flicker), str(steady), "--baseline", str(mid)]
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out["warp_error_x1e3"]["clip.mp4"]) == ["flicker.onnx", "steady.onnx", "mid.onnx"]
    assert list(out["verdicts"]) == ["flicker.onnx", "steady.onnx"]
    assert out["verdicts"]["flicker.onnx"]["over_on_some_clip"].keys() == {"stand-in"}
    assert out["verdicts"]["steady.onnx"]["at_or_below_on_every_clip"] == ["stand-in"]
    assert out["verdict"] == out["verdicts"]["flicker.onnx"]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    assert "flicker.onnx at or below mid.onnx on every clip: 0 of 1" in text
    assert "steady.onnx at or below mid.onnx on every clip: 1 of 1" in text


def test_script_refuses_a_baseline_without_the_models_styles_in_one_line(tmp_path, tiny_model):
    model = build_standin_model(tmp_path / "flicker.onnx")
    other = tiny_model("feedforward", name="other")
    clip = make_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48), audio=False)
    r = subprocess.run([sys.executable, str(BENCH / "flicker_styles.py"), "--model", str(model), "--baseline", str(other),
                        "--clips", str(clip), "--size", "64x48"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["other.onnx has no style stand-in; pass a baseline with the same styles"]
    r = subprocess.run([sys.executable, str(BENCH / "flicker_styles.py"), "--model", str(tmp_path / "nope.onnx"),
                        "--clips", str(clip)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"model not found: {tmp_path / 'nope.onnx'}; pass an exported .onnx file"]
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "flicker.onnx").write_bytes(model.read_bytes())
    r = subprocess.run([sys.executable, str(BENCH / "flicker_styles.py"), "--model", str(model), "--baseline",
                        str(twin / "flicker.onnx"), "--clips", str(clip), "--size", "64x48"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "two of --model and --baseline have the same file name; copy one under another name"]


def test_script_measures_only_the_styles_asked_for(tmp_path, tiny_model):
    """--styles: a fine-tune of some styles (train --train-styles) is measured on those alone, in the model's
    order whatever the order asked; a name the model lacks is refused in one line."""
    model = tiny_model("cin")
    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(64, 48), audio=False)
    cmd = [sys.executable, str(BENCH / "flicker_styles.py"), "--model", str(model), "--clips", str(clip),
           "--size", "64x48", "--frames", "4", "--threads", "1", "--json"]
    every = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout)
    assert len(every["styles"]) == 3
    a, _, c = every["styles"]
    r = subprocess.run(cmd + ["--styles", f"{c},{a}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    some = json.loads(r.stdout)
    assert some["styles"] == [a, c]
    full = every["warp_error_x1e3"]["clip.mp4"][model.name]
    assert some["warp_error_x1e3"]["clip.mp4"][model.name] == [full[0], full[2]]
    r = subprocess.run(cmd + ["--styles", "nope"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"--styles names nope, not a style of {model.name} ({', '.join(every['styles'])})"]


def test_read_clip_skips_to_a_later_window(tmp_path):
    """read_clip(skip=): the window a checkpoint choice is confirmed on starts where asked, and a window past
    the clip's end is empty (the script then says so and measures nothing from it)."""
    from flicker_bench import read_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=8, size=(64, 48), audio=False)
    every = read_clip(clip, 8, (64, 48))
    later = read_clip(clip, 3, (64, 48), skip=4)
    assert len(later) == 3 and all(np.array_equal(a, b) for a, b in zip(later, every[4:7]))
    assert not np.array_equal(later[0], every[0])
    assert read_clip(clip, 3, (64, 48), skip=8) == []

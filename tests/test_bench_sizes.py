"""benchmarks/sizes.py: the benchmarks' WIDTHxHEIGHT arguments go through the runtime's parse_size."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from sizes import frame_size, frame_sizes  # noqa: E402


def test_frame_size_reads_width_by_height():
    assert frame_size("640x360") == (640, 360)
    assert frame_sizes("320x240,640x360") == [(320, 240), (640, 360)]


@pytest.mark.parametrize("text", ["640x0", "abc", "0.5", "", "9000x100", "320x240,"])
def test_bad_sizes_are_argparse_errors(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        frame_sizes(text)


def test_unreadable_size_message_offers_only_width_by_height():
    with pytest.raises(argparse.ArgumentTypeError) as e:
        frame_size("abc")
    assert "640x360" in str(e.value) and "scale" not in str(e.value)


def test_script_refuses_a_bad_size_with_one_line_and_exit_2():
    # big_image.py parses its arguments before making its 8000x6000 photo or running stylecam.
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "big_image.py"), "--size", "640x0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(err) == 1 and "argument --size" in err[0] and "640x0" in err[0]

"""argparse `type=` functions for the benchmarks' WIDTHxHEIGHT arguments (--size, --sizes, --frames).

One owner for the parsing: stylecam.realtime.frames.parse_size, the function the runtime's own
--size goes through, so the benchmarks accept and refuse exactly what `stylecam` does. A size it
refuses (a zero side, over 8192 px, unreadable text, and with `scale=False` a scale, which has no
meaning for a fixed frame size) becomes argparse.ArgumentTypeError: the parser prints one line
(`error: argument --size: ...`) and exits 2, instead of a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylecam.realtime.errors import UserError  # noqa: E402
from stylecam.realtime.frames import parse_size  # noqa: E402


def frame_size(text: str) -> tuple[int, int]:
    """'640x360' -> (640, 360); a scale, an empty string or a size parse_size refuses is an argparse error."""
    try:
        size = parse_size(text, scale=False)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if size is None:
        raise argparse.ArgumentTypeError("empty size; use WIDTHxHEIGHT like 640x360")
    return size


def frame_sizes(text: str) -> list[tuple[int, int]]:
    """'320x240,640x360' -> [(320, 240), (640, 360)]; every entry as frame_size."""
    return [frame_size(part) for part in text.split(",")]

"""Progress for long work: a live bar on a terminal, a short line every few seconds elsewhere.

With stderr redirected to a file or a pipe (CI, cron, a service), tqdm's carriage-return
redraws pile up into one enormous line; there we print whole lines instead, at most one
per `LOG_INTERVAL` seconds (and the last one when the work ends).
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL = 10.0  # seconds between progress lines when stderr is not a terminal
_LINE_FORMAT = "{desc}{n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) {elapsed} elapsed, ETA {remaining}, {rate_fmt}{postfix}"
_LINE_FORMAT_OPEN = "{desc}{n_fmt} {unit} {elapsed} elapsed, {rate_fmt}{postfix}"  # no known total


class _Lines:
    """A file for tqdm that turns each redraw into one plain line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        text = s.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress(total: int | None = None, *, desc: str = "", unit: str = "it", initial: int = 0,
             disable: bool = False, stream: TextIO | None = None, interval: float | None = None) -> Any:
    """A tqdm bar (terminal) or line logger (anything else) on stderr."""
    stream = stream if stream is not None else sys.stderr
    if is_terminal(stream):
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, disable=disable,
                    dynamic_ncols=True, mininterval=0.5 if interval is None else interval)
    fmt = _LINE_FORMAT if total else _LINE_FORMAT_OPEN
    return tqdm(total=total, initial=initial, desc=f"{desc}: " if desc else "", unit=unit, file=_Lines(stream),
                disable=disable, mininterval=LOG_INTERVAL if interval is None else interval,
                maxinterval=1e9, bar_format=fmt, ncols=200)

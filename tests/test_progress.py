"""Progress: a live bar on a terminal, whole lines (no carriage returns) in logs."""
from __future__ import annotations

import io

from stylecam.realtime.progress import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_get_whole_lines_with_counts_and_eta():
    out = io.StringIO()
    with progress(40, desc="stylize", unit="frames", stream=out, interval=0) as bar:
        for _ in range(40):
            bar.update(1)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.strip().splitlines()
    assert len(lines) >= 2 and lines[-1].startswith("stylize: 40/40 frames (100%)")
    assert all("ETA" in l for l in lines)


def test_logs_are_rate_limited():
    out = io.StringIO()
    with progress(10_000, unit="steps", stream=out) as bar:  # default interval: seconds, not updates
        for _ in range(10_000):
            bar.update(1)
    assert len(out.getvalue().strip().splitlines()) <= 3


def test_unknown_total_still_reads_as_a_line():
    out = io.StringIO()
    with progress(None, desc="stylize", unit="frames", stream=out, interval=0) as bar:
        bar.update(7)
    assert out.getvalue().strip().splitlines()[-1].startswith("stylize: 7 frames")


def test_terminal_keeps_the_live_bar():
    out = _Tty()
    with progress(5, stream=out, interval=0) as bar:
        bar.update(5)
    assert "\r" in out.getvalue()

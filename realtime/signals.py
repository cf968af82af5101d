"""Stopping on signals without losing work: Ctrl-C, `kill`, a closed terminal.

While a run is going, SIGINT, SIGTERM and SIGHUP only set an event; the pipeline sees it,
stops reading, drains what is in flight and finalises its outputs (as `.partial` files) in
one place. A second or third signal in quick succession changes nothing, so it can no longer
interrupt the finalising itself. The exit code says which signal came first (128 + its number).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class StopOnSignals:
    """Context manager: `event` is set by the first stop signal; `signum` is that signal."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        # After a stop signal the program is on its way out: ignore repeats (SIG_IGN, which,
        # unlike a Python handler, survives interpreter shutdown), so a third Ctrl-C or a kill
        # right behind the first cannot cut the final message or the exit code short.
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if self.signum is None else signal.SIG_IGN)
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP; 0 when no signal came."""
        return 128 + self.signum if self.signum is not None else 0

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

"""The real OpenCV window under Xvfb: keys sent with xdotool reach the controller.

Needs the apt packages `xvfb` and `xdotool`; skips (saying which is missing) without them.
The window runs in a subprocess so a misbehaving GUI backend cannot hang pytest.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The child: a real Window showing frames tinted by the current style until quit.
CHILD = r"""
import json, sys, time
import numpy as np
from realtime.controller import Controller
from realtime.window import Hud, Window

title = sys.argv[1]
c = Controller(3, names=["red", "green", "blue"])
w = Window(c, title)
colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
frame = np.zeros((180, 320, 3), np.uint8)
deadline = time.monotonic() + float(sys.argv[2])
first = True
while not c.quit and time.monotonic() < deadline:
    frame[:] = colors[c.current]
    w.show(frame, Hud(style=c.label(), fps=30.0, stages_ms={"infer": 5.0}, size=c.size))
    if first:
        print("SHOWN", flush=True)
        first = False
    action = w.poll(5)
    if action:
        print("ACTION " + action, flush=True)
w.close()
print("STATE " + json.dumps(c.state()), flush=True)
"""


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a display it picks itself (-displayfd), so parallel runs never collide."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(w)
    number = b""
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline and not number.endswith(b"\n"):
            if proc.poll() is not None:
                break
            chunk = os.read(r, 16) if _readable(r, 0.2) else b""
            number += chunk
    finally:
        os.close(r)
    if not number.strip().isdigit():
        proc.kill()
        err = proc.communicate(timeout=5)[1].decode(errors="replace").strip().splitlines()
        pytest.skip(f"could not start an X server with Xvfb: {err[-1] if err else 'no display number reported'}")
    return proc, f":{number.strip().decode()}"


def _readable(fd: int, timeout: float) -> bool:
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def _lines(proc: subprocess.Popen) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_for(q: queue.Queue, prefix: str, timeout: float, seen: list[str]) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is None:
            return None
        seen.append(line)
        if line.startswith(prefix):
            return line
    return None


def _xdotool(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=5)


def _find_window(env: dict, title: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = _xdotool(env, "search", "--name", f"^{title}$").stdout.split()
        if out:
            return out
        time.sleep(0.1)
    return []


def _send_key(env: dict, ids: list[str], key: str, q: queue.Queue, expect: str, seen: list[str]) -> bool:
    """Send a key to the window; fall back to focusing it and typing via XTEST."""
    for wid in reversed(ids):  # Qt may create helper windows with the same name; the last is the top level
        _xdotool(env, "key", "--window", wid, key)
        if _wait_for(q, f"ACTION {expect}", 2.0, seen):
            return True
    for wid in reversed(ids):
        _xdotool(env, "windowfocus", "--sync", wid)
        _xdotool(env, "key", key)
        if _wait_for(q, f"ACTION {expect}", 2.0, seen):
            return True
    return False


def test_keys_sent_to_the_real_window_reach_the_controller(tmp_path: Path):
    missing = [tool for tool, pkg in (("Xvfb", "xvfb"), ("xdotool", "xdotool")) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install -y xvfb xdotool)")
    xvfb, display = _start_xvfb()
    child = None
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", QT_X11_NO_MITSHM="1",
                   XDG_RUNTIME_DIR=str(tmp_path), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        title = f"stylecam-test-{uuid.uuid4().hex[:8]}"
        child = subprocess.Popen([sys.executable, "-c", CHILD, title, "15"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        q = _lines(child)
        seen: list[str] = []
        if _wait_for(q, "SHOWN", 10.0, seen) is None:
            child.kill()
            raise AssertionError(f"window never showed a frame; stdout {seen}, stderr {child.communicate()[1][-2000:]}")
        ids = _find_window(env, title, 5.0)
        assert ids, f"xdotool found no window named {title}"
        assert _send_key(env, ids, "n", q, "next_style", seen), f"'n' never arrived; child said {seen}"
        assert _send_key(env, ids, "q", q, "quit", seen), f"'q' never arrived; child said {seen}"
        state_line = _wait_for(q, "STATE ", 5.0, seen)
        assert state_line, f"child did not report its state; it said {seen}"
        state = json.loads(state_line[len("STATE "):])
        assert state["history"] == ["next_style", "quit"]
        assert state["current"] == 1 and state["quit"] is True
        assert child.wait(timeout=5) == 0
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(timeout=5)
        xvfb.terminate()
        try:
            xvfb.wait(timeout=5)
        except subprocess.TimeoutExpired:
            xvfb.kill()

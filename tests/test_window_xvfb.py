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

import numpy as np
import pytest

from stylecam.testing import probe

ROOT = Path(__file__).resolve().parents[1]

# The child: a real Window showing frames tinted by the current style until quit.
CHILD = r"""
import json, sys, time
import numpy as np
from stylecam.realtime.controller import Controller
from stylecam.realtime.window import Hud, Window

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


@pytest.fixture
def x_env(tmp_path: Path):
    """Environment for a child process that talks to a fresh Xvfb server."""
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install -y xvfb xdotool)")
    xvfb, display = _start_xvfb()
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", QT_X11_NO_MITSHM="1",
               XDG_RUNTIME_DIR=str(tmp_path), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    try:
        yield env
    finally:
        xvfb.terminate()
        try:
            xvfb.wait(timeout=5)
        except subprocess.TimeoutExpired:
            xvfb.kill()


class Child:
    """A Python child process whose stdout lines we can wait for."""

    def __init__(self, code: str, args: list[str], env: dict, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.q = _lines(self.proc)
        self.seen: list[str] = []

    def wait_for(self, prefix: str, timeout: float) -> str | None:
        return _wait_for(self.q, prefix, timeout, self.seen)

    def fail(self, why: str) -> None:
        self.proc.kill()
        err = self.proc.communicate(timeout=5)[1][-2000:]
        raise AssertionError(f"{why}; child said {self.seen}; stderr: {err}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def _drive(child: Child, env: dict, title: str, keys: list[tuple[str, str]]) -> dict:
    """Wait for the window, press each key (checking the controller got it), return the final state."""
    if child.wait_for("SHOWN", 15.0) is None:
        child.fail("window never showed a frame")
    ids = _find_window(env, title, 5.0)
    if not ids:
        child.fail(f"xdotool found no window named {title}")
    for key, action in keys:
        if not _send_key(env, ids, key, child.q, action, child.seen):
            child.fail(f"key {key!r} never reached the controller as {action!r}")
    line = child.wait_for("STATE ", 10.0)
    if line is None:
        child.fail("child did not report its final state")
    assert child.proc.wait(timeout=10) == 0, child.proc.stderr.read()[-2000:]  # type: ignore[union-attr]
    return json.loads(line[len("STATE "):])


def test_keys_sent_to_the_real_window_reach_the_controller(x_env: dict, tmp_path: Path):
    title = f"stylecam-test-{uuid.uuid4().hex[:8]}"
    child = Child(CHILD, [title, "15"], x_env, ROOT)
    try:
        state = _drive(child, x_env, title, [("n", "next_style"), ("q", "quit")])
    finally:
        child.kill()
    assert state["history"] == ["next_style", "quit"]
    assert state["current"] == 1 and state["quit"] is True


# The child for a whole live session: real live.run, real window, real engine and
# recorder; only the camera is a double (a grey picture, until the session ends).
LIVE_CHILD = r"""
import json, sys, time
import numpy as np
import stylecam.realtime.controller, stylecam.realtime.window
from stylecam.realtime import live
from stylecam.realtime.sources import Frame

class Cam:
    live, frame_count, status = True, None, ""
    def __init__(self, *a, **kw):
        self.size, self.fps, self.closed = (64, 48), 30.0, False
    def __iter__(self):
        t0 = time.monotonic()
        for i in range(30 * 60):
            if self.closed:
                return
            time.sleep(1 / 30)
            yield Frame(np.full((48, 64, 3), 128, np.uint8), time.monotonic() - t0, i)
    def close(self):
        self.closed = True

class Logged(stylecam.realtime.controller.Controller):
    last = None
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        Logged.last = self
    def handle_key(self, key, now=None):
        super().handle_key(key, now)
        print("ACTION " + key, flush=True)

show = stylecam.realtime.window.Window.show
def show_once(self, *a, **kw):
    show(self, *a, **kw)
    if not getattr(self, "_told", False):
        self._told = True
        print("SHOWN", flush=True)

stylecam.realtime.window.Window.show = show_once
import argparse
p = argparse.ArgumentParser()
live.add_arguments(p)
rc = live.run(p.parse_args(["--model", sys.argv[1], "--size", "32x24", "--device", "cpu"]),
              live.Hardware(camera=lambda spec, size, fps: Cam(), controller=Logged.from_bank))
print("STATE " + json.dumps(dict(Logged.last.state(), rc=rc)), flush=True)
"""


def test_live_session_in_a_real_window(x_env: dict, tmp_path: Path, tiny_model):
    """stylecam live end to end: n switches style, r records a take, s saves a screenshot, q quits."""
    import time as _time

    model = tiny_model("cin")  # 3 styles: per-channel gains, see stylecam.testing.CIN_TABLE
    child = Child(LIVE_CHILD, [str(model)], x_env, tmp_path)
    try:
        if child.wait_for("SHOWN", 20.0) is None:
            child.fail("live window never showed a frame")
        ids = _find_window(x_env, "stylecam", 5.0)
        if not ids:
            child.fail("xdotool found no window named stylecam")
        for key, action, pause in (("n", "next_style", 0.6), ("r", "record", 1.0), ("r", "record", 0.3),
                                   ("s", "screenshot", 0.5), ("q", "quit", 0.0)):
            if not _send_key(x_env, ids, key, child.q, action, child.seen):
                child.fail(f"key {key!r} never reached the controller as {action!r}")
            _time.sleep(pause)  # let frames flow: the crossfade settles, the take gets frames
        line = child.wait_for("STATE ", 15.0)
        if line is None:
            child.fail("live session did not end after q")
        assert child.proc.wait(timeout=10) == 0
    finally:
        child.kill()
    state = json.loads(line[len("STATE "):])
    assert state["rc"] == 0 and state["quit"] and state["current"] == 1
    assert state["history"] == ["next_style", "record", "record", "screenshot", "quit"]
    assert not state["recording"]
    (take,) = tmp_path.glob("stylecam-*.mp4")
    info = probe(take)
    assert info["frames"] >= 10 and (info["width"], info["height"]) == (64, 48)
    r, g, b = info["first"][24, 32].astype(int)
    assert g > r + 40 and g > b + 20  # style 2 of the tiny CIN model: green gain 1.0, red 0.2, blue 0.5
    (shot,) = tmp_path.glob("stylecam-*.png")
    import cv2

    rgb = cv2.imread(str(shot))[..., ::-1].astype(int)
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb[24, 32] - np.array([26, 128, 64])).max() <= 3  # 128 * (0.2, 1.0, 0.5)

"""`stylecam live` wiring, headless: a finite fake camera, the real engine on a tiny model, real sinks."""
from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stylecam.testing import probe
from stylecam.realtime import live
from stylecam.realtime.controller import Controller
from stylecam.realtime.errors import UserError
from stylecam.realtime.sources import Frame


class FakeCamera:
    """Source double: `n` frames of a horizontal gradient at `fps`, then the camera ends."""

    live = True
    frame_count = None
    instances: list["FakeCamera"] = []

    def __init__(self, device=0, size=None, fps=None, *, n: int = 20) -> None:
        FakeCamera.instances.append(self)
        self.size = size or (64, 48)
        self.fps = float(fps or 30.0)
        self.status = ""
        self.n = n
        self.closed = False

    def __iter__(self):
        w, h = self.size
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
        img[..., 1] = 60
        for i in range(self.n):
            if self.closed:
                return
            time.sleep(1.0 / self.fps)
            yield Frame(img.copy(), i / self.fps, i)

    def close(self) -> None:
        self.closed = True


class FakeVirtualCamera:
    instances: list["FakeVirtualCamera"] = []

    def __init__(self, fps: float = 30.0, *, size=None, **_: object) -> None:
        self.fps, self.size, self.frames, self.closed = fps, size, [], False
        FakeVirtualCamera.instances.append(self)

    def write(self, frame: Frame) -> None:
        self.frames.append(frame.image)

    def close(self, partial: bool = False) -> None:
        self.closed = True


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    live.add_arguments(p)
    return p.parse_args(list(argv))


def fake(n: int = 20, virtual_camera=None, controller=None) -> live.Hardware:
    """The live session's hardware as doubles: a finite camera (and a virtual camera, a controller)."""
    parts = {"camera": lambda spec, size, fps: FakeCamera(spec, size, fps, n=n)}
    if virtual_camera is not None:
        parts["virtual_camera"] = lambda fps, size: virtual_camera(fps, size=size)
    if controller is not None:
        parts["controller"] = controller
    return live.Hardware(**parts)


def test_headless_recording_holds_stylized_frames(tiny_model, tmp_path: Path, device):
    model = tiny_model("feedforward")  # stylized = 1 - image
    out = tmp_path / "take.mp4"
    rc = live.run(parse("--model", str(model), "--camera-size", "64x48", "--size", "32x24", "--no-window",
                        "--record", str(out), "--device", device), fake())
    assert rc == 0
    info = probe(out)
    assert info["frames"] >= 5 and (info["width"], info["height"]) == (64, 48)
    first = info["first"].astype(int)
    # inverted gradient: red falls from left to right, green ~ 255 - 60
    assert first[24, 4, 0] > first[24, 60, 0] + 120
    assert abs(first[24, 32, 1] - 195) < 25


def test_vcam_gets_frames_and_no_window_needs_an_output(tiny_model):
    FakeVirtualCamera.instances.clear()
    model = tiny_model("cin")
    with pytest.raises(UserError, match="--vcam or --record"):
        live.run(parse("--model", str(model), "--no-window"), fake(virtual_camera=FakeVirtualCamera))
    assert live.run(parse("--model", str(model), "--camera-size", "64x48", "--no-window", "--vcam",
                          "--style", "2", "--device", "cpu"), fake(virtual_camera=FakeVirtualCamera)) == 0
    (cam,) = FakeVirtualCamera.instances
    assert cam.closed and len(cam.frames) >= 5  # the black opening frame plus stylized ones
    assert cam.frames[0].max() == 0 and cam.frames[-1].max() > 0


def test_unavailable_vcam_is_a_user_error_and_releases_the_camera(tiny_model):
    class NoVirtualCamera(FakeVirtualCamera):
        def write(self, frame: Frame) -> None:
            raise UserError("no virtual camera available (no device); install and load v4l2loopback")

    FakeCamera.instances.clear()
    with pytest.raises(UserError, match="v4l2loopback"):
        live.run(parse("--model", str(tiny_model("feedforward")), "--vcam", "--device", "cpu"),
                 fake(virtual_camera=NoVirtualCamera))
    (cam,) = FakeCamera.instances
    assert cam.closed


def test_target_fps_steps_the_working_resolution_down(tiny_model, tmp_path: Path):
    """An unreachable --target-fps: after the 1 s warm-up and 1 s below target, one rung down."""
    made: list[Controller] = []

    def capturing(bank, **options) -> Controller:
        made.append(Controller.from_bank(bank, **options))
        return made[-1]

    assert live.run(parse("--model", str(tiny_model("feedforward")), "--camera-size", "64x48", "--size", "640x360",
                          "--target-fps", "100000", "--no-window", "--record", str(tmp_path / "t.mp4"),
                          "--device", "cpu"), fake(n=80, controller=capturing)) == 0
    (c,) = made
    assert c.size[0] * c.size[1] < 640 * 360


@pytest.mark.parametrize("workers, names", [("1", {"stylecam-worker"}),
                                             ("2", {"stylecam-worker0", "stylecam-worker1"})])
def test_live_stylizes_with_the_workers_asked_for(tiny_model, workers, names):
    class ThreadNoting(FakeVirtualCamera):
        def write(self, frame: Frame) -> None:
            super().write(frame)
            seen.update(t.name for t in threading.enumerate() if t.name.startswith("stylecam-worker"))

    seen: set[str] = set()
    assert live.run(parse("--model", str(tiny_model("feedforward")), "--camera-size", "64x48", "--no-window",
                          "--vcam", "--device", "cpu", "--workers", workers, "--threads", "1"),
                    fake(n=30, virtual_camera=ThreadNoting)) == 0
    assert seen == names


def test_governor_hears_the_rate_all_workers_sustain_together():
    class Governor:
        def observe(self, fps: float, now: float) -> int:
            heard.append(fps)
            return 0

    class Stats:
        dropped = 0

        def stages(self):
            return {"infer": 40.0, "post": 5.0}

    heard: list[float] = []
    controller = Controller(1, clock=lambda: 0.0)
    img = Frame(np.zeros((4, 4, 3), np.uint8), 0.0, 0)
    live._frame_observer(controller, Governor(), live._Latest(), workers=2)(img, img, Stats())
    controller.stabilize = True
    live._frame_observer(controller, Governor(), live._Latest(), workers=2)(img, img, Stats())
    assert heard == [pytest.approx(50.0), pytest.approx(1000 / 25)]


@pytest.mark.parametrize("argv, match", [
    (("--size", "half"), "size"),
    (("--size", "0.5"), "WIDTHxHEIGHT"),
    (("--strength", "2"), "strength"),
    (("--target-fps", "0"), "target-fps"),
    (("--record", "out.avi2"), "mp4"),
])
def test_bad_options_are_user_errors(argv, match):
    with pytest.raises(UserError, match=match):
        live.run(parse(*argv))


# ------------------------------------------------------------------- the pieces
def test_switchable_sink_rebases_time_and_survives_a_broken_output():
    written: list[Frame] = []

    class Rec:
        path = "x.mp4"

        def write(self, f: Frame) -> None:
            if f.index == 2:
                raise RuntimeError("disk full")
            written.append(f)

        def close(self, partial: bool = False) -> None:
            pass

    s = live.SwitchableSink("recording", Rec)
    img = np.zeros((4, 4, 3), np.uint8)
    s.write(Frame(img, 1.0, 10))  # not open: dropped
    s.open()
    for i in range(4):
        s.write(Frame(img, 60.0 + i / 30, 100 + i))
    assert [(f.index, round(f.pts, 4)) for f in written] == [(0, 0.0), (1, 0.0333)]
    assert not s.active and "disk full" in s.failure


def test_take_paths_never_overwrite_earlier_takes(tmp_path: Path):
    takes = live.take_paths(tmp_path / "a.mp4")
    first = next(takes)
    assert first == tmp_path / "a.mp4"
    first.write_bytes(b"x")
    assert next(takes) == tmp_path / "a-2.mp4"


def test_pausable_source_swallows_frames_while_paused():
    cam = FakeCamera(n=6, fps=1000)
    pattern = iter([False, False, True, True, False, False])  # paused while frames 2 and 3 arrive
    src = live.PausableSource(cam, lambda: next(pattern))
    assert [f.index for f in src] == [0, 1, 4, 5]
    src.close()
    assert cam.closed


def test_pausable_source_ends_when_stopped_even_while_paused():
    """Quitting while paused: the pipeline's reader waits on this source, which swallows every frame."""
    stopped = threading.Event()
    src = live.PausableSource(FakeCamera(n=100000, fps=1000), lambda: True, stopped.is_set)
    threading.Timer(0.1, stopped.set).start()
    t = time.monotonic()
    assert list(src) == [] and time.monotonic() - t < 2


def test_rate_meter_reports_recent_rate():
    m = live.RateMeter(window=1.0)
    for i in range(50):
        m.tick(i * 0.1)   # 10 fps for 5 s
    assert m.fps == pytest.approx(10.0)
    for i in range(1, 41):
        m.tick(4.9 + i * 0.025)  # then 40 fps
    assert m.fps == pytest.approx(40.0, rel=0.05)


def test_failed_record_start_turns_the_flag_back_off():
    def broken():
        raise UserError("cannot write out.mp4 (no space); free some disk space")

    c = Controller(2, clock=lambda: 0.0)
    c.handle_key("record")
    rec = live.SwitchableSink("recording", broken)
    vcam = live.SwitchableSink("virtual camera", broken)
    live._carry_out(c, c.pop_actions(), rec, vcam, None)
    assert not c.recording and c.notice().startswith("cannot write out.mp4")
    c.handle_key("screenshot")
    live._carry_out(c, c.pop_actions(), rec, vcam, None)
    assert c.notice() == "no frame yet"


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 0)])
def test_killed_headless_recording_is_a_playable_take(tmp_path: Path, tiny_model, sig, code):
    """A real process, a video file as the camera, a real signal: the take is finished, not lost."""
    import signal
    import subprocess
    import sys
    import time

    from stylecam.testing import make_clip, probe

    cam = make_clip(tmp_path / "cam.mp4", frames=20, fps=20, size=(64, 48), audio=False)
    out = tmp_path / "take.mp4"
    p = subprocess.Popen([sys.executable, "-m", "stylecam", "live", "--camera", str(cam), "--no-window",
                          "--record", str(out), "--model", str(tiny_model("feedforward")), "--size", "64x48",
                          "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("take*.tmp.*")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    time.sleep(1.5)  # ~30 frames at the file's 20 fps: past its end, so it has looped
    p.send_signal(getattr(signal, sig))
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    takes = sorted(tmp_path.glob("take*.mp4"))
    assert len(takes) == 1 and ".tmp." not in takes[0].name, takes
    assert f"saved {takes[0]}" in stdout
    assert probe(takes[0])["frames"] >= 20

"""`stylecam live`: camera -> engine -> preview window / virtual camera / recording, steered by hotkeys.

Threads: the pipeline runs its reader/engine/writer threads in a background thread
of its own; this module's main thread owns the OpenCV window (GUI backends want one
thread), pumps keys into the controller and carries out the controller's queued
actions (screenshots, starting/stopping the recorder and the virtual camera).
Everything heavy is imported inside `run()` so `stylecam --help` stays fast.
"""
from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .controller import Action, Controller, ResolutionGovernor  # stdlib-only, cheap to import
from .cli import add_worker_options, make_engine
from .devices import DEVICES
from .errors import UserError
from .settings import STABILIZE_STRENGTH
from .signals import StopOnSignals

log = logging.getLogger("stylecam")

#: How often the window redraws when no new frame arrives (paused, camera lost), in s.
IDLE_REDRAW = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `stylecam live` options; the hotkey table goes into --help as well."""
    from .hotkeys import help_lines

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "hotkeys (h shows them in the window):\n  " + "\n  ".join(help_lines())
    parser.add_argument("--camera", default="0", metavar="INDEX|PATH",
                        help="camera index (0, 1, ...), a device path, or a video file (plays at its own frame rate and "
                             "loops) (default: 0)")
    parser.add_argument("--camera-size", default="1280x720", metavar="WxH",
                        help="capture size asked of the camera (default: 1280x720)")
    parser.add_argument("--camera-fps", type=float, default=30.0, metavar="FPS",
                        help="capture rate asked of the camera (default: 30)")
    parser.add_argument("--model", action="append", metavar="PATH",
                        help="style model .onnx (repeatable); default: the built-in models for this machine")
    parser.add_argument("--style", metavar="N|NAME", help="style to start with, by number or name (see `stylecam styles`)")
    parser.add_argument("--style-image", action="append", metavar="PICTURE",
                        help="a picture or a folder of pictures as styles, through the built-in AdaIN model "
                             "(repeatable); the hotkeys cycle and morph through them")
    parser.add_argument("--alpha", type=float, default=1.0,
                        help="AdaIN content/style trade-off 0..1 (default: 1)")
    parser.add_argument("--size", default="640x360", metavar="WxH",
                        help="working (inference) resolution; ] and [ change it live (default: 640x360)")
    parser.add_argument("--target-fps", type=float, metavar="N",
                        help="step the working resolution down/up live to hold this frame rate")
    parser.add_argument("--vcam", action="store_true", help="send the output to a virtual camera from the start (v toggles)")
    parser.add_argument("--record", metavar="OUT.mp4", help="record the output from the start (r toggles)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="default: auto")
    add_worker_options(parser)
    parser.add_argument("--strength", type=float, default=1.0, help="style strength 0..1 (default: 1; + and - change it)")
    parser.add_argument("--preserve-color", action="store_true", help="keep the camera's colours (c toggles)")
    parser.add_argument("--stabilize", nargs="?", type=float, const=STABILIZE_STRENGTH, default=None,
                        metavar="STRENGTH", help=f"temporal stabilizer against flicker, strength 0..1 "
                        f"(default {STABILIZE_STRENGTH}; t toggles)")
    parser.add_argument("--no-window", action="store_true",
                        help="no preview window (headless, with --vcam or --record; stop with Ctrl-C)")


class RateMeter:
    """Frames per second over the last `window` seconds; Stats.fps is a whole-run average."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._times: deque[float] = deque()

    def tick(self, now: float) -> float:
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window:
            self._times.popleft()
        return self.fps

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class SwitchableSink:
    """A sink that can be opened and closed while the pipeline runs (r and v keys).

    Timestamps are rebased to the moment it opened, so a recording started a minute
    into the session starts at 0. A failure while writing turns the sink off and is
    reported instead of ending the live session.
    """

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self._factory = factory
        self._lock = threading.Lock()
        self._sink: Any = None
        self._t0: float | None = None
        self._i0 = 0
        self.failure: str = ""
        self.closed: list[Any] = []  # finished sinks, newest last (for the saved-file message)

    @property
    def active(self) -> bool:
        return self._sink is not None

    def open(self) -> Any:
        """Start a new inner sink; raises what its constructor raises (e.g. UserError)."""
        with self._lock:
            if self._sink is None:
                self._sink = self._factory()
                self._t0 = None
            return self._sink

    def stop(self, partial: bool = False) -> Any:
        """Close the inner sink (if any) and return it."""
        with self._lock:
            sink, self._sink = self._sink, None
        if sink is not None:
            sink.close(partial=partial)
            self.closed.append(sink)
        return sink

    def write(self, frame: Any) -> None:
        from .sources import Frame

        with self._lock:
            sink = self._sink
            if sink is None:
                return
            if self._t0 is None:
                self._t0, self._i0 = frame.pts or 0.0, frame.index
            pts = None if frame.pts is None else frame.pts - self._t0
            try:
                sink.write(Frame(frame.image, pts, frame.index - self._i0, frame.name))
            except Exception as e:  # noqa: BLE001 - a broken output must not end the preview
                log.warning("stylecam: %s stopped: %s", self.name, e)
                self.failure = f"{self.name} stopped: {e}"
                self._sink = None
                try:
                    sink.close(partial=True)
                except Exception:  # noqa: BLE001
                    pass

    def close(self, partial: bool = False) -> None:
        self.stop(partial=partial)


class PausableSource:
    """Passes camera frames on, or swallows them while paused (the camera keeps draining);
    ends when `stopped` says so, paused or not (the pipeline's reader waits on a frame from here)."""

    def __init__(self, source: Any, paused: Callable[[], bool], stopped: Callable[[], bool] = lambda: False) -> None:
        self.source = source
        self._paused, self._stopped = paused, stopped
        self.live = True
        self.fps = source.fps
        self.size = source.size
        self.frame_count = None

    @property
    def status(self) -> str:
        return str(getattr(self.source, "status", ""))

    def __iter__(self):
        for frame in self.source:
            if self._stopped():
                return
            if not self._paused():
                yield frame

    def close(self) -> None:
        self.source.close()


def unique_path(path: Path) -> Path:
    """`path`, or `stem-2.suffix`, `stem-3.suffix`, ... : never overwrite an earlier take."""
    if not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


def take_paths(first: Path | None) -> Iterator[Path]:
    """Recording names: --record's name as given, then `name-2`, `name-3`...; else timestamped."""
    if first is not None:
        yield first
    while True:
        yield unique_path(first) if first is not None else _timestamped(".mp4")


def _timestamped(suffix: str) -> Path:
    return unique_path(Path.cwd() / f"stylecam-{time.strftime('%Y%m%d-%H%M%S')}{suffix}")


def _camera_spec(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def _real_camera(spec: int | str, size: tuple[int, int], fps: float | None) -> Any:
    from .sources import CameraSource

    return CameraSource(spec, size, fps)


def _real_virtual_camera(fps: float, size: tuple[int, int]) -> Any:
    from .sinks import VirtualCameraSink

    return VirtualCameraSink(fps, size=size)


@dataclass(frozen=True)
class Hardware:
    """What a live session opens besides files: the camera, the virtual camera and the hotkey
    controller. `run` uses the real ones; tests pass doubles here (no module patching)."""

    camera: Callable[[int | str, tuple[int, int], float | None], Any] = _real_camera   # -> a live Source
    virtual_camera: Callable[[float, tuple[int, int]], Any] = _real_virtual_camera    # (fps, size) -> a Sink
    controller: Callable[..., Controller] = Controller.from_bank                      # (bank, **options)


def _checked_sizes(args: argparse.Namespace) -> tuple[tuple[int, int], tuple[int, int]]:
    """(working size, camera size); every option checked before a camera or window opens."""
    from . import frames as fr
    from .sinks import VIDEO_SUFFIXES

    if args.no_window and not (args.vcam or args.record):
        raise UserError("--no-window leaves the frames nowhere to go; add --vcam or --record out.mp4")
    if args.target_fps is not None and args.target_fps <= 0:
        raise UserError(f"--target-fps {args.target_fps:g} must be positive, e.g. --target-fps 20")
    if not 0.0 <= args.strength <= 1.0:
        raise UserError(f"--strength {args.strength:g} is out of range; use a value from 0 to 1")
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError(f"--alpha {args.alpha} is out of range; use a number from 0 to 1")
    size = fr.parse_size(args.size)
    cam_size = fr.parse_size(args.camera_size)
    if not isinstance(size, tuple) or not isinstance(cam_size, tuple):
        raise UserError("--size and --camera-size take WIDTHxHEIGHT, e.g. --size 640x360")
    if args.record and Path(args.record).suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"cannot tell the video format of {args.record}; end it with {' / '.join(VIDEO_SUFFIXES)}")
    return size, cam_size


@dataclass
class _Latest:
    """The newest stylized frame and its figures, handed from the pipeline's writer to the UI thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    fresh: threading.Event = field(default_factory=threading.Event)
    values: dict[str, Any] = field(default_factory=dict)

    def put(self, **values: Any) -> None:
        with self.lock:
            self.values.update(values)
        self.fresh.set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.values)


def _frame_observer(controller: Controller, governor: ResolutionGovernor | None, latest: _Latest,
                    workers: int = 1) -> Callable[[Any, Any, Any], None]:
    """The pipeline's per-frame callback: output rate, the resolution governor, the frame for the UI.
    `workers`: frames stylized at once, each timed on its own in the "infer" stage."""
    meter = RateMeter()

    def on_frame(src: Any, out: Any, stats: Any) -> None:
        now = time.monotonic()
        rate = meter.tick(now)
        stages = stats.stages()
        if governor is not None:
            # The rate the engine could sustain, not the output rate: a dim webcam
            # delivering 15 fps must not drive the resolution to the bottom rung. Workers share the
            # frames; the stabilizer runs on every frame in the writer.
            engine_ms = stages.get("infer", 0.0) / workers + (stages.get("post", 0.0) if controller.stabilize else 0.0)
            if engine_ms > 0:
                governor.observe(1000.0 / engine_ms, now)
        latest.put(image=out.image, fps=rate, stages=stages or latest.values.get("stages", {}), dropped=stats.dropped)

    return on_frame


def run(args: argparse.Namespace, hardware: Hardware = Hardware()) -> int:
    """Run a live session until q/Esc, closing the window, Ctrl-C or the camera ending."""
    from . import frames as fr
    from .pipeline import run_pipeline
    from .sinks import VideoFileSink
    from .sources import Frame
    from .stabilize import Stabilizer
    from .styles import StyleBank

    size, cam_size = _checked_sizes(args)
    # Always in the chain so `t` can switch it on; the pipeline skips it while settings.stabilize is off.
    post = [Stabilizer(args.stabilize if args.stabilize is not None else STABILIZE_STRENGTH)]
    bank = StyleBank(args.model or None, args.style_image or ())
    if args.style is not None:
        start = bank.find(args.style).index
    elif args.style_image:
        start = next(s.index for s in bank.styles if s.image)  # the user's own image: show it first
    else:
        start = 0
    engine, workers = make_engine(bank, args)
    controller = hardware.controller(bank, style=start, size=size, strength=args.strength, alpha=args.alpha,
                                     preserve_color=args.preserve_color, stabilize=args.stabilize is not None,
                                     recording=bool(args.record), vcam=args.vcam)
    # Ctrl-C, kill and a closed terminal all end the session the same way: outputs finished normally.
    signals = StopOnSignals()
    stop = signals.event
    camera = hardware.camera(_camera_spec(args.camera), cam_size, args.camera_fps)
    source = PausableSource(camera, lambda: controller.paused, stop.is_set)
    fps = camera.fps
    takes = take_paths(Path(args.record) if args.record else None)
    recorder = SwitchableSink("recording", lambda: VideoFileSink(next(takes), fps=fps))
    vcam = SwitchableSink("virtual camera", lambda: hardware.virtual_camera(fps, camera.size))
    try:  # outputs asked for up front fail now, before any window opens
        if args.vcam:
            vcam.open().write(Frame(fr.check_frame(_black(camera.size)), 0.0, 0))
        if args.record:
            recorder.open()
    except BaseException:
        vcam.stop()
        recorder.stop(partial=True)
        camera.close()
        raise

    governor = ResolutionGovernor(controller, args.target_fps) if args.target_fps else None
    latest = _Latest()
    on_frame = _frame_observer(controller, governor, latest, workers)
    outcome: dict[str, Any] = {}

    def pipeline() -> None:
        try:
            outcome["stats"] = run_pipeline(source, engine, [recorder, vcam], controller.settings, post=post,
                                            on_frame=on_frame, stop_event=stop, workers=workers)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = e
        finally:
            latest.fresh.set()

    worker = threading.Thread(target=pipeline, name="stylecam-live", daemon=True)
    window = None
    try:
        signals.__enter__()  # restored in the finally below
        if not args.no_window:
            from .window import Window

            window = Window(controller, "stylecam")
        worker.start()
        _ui_loop(worker, controller, window, latest, source, recorder, vcam, stop)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how headless sessions end: finish the outputs normally
    finally:
        stop.set()
        worker.join(timeout=30)
        signals.__exit__()
        if window is not None:
            window.close()
    if "error" in outcome:
        raise outcome["error"]
    for sink in recorder.closed:
        if getattr(sink, "final_path", None):
            print(f"stylecam: saved {sink.final_path}")
    stats = outcome.get("stats")
    if stats is not None:
        log.info("stylecam: %s", stats.as_dict())
    # Ctrl-C is how a headless session ends (0); a kill or hang-up says so in the exit code.
    return signals.exit_code if signals.name in ("SIGTERM", "SIGHUP") else 0


def _ui_loop(worker: threading.Thread, controller: Controller, window: Any, latest: _Latest, source: PausableSource,
             recorder: SwitchableSink, vcam: SwitchableSink, stop: threading.Event) -> None:
    """The main thread while the pipeline runs: draw the newest frame and HUD, pump keys, carry out actions."""
    from .window import Hud  # the window module itself was imported to make `window`

    last_draw = 0.0
    while worker.is_alive() and not controller.quit and not stop.is_set():
        if window is None:
            latest.fresh.wait(0.05)
        fresh = latest.fresh.is_set()
        latest.fresh.clear()
        now = time.monotonic()
        snap = latest.snapshot()
        if window is not None and "image" in snap and (fresh or now - last_draw >= IDLE_REDRAW):
            window.show(snap["image"], Hud(
                style=controller.label(), fps=snap["fps"], stages_ms=snap["stages"], dropped=snap["dropped"],
                size=controller.size, camera_status=source.status, notice=controller.notice(),
                paused=controller.paused, recording=recorder.active, vcam=vcam.active,
                show_help=controller.show_help))
            last_draw = now
        if window is not None:
            window.poll(5)
        _carry_out(controller, controller.pop_actions(), recorder, vcam, snap.get("image"))
        for sink, flag in ((recorder, "recording"), (vcam, "vcam")):
            if sink.failure:
                controller.notify(sink.failure)
                setattr(controller, flag, False)
                sink.failure = ""


def _black(size: tuple[int, int]) -> Any:
    import numpy as np

    return np.zeros((size[1], size[0], 3), np.uint8)


def _carry_out(controller: Controller, actions: list[Action], recorder: SwitchableSink, vcam: SwitchableSink,
               image: Any) -> None:
    """Do what the keys asked for; failures become on-screen notices, not crashes."""
    for action in actions:
        try:
            if action is Action.SCREENSHOT:
                controller.notify(_screenshot(image) if image is not None else "no frame yet")
            elif action is Action.RECORD_START:
                sink = recorder.open()
                controller.notify(f"recording to {Path(sink.path).name}")
            elif action is Action.RECORD_STOP:
                sink = recorder.stop()
                name = getattr(sink, "final_path", None)
                controller.notify(f"saved {name}" if name else "recording stopped (no frames)")
            elif action is Action.VCAM_ON:
                vcam.open()
                controller.notify("virtual camera on")
            elif action is Action.VCAM_OFF:
                vcam.stop()
                controller.notify("virtual camera off")
        except UserError as e:
            controller.notify(str(e).split(";")[0])
            log.warning("stylecam: %s", e)
            if action is Action.RECORD_START:
                controller.recording = False
            elif action is Action.VCAM_ON:
                controller.vcam = False


def _screenshot(image: Any) -> str:
    import cv2

    from .frames import rgb_to_bgr

    path = _timestamped(".png")
    if not cv2.imwrite(str(path), rgb_to_bgr(image)):
        return f"could not write {path.name}"
    return f"screenshot {path.name}"

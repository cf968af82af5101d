"""Where frames come from: cameras (OpenCV), video files and URLs (PyAV), still images.

Every source yields `Frame`s holding RGB uint8 images (see frames.py) and says
whether it is live (drop stale frames) or a file (process every frame, in order).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .errors import UserError, first_line
from .frames import Size, bgr_to_rgb

log = logging.getLogger("stylecam")

# The one list of picture file types, for every command, the training folders and keyframes.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
PICTURE_KINDS = "JPEG, PNG, BMP, WebP or TIFF"


class _quiet_opencv:
    """OpenCV's own log silenced for the duration (camera probing is noisy when nothing is there)."""

    def __enter__(self) -> None:
        lg = getattr(getattr(cv2, "utils", None), "logging", None)
        self._lg, self._level = lg, (lg.getLogLevel() if lg else None)
        if lg:
            lg.setLogLevel(lg.LOG_LEVEL_SILENT)

    def __exit__(self, *exc: object) -> None:
        if self._lg:
            self._lg.setLogLevel(self._level)


def read_picture(path: str | Path, what: str = "image", *, min_side: int = 1) -> np.ndarray:
    """RGB uint8 (H,W,3) of an image file a user named, whatever its depth and channels.

    16-bit and float files are scaled to 8 bits, grey is expanded, transparency is
    composited over white (what the picture looks like in a viewer; the hidden
    colours under alpha 0 are often garbage), and an animated or multi-page file
    gives its first frame with a warning. Anything unusable is a UserError.
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {p} does not exist; check the path")
    data = np.fromfile(str(p), dtype=np.uint8)  # imdecode: Unicode paths work
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise UserError(f"cannot read {what} {p}: not a readable picture; pass a {PICTURE_KINDS} file")
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = (np.clip(np.nan_to_num(img.astype(np.float32)), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        a = img[:, :, 3:].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a)).round().astype(np.uint8)
    elif img.shape[2] != 3:
        raise UserError(f"cannot read {what} {p}: {img.shape[2]} colour channels; pass an RGB or grey picture")
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        raise UserError(f"{what} {p} is only {w}x{h} px; use a picture at least {min_side} px on its short side")
    try:
        pages = cv2.imcount(str(p))
    except cv2.error:
        pages = 1
    if pages > 1:
        log.warning("stylecam: %s %s has %d frames; using the first", what, p.name, pages)
    return bgr_to_rgb(img)


def list_pictures(path: str | Path) -> list[Path]:
    """A picture file as given, or the pictures in a folder (sorted by name)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            raise UserError(f"folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); pass another folder")
        return files
    if not p.is_file():
        raise UserError(f"{p} does not exist; check the path")
    return [p]


@dataclass
class Frame:
    """One picture on its way through the pipeline; `name` is set for image files."""

    image: np.ndarray
    pts: float | None
    index: int
    name: str | None = None


class Source(Protocol):
    fps: float
    size: Size
    live: bool
    frame_count: int | None

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class CameraSource:
    """A webcam through cv2.VideoCapture, reconnecting with backoff when it stops delivering.

    A video file given as the camera (demos, tests) plays at its own frame rate and loops,
    as a camera would keep delivering; only a real camera is ever "lost" and reconnected.
    """

    live = True
    frame_count = None

    def __init__(self, device: int | str = 0, size: Size | None = None, fps: float | None = None, *,
                 capture_factory: Callable[..., Any] = cv2.VideoCapture, max_backoff: float = 8.0,
                 failures_before_reconnect: int = 5, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] | None = None) -> None:
        self.device = device
        self.is_file = isinstance(device, (str, Path)) and Path(device).is_file()
        self._clock = clock
        self._sleep = sleep
        self._want_size, self._want_fps = size, fps
        self._factory = capture_factory
        self._max_backoff = max_backoff
        self._fail_limit = failures_before_reconnect
        self._closed = threading.Event()
        self.status = ""
        self.reconnects = 0
        self._cap = self._open()
        if self._cap is None:
            raise UserError(f"no camera at {device!r}; check it is plugged in and not used by another program, "
                            "or pick another with --camera N")
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or (size[0] if size else 640)
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or (size[1] if size else 480)
        self.size: Size = (w, h)
        self.fps: float = float(self._cap.get(cv2.CAP_PROP_FPS) or 0) or float(fps or 30.0)

    def _open(self) -> Any | None:
        with _quiet_opencv():  # its backend probing prints a dozen warnings before our one-line answer
            cap = self._factory(self.device)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        if self._want_size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._want_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._want_size[1])
        if self._want_fps:
            cap.set(cv2.CAP_PROP_FPS, float(self._want_fps))
        return cap

    def _wait(self, seconds: float) -> bool:
        """Sleep (interruptibly); True when closed meanwhile."""
        if self._sleep is not None:
            self._sleep(seconds)
            return self._closed.is_set()
        return self._closed.wait(seconds)

    def __iter__(self) -> Iterator[Frame]:
        index, failures, backoff = 0, 0, 1.0
        t0 = self._clock()
        loop_frames = 0
        while not self._closed.is_set():
            ok, bgr = (False, None) if self._cap is None else self._cap.read()
            if ok and bgr is not None:
                failures, backoff = 0, 1.0
                self.status = ""
                if self.is_file:  # play at the file's rate: frame i is due at t0 + i / fps
                    due = t0 + index / self.fps - self._clock()
                    if due > 0 and self._wait(due):
                        break
                    loop_frames += 1
                yield Frame(bgr_to_rgb(bgr), self._clock() - t0, index)
                index += 1
                continue
            if self.is_file and self._cap is not None:
                if loop_frames == 0:  # not one frame since the last rewind: the file is unreadable
                    log.warning("stylecam: %s gives no frames; stopping", self.device)
                    break
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # end of the file: loop
                loop_frames = 0
                continue
            failures += 1
            if self._cap is not None and failures < self._fail_limit:
                continue
            # The camera stopped delivering (unplugged, taken by another app): reopen with backoff.
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self.status = f"camera lost, reconnecting in {backoff:g}s"
            log.warning("stylecam: %s", self.status)
            if self._closed.wait(backoff):
                break
            self._cap = self._open()
            self.reconnects += 1
            backoff = min(backoff * 2, self._max_backoff)
            if self._cap is not None:
                failures = 0
                self.status = "camera reconnected"

    def close(self) -> None:
        self._closed.set()
        if self._cap is not None:
            self._cap.release()


class VideoSource:
    """A video file or URL decoded with PyAV; undecodable frames are skipped and counted."""

    live = False

    def __init__(self, spec: str) -> None:
        import av

        self.spec = spec
        self.skipped = 0
        try:
            self.container = av.open(spec, options={"rw_timeout": "15000000"} if "://" in spec else None)
        except FileNotFoundError:
            raise UserError(f"input {spec} does not exist; check the path") from None
        except (av.FFmpegError, OSError, ValueError) as e:
            raise UserError(f"cannot open {spec} as a video ({_why(e)}); pass a readable video file") from None
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f"{spec} has no video stream; pass a video file")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.rate: Fraction = Fraction(rate) if rate else Fraction(30)
        self.fps = float(self.rate)
        self.time_base: Fraction | None = self.stream.time_base
        self.size: Size = (self.stream.width, self.stream.height)
        # What the container announces: an exact count (MP4), else from a duration (MKV, WebM):
        # used for the progress bar and to tell a truncated file from a complete one.
        self.frame_count: int | None = self.stream.frames or None
        self.frame_count_exact = self.frame_count is not None
        seconds = None
        if self.frame_count is None and self.stream.duration and self.time_base:
            seconds = float(self.stream.duration * self.time_base)
        elif self.frame_count is None and self.container.duration:
            seconds = self.container.duration / 1_000_000  # AV_TIME_BASE
        if seconds:
            self.frame_count = round(seconds * self.fps) or None
        self.has_audio = bool(self.container.streams.audio)
        self.rotation = 0  # counter-clockwise degrees from the display matrix, known after the first frame
        try:
            self.rotation = int(float(self.stream.metadata.get("rotate", 0)))
        except ValueError:
            pass

    def __iter__(self) -> Iterator[Frame]:
        import av

        index = 0
        try:
            packets = self.container.demux(self.stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.FFmpegError as e:  # broken container data: stop with what we have
                    log.warning("stylecam: stopped reading %s early: %s", self.spec, _why(e))
                    self.skipped += 1
                    break
                try:
                    decoded = packet.decode()
                except (av.FFmpegError, ValueError):
                    self.skipped += 1
                    continue
                for vf in decoded:
                    try:
                        image = vf.to_ndarray(format="rgb24")
                    except (av.FFmpegError, ValueError):
                        self.skipped += 1
                        continue
                    if index == 0 and vf.rotation:
                        self.rotation = int(vf.rotation)
                    yield Frame(np.ascontiguousarray(image), float(vf.time) if vf.pts is not None else None, index)
                    index += 1
        finally:
            if self.skipped:
                log.warning("stylecam: skipped %d undecodable packet(s) in %s", self.skipped, self.spec)

    def close(self) -> None:
        self.container.close()


class ImageSource:
    """One image file or a folder of images (sorted by name)."""

    live = False
    fps = 1.0

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        if not p.exists():
            raise UserError(f"input {p} does not exist; check the path")
        self.files = list_pictures(p)
        self.is_folder = p.is_dir()
        self.frame_count: int | None = len(self.files)
        self.skipped = 0
        first = self._read(self.files[0], strict=not self.is_folder)
        h, w = first.shape[:2] if first is not None else (0, 0)
        self.size: Size = (w, h)

    @staticmethod
    def _read(f: Path, strict: bool) -> np.ndarray | None:
        try:
            return read_picture(f, "image")
        except UserError:
            if strict:
                raise
            return None

    def __iter__(self) -> Iterator[Frame]:
        for i, f in enumerate(self.files):
            image = self._read(f, strict=not self.is_folder)
            if image is None:
                log.warning("stylecam: skipping unreadable image %s", f)
                self.skipped += 1
                continue
            yield Frame(image, None, i, name=f.name)

    def close(self) -> None:
        pass


def _why(e: BaseException) -> str:
    return first_line(e, 160)


def open_source(spec: str, *, size: Size | None = None, fps: float | None = None) -> Source:
    """Pick a source by its spec: a camera index or /dev/video*, an image or folder, else a video/URL."""
    text = str(spec)
    if text.isdigit():
        return CameraSource(int(text), size, fps)
    if text.startswith("/dev/video"):
        return CameraSource(text, size, fps)
    if "://" in text:
        return VideoSource(text)
    p = Path(text)
    if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(p)
    if not p.exists():
        raise UserError(f"input {p} does not exist; check the path")
    return VideoSource(text)

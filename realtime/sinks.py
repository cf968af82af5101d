"""Where stylized frames go: video files (PyAV), image files, a virtual camera.

Files are written under a temporary name in the target folder and renamed at the
end, so a crash never leaves a half-written file under the requested name; an
interrupted run is finalised as `<name>.partial<suffix>` (still playable).
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .errors import UserError
from .files import temp_path, write_atomic
from .frames import Size, resize, rgb_to_bgr
from .sources import IMAGE_SUFFIXES, Frame

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")  # the containers a video output may be; .webm gets VP9

log = logging.getLogger("stylecam")


class Sink(Protocol):
    def write(self, frame: Frame) -> None: ...

    def close(self, partial: bool = False) -> None: ...


def partial_path(path: str | os.PathLike[str]) -> Path:
    """out.mp4 -> out.partial.mp4: where an interrupted run's output goes."""
    p = Path(path)
    return p.with_name(f"{p.stem}.partial{p.suffix}")


def check_output_dir(path: str | os.PathLike[str], *, file: bool = False) -> None:
    """Before any work: the output's folder exists and is writable (and, for a file, it is not a folder)."""
    p = Path(path)
    parent = p.resolve().parent
    if not parent.is_dir():
        raise UserError(f"output folder {parent} does not exist; create it or pick another output path")
    if file and p.is_dir():
        raise UserError(f"output {p} is a folder; give a file name, e.g. {p / 'stylized.mp4'}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to folder {parent} (permission denied); pick another output path")


class OutputLock:
    """One writer per output: a second stylecam run aimed at the same file or folder refuses.

    An flock on a hidden file beside the output; the kernel drops it when the process ends,
    however it ends, so a crash never leaves a stale lock. No flock (Windows): no lock.
    """

    def __init__(self, target: str | os.PathLike[str]) -> None:
        t = Path(target).resolve()
        self.path = t.parent / f".{t.name}.stylecam-lock"
        self.fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise UserError(f"another stylecam run is writing {t} right now; "
                                "wait for it to finish or pick another -o path") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return
            os.close(fd)  # the holder finished and removed it between our open and lock: again
        raise UserError(f"could not lock {t} for writing; pick another -o path")  # pragma: no cover

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


class VideoFileSink:
    """H.264 (or the container's codec) video, input frame rate/timestamps/rotation kept, audio carried over."""

    def __init__(self, path: str | os.PathLike[str], *, fps: float | Fraction = 30, time_base: Fraction | None = None,
                 rotation: int | Callable[[], int] = 0, audio_from: str | None = None, crf: int = 18,
                 preset: str = "faster") -> None:
        import av

        self.path = Path(path)
        check_output_dir(self.path, file=True)
        self.lock = OutputLock(self.path)
        self.tmp = temp_path(self.path)
        self.rate = Fraction(fps).limit_denominator(1_000_000) if fps else Fraction(30)
        self.time_base = time_base or 1 / self.rate
        self._rotation = rotation
        self._audio_from = audio_from
        self._crf, self._preset = crf, preset
        self.frames_written = 0
        self.final_path: Path | None = None
        self.partial = False
        self.audio_mode: str | None = None  # "copy", "encode" or None
        try:
            self.out = av.open(str(self.tmp), "w")
        except (av.FFmpegError, ValueError) as e:
            self.tmp.unlink(missing_ok=True)
            self.lock.release()
            raise UserError(f"cannot write {self.path.name} ({e}); name it {' / '.join(VIDEO_SUFFIXES)}") from None
        self.stream: Any = None
        self._ain: Any = None
        self._astream: Any = None
        self._apackets: Any = None
        self._apending: Any = None
        self._last_pts = -1
        self._last_time = 0.0
        self._size: Size | None = None

    # -- setup on the first frame (size known only then) ----------------------------------
    def _video_codec(self) -> str:
        supported = self.out.supported_codecs
        if self.path.suffix.lower() == ".webm":
            prefs = ["libvpx-vp9", "libvpx"]
        else:
            prefs = ["libx264", "h264", "libopenh264", "mpeg4"]
        for c in prefs:
            if c in supported:
                try:
                    import av

                    av.codec.Codec(c, "w")
                    return c
                except Exception:
                    continue
        raise UserError(f"no video encoder for {self.path.suffix} files in this FFmpeg build; use a .mp4 output")

    def _start(self, w: int, h: int) -> None:
        codec = self._video_codec()
        s = self.out.add_stream(codec, rate=self.rate)
        s.width, s.height = w, h
        if codec in ("libx264", "h264"):
            # 4:2:0 needs even sides; odd sizes keep their exact size in 4:4:4.
            s.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
            if s.pix_fmt != "yuv420p":
                log.info("stylecam: odd frame size %dx%d, writing yuv444p H.264", w, h)
            s.options = {"crf": str(self._crf), "preset": self._preset}
        elif codec.startswith("libvpx"):
            s.pix_fmt = "yuv420p"
            s.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        else:
            s.pix_fmt = "yuv420p"
        s.codec_context.time_base = self.time_base
        rot = self._rotation() if callable(self._rotation) else self._rotation
        if rot:
            s.set_display_rotation(int(rot))
        self.stream, self._size = s, (w, h)
        if self._audio_from:
            self._start_audio()

    def _start_audio(self) -> None:
        import av

        try:
            self._ain = av.open(self._audio_from)
        except (av.FFmpegError, OSError) as e:
            log.warning("stylecam: no audio copied: cannot open %s (%s)", self._audio_from, e)
            return
        if not self._ain.streams.audio:
            self._ain.close()
            self._ain = None
            return
        ain = self._ain.streams.audio[0]
        name = ain.codec_context.name
        if name in self.out.supported_codecs:
            self._astream = self.out.add_stream_from_template(ain)
            self.audio_mode = "copy"
        else:
            enc = next((c for c in ("aac", "libopus", "opus", "libvorbis", "mp3") if c in self.out.supported_codecs), None)
            if enc is None:
                log.warning("stylecam: %s cannot hold any audio this FFmpeg can encode; audio dropped", self.path.suffix)
                return
            rate = ain.sample_rate or 48000
            if enc in ("libopus", "opus"):
                rate = 48000
            self._astream = self.out.add_stream(enc, rate=rate)
            self._astream.layout = ain.layout.name if ain.layout else "stereo"
            self._resampler = av.AudioResampler(format=self._astream.format.name, layout=self._astream.layout.name,
                                                rate=rate)
            self.audio_mode = "encode"
            log.info("stylecam: re-encoding %s audio to %s for %s", name, enc, self.path.suffix)
        self._apackets = self._ain.demux(ain)

    # -- writing -------------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        import av

        img = frame.image
        h, w = img.shape[:2]
        if self.stream is None:
            self._start(w, h)
        elif (w, h) != self._size:
            img = resize(img, self._size)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        tb = self.time_base
        pts = round(frame.pts / tb) if frame.pts is not None else round(frame.index / self.rate / tb)
        if pts <= self._last_pts:  # timestamps must grow; a broken input does not stop us
            pts = self._last_pts + 1
        vf.pts, vf.time_base = pts, tb
        self._last_pts = pts
        self._last_time = float(pts * tb)
        for p in self.stream.encode(vf):
            self.out.mux(p)
        self.frames_written += 1
        self._pump_audio(self._last_time)

    def _pump_audio(self, until: float | None) -> None:
        """Mux audio up to `until` seconds (None: all), interleaved with the video."""
        if self._apackets is None:
            return
        import av

        while True:
            pkt = self._apending
            if pkt is None:
                try:
                    pkt = next(self._apackets)
                except (StopIteration, av.FFmpegError):
                    self._apackets = None
                    break
            if pkt.dts is None:
                self._apending = None
                continue
            t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else float(pkt.dts * pkt.time_base)
            if until is not None and t > until:
                self._apending = pkt
                return
            self._apending = None
            if self.audio_mode == "copy":
                pkt.stream = self._astream
                self.out.mux(pkt)
            else:
                try:
                    decoded = pkt.decode()
                except (av.FFmpegError, ValueError):
                    continue
                for af in decoded:
                    for rf in self._resampler.resample(af):
                        rf.pts = None
                        for p in self._astream.encode(rf):
                            self.out.mux(p)

    def close(self, partial: bool = False) -> None:
        """Flush, carry the rest of the audio, and rename into place (as .partial when interrupted)."""
        if self.out is None:
            return
        try:
            if self.stream is not None:
                for p in self.stream.encode():
                    self.out.mux(p)
                end = self._last_time + float(1 / self.rate)
                self._pump_audio(end if partial else None)
                if self.audio_mode == "encode":
                    for rf in self._resampler.resample(None):
                        for p in self._astream.encode(rf):
                            self.out.mux(p)
                    for p in self._astream.encode():
                        self.out.mux(p)
            self.out.close()
        except BaseException:
            self._discard()
            raise
        finally:
            self.out = None
            if self._ain is not None:
                self._ain.close()
        try:
            if self.frames_written == 0:
                self._discard()
                return
            self.partial = partial
            self.final_path = partial_path(self.path) if partial else self.path
            os.replace(self.tmp, self.final_path)
        finally:
            self.lock.release()

    def _discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
        self.lock.release()


class ImageSink:
    """Stylized stills: one file, or a folder of files named after the inputs (else numbered)."""

    def __init__(self, path: str | os.PathLike[str], *, folder: bool = False, suffix: str = ".png") -> None:
        self.path = Path(path)
        self.folder = folder
        self.suffix = suffix
        self.written: list[Path] = []
        self.partial = False
        check_output_dir(self.path)
        if not folder and self.path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"cannot tell the image format of {self.path.name}; end the output name with .png or .jpg")
        self.lock = OutputLock(self.path)
        if folder:
            self.path.mkdir(exist_ok=True)

    def _target(self, frame: Frame) -> Path:
        if self.folder:
            name = frame.name or f"{frame.index + 1:06d}{self.suffix}"
            return self.path / name
        if self.written:  # more than one frame to a single name: number them
            return self.path.with_name(f"{self.path.stem}_{frame.index + 1:06d}{self.path.suffix}")
        return self.path

    def write(self, frame: Frame) -> None:
        target = self._target(frame)

        def encode(tmp: Path) -> None:
            if not cv2.imwrite(str(tmp), rgb_to_bgr(frame.image)):
                raise UserError(f"cannot write image {target}; check the file name's extension and free disk space")
        self.written.append(write_atomic(target, encode))

    def close(self, partial: bool = False) -> None:
        self.partial = partial
        self.lock.release()


def _virtualcam_fix() -> str:
    if sys.platform.startswith("linux"):
        return ("install and load v4l2loopback: sudo apt install v4l2loopback-dkms && "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=stylecam")
    return "install OBS Studio and start its Virtual Camera once (Start Virtual Camera, then Stop), then retry"


class VirtualCameraSink:
    """Frames out to a virtual webcam through pyvirtualcam (OBS / v4l2loopback / Unity Capture)."""

    def __init__(self, fps: float = 30.0, *, size: Size | None = None, device: str | None = None,
                 backend: str | None = None, camera_factory: Callable[..., Any] | None = None) -> None:
        self.fps = float(fps) or 30.0
        self.size = size
        self.device, self.backend = device, backend
        self._factory = camera_factory
        self.camera: Any = None
        self.frames_sent = 0
        self.partial = False

    def _open(self, w: int, h: int) -> None:
        if self._factory is None:
            try:
                import pyvirtualcam
            except ImportError:
                raise UserError("pyvirtualcam is not installed; pip install pyvirtualcam") from None
            factory, fmt = pyvirtualcam.Camera, pyvirtualcam.PixelFormat.RGB
        else:
            factory = self._factory
            try:
                import pyvirtualcam

                fmt = pyvirtualcam.PixelFormat.RGB
            except ImportError:
                fmt = "RGB"
        try:
            self.camera = factory(width=w, height=h, fps=self.fps, fmt=fmt, device=self.device, backend=self.backend)
        except (RuntimeError, OSError, ValueError) as e:
            why = " ".join(str(e).split())[:240]
            raise UserError(f"no virtual camera available ({why}); {_virtualcam_fix()}") from None
        self.size = (w, h)
        log.info("stylecam: virtual camera %s (%dx%d @ %g fps)", getattr(self.camera, "device", "?"), w, h, self.fps)

    def write(self, frame: Frame) -> None:
        img = frame.image
        if self.camera is None:
            w, h = self.size or (img.shape[1], img.shape[0])
            self._open(w, h)
        assert self.size is not None
        if (img.shape[1], img.shape[0]) != self.size:
            img = resize(img, self.size)
        self.camera.send(np.ascontiguousarray(img))
        self.frames_sent += 1

    def close(self, partial: bool = False) -> None:
        self.partial = partial
        if self.camera is not None:
            self.camera.close()
            self.camera = None

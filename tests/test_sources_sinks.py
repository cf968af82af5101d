"""Sources and sinks: round trips on media the test makes, doubles for camera and virtual camera."""
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest

from conftest import copy_through
from stylecam.testing import probe
from stylecam.realtime import sinks as sk
from stylecam.realtime.errors import UserError
from stylecam.realtime.sinks import ImageSink, VideoFileSink, VirtualCameraSink
from stylecam.realtime.sources import CameraSource, Frame, ImageSource, VideoSource, open_source


# -- video source ----------------------------------------------------------------------------
def test_video_source_reads_every_frame_with_timestamps(clip):
    src = open_source(str(clip(frames=10, fps=25)))
    assert isinstance(src, VideoSource) and not src.live
    assert src.fps == 25 and src.size == (64, 48) and src.frame_count == 10 and src.has_audio
    frames = list(src)
    src.close()
    assert [f.index for f in frames] == list(range(10))
    assert [round(f.pts, 3) for f in frames] == [round(i / 25, 3) for i in range(10)]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].image[:, -1, 0].mean() > 200  # red gradient rises to the right: RGB order
    assert src.skipped == 0


def test_video_source_keeps_rotation(clip):
    src = VideoSource(str(clip(frames=3, rotation=90)))
    list(src)
    src.close()
    assert src.rotation == 90


def test_missing_and_corrupt_videos_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_source(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError, match="cannot open"):
        open_source(str(bad))


def test_truncated_video_is_read_without_crashing(clip, tmp_path):
    good = clip(frames=24, audio=False, name="good.mkv")
    data = good.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    src = VideoSource(str(cut))
    frames = list(src)
    src.close()
    assert 0 < len(frames) < 24


def test_image_source_folder_is_sorted(tmp_path):
    for name, v in (("b.png", 20), ("a.jpg", 10), ("c.bmp", 30)):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), v, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    src = open_source(str(tmp_path))
    assert isinstance(src, ImageSource) and src.frame_count == 3
    assert [f.name for f in src] == ["a.jpg", "b.png", "c.bmp"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        ImageSource(tmp_path / "empty")


# -- camera source (double of cv2.VideoCapture) -------------------------------------------------
class FakeCapture:
    """Delivers `good` frames, then fails reads, like an unplugged webcam."""

    opened = 0

    def __init__(self, device, good=3, available=True):
        FakeCapture.opened += 1
        self.good, self.available, self.reads = good, available, 0

    def isOpened(self):
        return self.available

    def set(self, prop, value):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_WIDTH: 32, cv2.CAP_PROP_FRAME_HEIGHT: 24, cv2.CAP_PROP_FPS: 30}.get(prop, 0)

    def read(self):
        self.reads += 1
        if self.reads <= self.good:
            return True, np.full((24, 32, 3), (255, 0, 0), np.uint8)  # BGR blue
        return False, None

    def release(self):
        pass


def test_missing_camera_is_a_user_error():
    with pytest.raises(UserError, match="no camera at 7"):
        CameraSource(7, capture_factory=lambda d: FakeCapture(d, available=False))


# -- video file sink -------------------------------------------------------------------------
def test_video_sink_keeps_rate_count_timestamps_and_copies_audio(clip, tmp_path):
    src_path = clip(frames=20, fps=30)
    sink = copy_through(src_path, tmp_path / "out.mp4")
    assert sink.final_path == tmp_path / "out.mp4" and sink.audio_mode == "copy"
    assert not list(tmp_path.glob("*.tmp.*"))
    a, b = probe(src_path), probe(tmp_path / "out.mp4")
    assert b["frames"] == a["frames"] == 20 and b["fps"] == 30
    assert b["video_seconds"] == pytest.approx(a["video_seconds"], abs=1e-3)
    assert b["audio_codec"] == "aac" and b["audio_seconds"] == pytest.approx(a["audio_seconds"], abs=0.05)
    assert np.abs(b["first"].astype(int) - (255 - a["first"].astype(int))).mean() < 6


def test_video_sink_reencodes_audio_when_container_needs_it(clip, tmp_path):
    src_path = clip(frames=12, fps=24)
    sink = copy_through(src_path, tmp_path / "out.webm")
    assert sink.audio_mode == "encode"
    b = probe(tmp_path / "out.webm")
    assert b["frames"] == 12 and b["audio_codec"] == "opus"
    assert b["audio_seconds"] == pytest.approx(probe(src_path)["audio_seconds"], abs=0.1)


def test_video_sink_keeps_rotation_and_odd_size(clip, tmp_path):
    src_path = clip(frames=4, size=(123, 77), rotation=90, audio=False)
    copy_through(src_path, tmp_path / "out.mp4")
    b = probe(tmp_path / "out.mp4")
    assert (b["width"], b["height"]) == (123, 77) and b["rotation"] == 90 and b["frames"] == 4


def test_video_sink_without_frames_leaves_nothing(tmp_path):
    sink = VideoFileSink(tmp_path / "out.mp4", fps=Fraction(25))
    sink.close(partial=True)
    assert sink.final_path is None and list(tmp_path.iterdir()) == []


def test_sink_output_folder_missing(tmp_path):
    with pytest.raises(UserError, match="output folder .* does not exist"):
        VideoFileSink(tmp_path / "missing" / "out.mp4")
    with pytest.raises(UserError, match="does not exist"):
        ImageSink(tmp_path / "missing" / "out.png")


# -- image sink ------------------------------------------------------------------------------
def test_image_sink_single_and_folder(tmp_path):
    img = np.zeros((5, 7, 3), np.uint8)
    img[..., 0] = 255
    single = ImageSink(tmp_path / "one.png")
    single.write(Frame(img, None, 0))
    back = cv2.imread(str(tmp_path / "one.png"))
    assert back.shape == (5, 7, 3) and back[0, 0].tolist() == [0, 0, 255]  # written as true red
    folder = ImageSink(tmp_path / "outdir", folder=True)
    folder.write(Frame(img, None, 0, name="x.png"))
    folder.write(Frame(img, None, 1))
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["000002.png", "x.png"]
    with pytest.raises(UserError, match=".png or .jpg"):
        ImageSink(tmp_path / "noext")


# -- virtual camera (double of pyvirtualcam.Camera) ---------------------------------------------
class FakeVirtualCamera:
    instances: list = []

    def __init__(self, width, height, fps, *, fmt=None, device=None, backend=None):
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.device = device or "/dev/video9"
        self.frames: list[np.ndarray] = []
        self.closed = False
        FakeVirtualCamera.instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous
        self.frames.append(frame.copy())

    def close(self):
        self.closed = True


def test_virtual_camera_receives_rgb_frames_of_its_size():
    import pyvirtualcam

    FakeVirtualCamera.instances = []
    sink = VirtualCameraSink(fps=30, size=(32, 24), camera_factory=FakeVirtualCamera)
    img = np.zeros((48, 64, 3), np.uint8)
    img[..., 0] = 200
    for i in range(3):
        sink.write(Frame(img, i / 30, i))
    sink.close()
    cam = FakeVirtualCamera.instances[0]
    assert (cam.width, cam.height, cam.fps) == (32, 24, 30) and cam.fmt == pyvirtualcam.PixelFormat.RGB
    assert len(cam.frames) == 3 and cam.frames[0][0, 0].tolist() == [200, 0, 0] and cam.closed


def test_virtual_camera_missing_backend_says_what_to_do(monkeypatch):
    def no_backend(**kw):
        raise RuntimeError("'v4l2loopback' backend: device not found")

    sink = VirtualCameraSink(camera_factory=no_backend)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(UserError) as e:
        sink.write(Frame(np.zeros((24, 32, 3), np.uint8), 0.0, 0))
    msg = str(e.value)
    assert "device not found" in msg and "\n" not in msg
    assert "sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 exclusive_caps=1 " \
           "card_label=stylecam" in msg
    monkeypatch.setattr(sys, "platform", "win32")
    assert "OBS" in sk._virtualcam_fix() and "Virtual Camera" in sk._virtualcam_fix()


def test_first_line_of_a_long_library_message():
    from stylecam.realtime.errors import first_line

    assert first_line(RuntimeError("[ONNXRuntimeError] bad graph\n  at node 7\n  ...")) == "[ONNXRuntimeError] bad graph"
    assert first_line(ValueError("")) == "ValueError" and len(first_line(OSError("x" * 999), 50)) == 50


def test_camera_source_reconnects_with_backoff():
    FakeCapture.opened = 0
    cam = CameraSource(0, capture_factory=lambda d: FakeCapture(d), max_backoff=0.02,
                       failures_before_reconnect=2)
    assert cam.live and cam.size == (32, 24) and cam.fps == 30 and cam.frame_count is None
    got, statuses = [], []
    # record the status shown while waiting, and do not really wait the backoff
    orig_wait = cam._closed.wait
    cam._closed.wait = lambda t: (statuses.append(cam.status), orig_wait(0.001))[1]
    for f in cam:
        got.append(f)
        if len(got) == 5:
            break
    cam.close()
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    assert got[0].image[0, 0].tolist() == [0, 0, 255]  # BGR blue arrives as RGB blue
    assert statuses and statuses[0] == "camera lost, reconnecting in 1s"
    assert cam.reconnects == 1 and FakeCapture.opened == 2

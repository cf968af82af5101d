"""Shared fixtures: tiny ONNX models and clips (made by stylecam/testing.py), the device matrix.

Tests never depend on trained weights or on ../shared/data: every model and every
clip they use is made by our code, small enough to keep the suite fast on 2 CPU cores.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The tiny models, clips and probe live in stylecam/testing.py, shared with benchmarks/; tests import them from there.
from stylecam.testing import make_clip, make_tiny_model  # noqa: E402


@pytest.fixture
def tiny_model(tmp_path: Path):
    """Factory: tiny_model(kind='feedforward', **kw) -> Path of a tiny model in tmp_path/models."""
    def make(kind: str = "feedforward", name: str | None = None, **kw) -> Path:
        fname = (name or f"tiny-{kind}") + ".onnx"
        if kind == "adain":
            make_tiny_model(tmp_path / "models" / "adain_encoder.onnx", "adain_encoder")
        return make_tiny_model(tmp_path / "models" / fname, kind, name=name, **kw)
    return make


@pytest.fixture
def clip(tmp_path: Path):
    """Factory: clip(frames=12, fps=24, size=(64, 48), audio=True, name='in.mp4') -> Path."""
    def make(frames: int = 12, fps: int = 24, size: tuple[int, int] = (64, 48), audio: bool = True,
             name: str = "in.mp4", **kw) -> Path:
        return make_clip(tmp_path / name, frames, fps, size, audio, **kw)
    return make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep AdaIN statistics caches out of the user's ~/.cache during tests."""
    monkeypatch.setenv("STYLECAM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _ctrl_c_raises() -> Iterator[None]:
    """Every test starts with Python's own Ctrl-C (KeyboardInterrupt) and gets the stop-signal handlers
    back after it. A test process started with SIGINT ignored (`nohup`, a background job of a script)
    would otherwise never see `_thread.interrupt_main`, and a live run waiting for it runs forever; an
    in-process CLI run stopped by a signal leaves SIGINT ignored on its way out (on purpose: its
    process is exiting)."""
    import signal

    from stylecam.realtime.signals import STOP_SIGNALS

    saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)


# -- the device matrix: every engine/live/CLI test marked with `device` runs on each device that
# really loads here (cpu always; cuda and tensorrt where onnxruntime-gpu starts them), and shows
# as skipped, with the reason, where it does not.
_DEVICE_REASON: dict[str, str | None] = {}


def device_unavailable(device: str, tmp: Path) -> str | None:
    """None when a session really starts on `device`, else why not (cached per run)."""
    if device not in _DEVICE_REASON:
        from stylecam.realtime.devices import PROVIDER
        from stylecam.realtime.errors import UserError
        from stylecam.realtime.session import make_session

        reason = None
        if device != "cpu":
            import onnxruntime as ort

            if PROVIDER[device] not in ort.get_available_providers():
                reason = (f"{device}: onnxruntime here offers no {PROVIDER[device]} "
                          "(needs onnxruntime-gpu and an NVIDIA GPU)")
            else:
                try:
                    make_session(str(make_tiny_model(tmp / f"probe-{device}.onnx", "feedforward")), device)
                except UserError as e:
                    reason = f"{device}: {e}"
        _DEVICE_REASON[device] = reason
    return _DEVICE_REASON[device]


@pytest.fixture(params=["cpu", "cuda", "tensorrt"])
def device(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    reason = device_unavailable(request.param, tmp_path_factory.mktemp("devices"))
    if reason:
        pytest.skip(reason)
    return request.param


def copy_through(src_path, out_path, limit=None, partial=False):
    """Every frame of a clip, inverted, through a real VideoFileSink (audio copied); returns the sink."""
    from stylecam.realtime.sinks import VideoFileSink
    from stylecam.realtime.sources import Frame, VideoSource

    src = VideoSource(str(src_path))
    sink = VideoFileSink(out_path, fps=src.rate, time_base=src.time_base, rotation=lambda: src.rotation,
                         audio_from=str(src_path) if src.has_audio else None)
    for f in src:
        if limit is not None and f.index >= limit:
            break
        sink.write(Frame(255 - f.image, f.pts, f.index))
    src.close()
    sink.close(partial=partial)
    return sink


@pytest.fixture
def ff(tiny_model):
    """A tiny feed-forward model file (stylized = 1 - image)."""
    return str(tiny_model("feedforward"))


def err_line(capsys) -> str:
    """The one `stylecam: error:` line on stderr; fails on none, several, or a traceback."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("stylecam: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    return errors[0]

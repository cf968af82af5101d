"""Shared fixtures: tiny ONNX models built with the onnx helper API and clips made with PyAV.

Tests never depend on trained weights or on ../shared/data: every model and every
clip they use is made here, small enough to keep the suite fast on 2 CPU cores.
"""
from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CIN_STYLES = 3
CIN_TABLE = np.array([[1.0, 0.5, 0.2], [0.2, 1.0, 0.5], [0.5, 0.2, 1.0]], np.float32)  # (S, 3)


def _styles_meta(kind: str, name: str) -> list[dict]:
    if kind == "feedforward":
        return [{"name": name, "artist": "Test Artist", "title": "Inversion", "year": "2024"}]
    if kind == "cin":
        return [{"name": f"{name}-{c}", "artist": "A", "title": f"T{c}", "year": "1900"} for c in ("red", "green", "blue")]
    if kind == "adain":
        out = []
        for i, nm in enumerate(("warm", "cool")):
            mean = np.zeros(512, np.float32)
            mean[:3] = (0.8, 0.4, 0.1) if i == 0 else (0.1, 0.4, 0.8)
            std = np.full(512, 0.5, np.float32)
            out.append({"name": f"{name}-{nm}", "artist": "B", "title": nm, "year": "2000",
                        "mean": mean.tolist(), "std": std.tolist()})
        return out
    return []


def make_tiny_model(path: str | Path, kind: str = "feedforward", *, name: str | None = None,
                    size_multiple: int = 4, min_size: int = 16, encoder: str | None = None,
                    version: str = "1", op: str = "invert") -> Path:
    """Write a tiny stylecam ONNX model of `kind` with the docs/model-format.md metadata.

    feedforward: stylized = 1 - image (op="invert") or a fixed 3x3 Conv (op="conv").
    cin: stylized = image * (style_weights @ CIN_TABLE)[..., None, None].
    adain: stylized = (1 - alpha) * image + alpha * (image * std[:3] + mean[:3]).
    adain_encoder: mean = spatial mean of image @ ones(3, 512) / 3; std likewise of image^2.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    name = name or path.stem
    f = TensorProto.FLOAT
    img = helper.make_tensor_value_info("image", f, ["N", 3, "H", "W"])
    out = helper.make_tensor_value_info("stylized", f, ["N", 3, "H", "W"])
    inits, nodes, inputs, outputs = [], [], [img], [out]
    if kind == "feedforward" and op == "invert":
        inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
        nodes.append(helper.make_node("Sub", ["one", "image"], ["stylized"]))
    elif kind == "feedforward" and op == "conv":
        w = np.zeros((3, 3, 3, 3), np.float32)
        for c in range(3):
            w[2 - c, c] = 1.0 / 9.0  # blur and swap R<->B
        inits.append(numpy_helper.from_array(w, "w"))
        nodes.append(helper.make_node("Conv", ["image", "w"], ["stylized"], pads=[1, 1, 1, 1]))
    elif kind == "cin":
        inputs.append(helper.make_tensor_value_info("style_weights", f, ["N", CIN_STYLES]))
        inits += [numpy_helper.from_array(CIN_TABLE, "table"),
                  numpy_helper.from_array(np.array([2, 3], np.int64), "axes")]
        nodes += [helper.make_node("MatMul", ["style_weights", "table"], ["gain"]),
                  helper.make_node("Unsqueeze", ["gain", "axes"], ["gain4"]),
                  helper.make_node("Mul", ["image", "gain4"], ["stylized"])]
    elif kind == "adain":
        inputs += [helper.make_tensor_value_info("style_mean", f, ["N", 512]),
                   helper.make_tensor_value_info("style_std", f, ["N", 512]),
                   helper.make_tensor_value_info("alpha", f, [1])]
        inits += [numpy_helper.from_array(np.array([0], np.int64), "s0"),
                  numpy_helper.from_array(np.array([3], np.int64), "s3"),
                  numpy_helper.from_array(np.array([1], np.int64), "ax1"),
                  numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
                  numpy_helper.from_array(np.array(1.0, np.float32), "one")]
        nodes += [helper.make_node("Slice", ["style_mean", "s0", "s3", "ax1"], ["m3"]),
                  helper.make_node("Slice", ["style_std", "s0", "s3", "ax1"], ["d3"]),
                  helper.make_node("Unsqueeze", ["m3", "axes"], ["m4"]),
                  helper.make_node("Unsqueeze", ["d3", "axes"], ["d4"]),
                  helper.make_node("Mul", ["image", "d4"], ["scaled"]),
                  helper.make_node("Add", ["scaled", "m4"], ["styled"]),
                  helper.make_node("Sub", ["one", "alpha"], ["keep"]),
                  helper.make_node("Mul", ["image", "keep"], ["a"]),
                  helper.make_node("Mul", ["styled", "alpha"], ["b"]),
                  helper.make_node("Add", ["a", "b"], ["stylized"])]
    elif kind == "adain_encoder":
        outputs = [helper.make_tensor_value_info("mean", f, ["N", 512]),
                   helper.make_tensor_value_info("std", f, ["N", 512])]
        inits += [numpy_helper.from_array(np.full((3, 512), 1.0 / 3.0, np.float32), "spread"),
                  numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")]
        nodes += [helper.make_node("ReduceMean", ["image"], ["m"], axes=[2, 3], keepdims=1),
                  helper.make_node("Reshape", ["m", "shape"], ["m2"]),
                  helper.make_node("MatMul", ["m2", "spread"], ["mean"]),
                  helper.make_node("Mul", ["image", "image"], ["sq"]),
                  helper.make_node("ReduceMean", ["sq"], ["s"], axes=[2, 3], keepdims=1),
                  helper.make_node("Reshape", ["s", "shape"], ["s2"]),
                  helper.make_node("MatMul", ["s2", "spread"], ["std"])]
    else:
        raise ValueError(f"unknown tiny model kind {kind!r}")
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    meta = {
        "stylecam.format_version": version,
        "stylecam.kind": kind,
        "stylecam.name": name,
        "stylecam.styles": json.dumps(_styles_meta(kind, name)),
        "stylecam.size_multiple": str(size_multiple),
        "stylecam.min_size": str(min_size),
        "stylecam.train_size": "256",
        "stylecam.precision": "fp32",
        "stylecam.io": json.dumps({"image": "RGB float32 NCHW [0,1]"}),
        "stylecam.training": json.dumps({"steps": 0, "hours": 0, "hardware": "none", "command": "tests", "images": 0}),
    }
    if kind == "adain":
        meta["stylecam.encoder"] = encoder or "adain_encoder.onnx"
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_clip(path: str | Path, frames: int = 12, fps: int = 24, size: tuple[int, int] = (64, 48),
              audio: bool = True, rotation: int = 0, audio_codec: str = "aac", pix_fmt: str | None = None) -> Path:
    """Write a clip with a moving square on a gradient plus (optionally) a 440 Hz sine track."""
    import av

    path = Path(path)
    w, h = size
    rate = 48000
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        # 4:2:0 needs even sides; odd test sizes use 4:4:4
        vs.width, vs.height = w, h
        vs.pix_fmt = pix_fmt or ("yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p")
        vs.options = {"preset": "ultrafast"}
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream(audio_codec, rate=rate)
            aus.layout = "mono"
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
            img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
            x0 = (i * 3) % max(1, w - 8)
            img[4:12, x0:x0 + 8] = (255, 255, 255)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            total = int(rate * frames / fps)
            t = np.arange(total) / rate
            pcm = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            n = 1024
            for k in range(0, total, n):
                af = av.AudioFrame.from_ndarray(pcm[None, k:k + n].copy(), format="fltp", layout="mono")
                af.sample_rate = rate
                af.pts = k
                af.time_base = Fraction(1, rate)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return path


def probe(path: str | Path) -> dict:
    """Frame count, fps, duration and audio duration of a media file (decoded, not trusted metadata)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f for f in c.decode(video=0)]
        info = {"frames": len(frames), "fps": float(v.average_rate or 0), "width": v.width, "height": v.height,
                "video_seconds": float(frames[-1].time - frames[0].time) + 1.0 / float(v.average_rate or 1),
                "rotation": frames[0].rotation if frames else 0, "first": frames[0].to_ndarray(format="rgb24"),
                "audio_seconds": None, "audio_codec": None}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio_codec"] = a.codec_context.name
            samples = sum(f.samples for f in c.decode(audio=0))
            info["audio_seconds"] = samples / a.sample_rate
    return info


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

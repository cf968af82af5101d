"""Media made by our own code, for the tests and the benchmarks alike: tiny stylecam ONNX models
(built with the onnx helper API, no trained weights), clips with audio (PyAV), and a decoder-based
probe of what a file really holds. Nothing here is used by the product; `onnx` is needed only to
make models (the `train` extra), PyAV to make clips.
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

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
                    version: str = "1", op: str = "invert", width: int = 16) -> Path:
    """Write a tiny stylecam ONNX model of `kind` with the docs/model-format.md metadata.

    feedforward: stylized = 1 - image (op="invert"), a fixed 3x3 Conv (op="conv"), or a small random
    conv net 3 -> width -> width -> 3 with ReLUs and a sigmoid (op="convnet", for timings).
    cin: stylized = image * (style_weights @ CIN_TABLE)[..., None, None]; with op="convnet" the same
    gains on the conv net's output.
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
    base = "image"
    if op == "convnet" and kind in ("feedforward", "cin"):
        rng = np.random.default_rng(0)
        cin = 3
        for i, cout in enumerate((width, width, 3)):
            w = (rng.standard_normal((cout, cin, 3, 3)) * (1.0 / (3 * np.sqrt(cin)))).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"cw{i}"))
            nodes.append(helper.make_node("Conv", [base, f"cw{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
            base = f"c{i}"
            nodes.append(helper.make_node("Relu" if i < 2 else "Sigmoid", [base], [f"a{i}"]))
            base, cin = f"a{i}", cout
        if kind == "feedforward":
            nodes.append(helper.make_node("Identity", [base], ["stylized"]))
    if kind == "feedforward" and op == "convnet":
        pass
    elif kind == "feedforward" and op == "invert":
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
                  helper.make_node("Mul", [base, "gain4"], ["stylized"])]
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
              audio: bool = True, rotation: int = 0, audio_codec: str = "aac", pix_fmt: str | None = None,
              pattern: str = "square") -> Path:
    """Write a clip plus (optionally) a 440 Hz sine track. pattern "square": a white square moving over
    a gradient (easy to follow in tests); "texture": a moving xor/ramp texture over the whole frame
    (costs an encoder about what real footage does, for benchmarks)."""
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
            if pattern == "texture":
                img = np.stack([(xx + 4 * i) % 256, (yy + 2 * i) % 256, (xx ^ yy) % 256], -1).astype(np.uint8)
            else:
                img = np.zeros((h, w, 3), np.uint8)
                img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
                img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
                x0 = (i * 3) % max(1, w - 8)
                img[4:12, x0:x0 + 8] = (255, 255, 255)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            out.mux(vs.encode(vf))
        out.mux(vs.encode())
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
                out.mux(aus.encode(af))
            out.mux(aus.encode())
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



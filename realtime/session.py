"""onnxruntime sessions: threads, providers per device, and the cache folder they share.

Everything that turns a model file into a running session lives here, so the engine
(frames through models) and the style bank (pictures through the encoder) both use it
without importing each other.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from .devices import DEVICES, PROVIDER
from .errors import UserError, first_line

_GPU_HINT = (
    "install onnxruntime-gpu instead of onnxruntime (pip uninstall onnxruntime; pip install 'stylecam[gpu]'), "
    "with CUDA 12/13 and cuDNN 9 libraries on the library path and a recent NVIDIA driver"
)


def cache_dir() -> Path:
    """stylecam's cache folder ($STYLECAM_CACHE_DIR, else $XDG_CACHE_HOME/stylecam or ~/.cache/stylecam).

    It holds AdaIN style statistics (`adain-<picture hash>-<encoder hash>.npz`, one per style
    picture and encoder, so a picture is encoded once, ever) and TensorRT's engine cache
    (`tensorrt/`, built on the first run of a model on that GPU). Deleting it is always safe.
    """
    env = os.environ.get("STYLECAM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stylecam"


def physical_cores() -> int:
    """Physical core count: hyper-threads slow ONNX convolutions down rather than up."""
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo") as f:
            phys = core = ""
            for line in f:
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "physical id":
                    phys = val
                elif key == "core id":
                    core = val
                elif not key and (phys or core):
                    cores.add((phys, core))
                    phys = core = ""
            if phys or core:
                cores.add((phys, core))
    except OSError:
        pass
    n = len(cores)
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count() or 1
    return max(1, min(n, avail) if n else avail)


def providers(device: str) -> list[Any]:
    cuda = ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC"})
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        return [cuda, "CPUExecutionProvider"]
    if device == "tensorrt":
        trt = ("TensorrtExecutionProvider", {
            "device_id": 0, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache_dir() / "tensorrt")})
        return [trt, cuda, "CPUExecutionProvider"]
    raise UserError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")


def cpu_threads(threads: int | None = None) -> int:
    """The intra-op threads a CPU session gets: those asked for, else one per physical core."""
    return threads or physical_cores()


MAX_DEFAULT_WORKERS = 4  # each worker holds a frame's activations: more frames at once only by asking


def frame_workers(workers: int | None, threads: int | None, cores: int | None = None) -> tuple[int, int]:
    """(frames stylized at once, CPU threads each) for a run on the CPU, filling the physical cores
    (`cores`, default: this machine's).

    Whole frames on cores of their own outrun one frame split across them: a small net's layers
    are too short to keep two threads in step, more so beside the decoder and encoder."""
    cores = cores or physical_cores()
    if workers is None:
        workers = max(1, min(MAX_DEFAULT_WORKERS, cores // threads if threads else cores))
    return workers, threads or max(1, cores // workers)


def make_session(path: str, device: str, threads: int | None = None, *, spin: bool = False):
    """An onnxruntime session that really runs on `device`, or UserError naming what is missing.
    `spin` restores onnxruntime's default of spinning idle workers (benchmarks/model_speed.py --spin)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = cpu_threads(threads)
    opts.inter_op_num_threads = 1
    # Idle ORT workers otherwise spin after each run and steal the cores that the
    # reader, stabilizer and encoder threads need next (measured: stabilizer 20 -> 8 ms).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.log_severity_level = 3
    ort.set_default_logger_severity(3)  # its provider-fallback warning would precede our own hint
    try:
        with warnings.catch_warnings():  # ort warns and falls back to CPU; we check and say more below
            warnings.simplefilter("ignore")
            sess = ort.InferenceSession(path, opts, providers=providers(device))
    except Exception as e:
        msg = first_line(e)
        if device != "cpu":
            raise UserError(f"cannot start the {device} device ({msg}); {_GPU_HINT}, or use --device cpu") from None
        raise UserError(f"cannot load model {path}: {msg}; pass a valid stylecam .onnx file") from None
    # get_available_providers() lists CUDA even when its libraries are missing;
    # only the session's own provider list tells the truth.
    if sess.get_providers()[0] != PROVIDER[device]:
        avail = ", ".join(ort.get_available_providers())
        raise UserError(f"device {device} did not load (onnxruntime offers: {avail}); {_GPU_HINT}, or use --device cpu")
    return sess

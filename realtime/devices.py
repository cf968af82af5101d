"""The one table of inference devices: what `--device` accepts and which onnxruntime provider each means."""
from __future__ import annotations

PROVIDER = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEVICES = ("auto", *reversed(PROVIDER))  # auto, cpu, cuda, tensorrt
AUTO_ORDER = tuple(PROVIDER)             # what "auto" tries, best first

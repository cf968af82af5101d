"""Training precision: bf16 autocast where the CPU has bf16 units, fp32 elsewhere.

On CPUs with AVX512_BF16 (or AMX) a VGG-loss training step takes about half the
time under bf16 autocast; without those units bf16 is emulated and slower than
fp32, so "auto" must look at the hardware, not just at torch.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from .errors import UserError

PRECISIONS = ("auto", "bf16", "fp32", "fp16")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """True when /proc/cpuinfo lists a native bf16 dot-product unit."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve(precision: str, device: torch.device) -> str:
    """The precision a run really uses: bf16 / fp16 (CUDA) / fp32."""
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        return "fp32" if precision == "fp32" else ("bf16" if precision == "bf16" else "fp16")
    if precision == "fp16":
        raise UserError("--precision fp16 is for CUDA; on the CPU use bf16 (where supported) or fp32")
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)

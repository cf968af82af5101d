"""Perceptual losses on the shared VGG19 features (Johnson, Dumoulin, Huang, Gatys)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

# Paper defaults (VGG19 names).
STYLE_LAYERS_GRAM = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
ADAIN_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
ADAIN_CONTENT_LAYER = "relu4_1"


def gram_matrix(feat: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,C), normalised by C*H*W.

    With a mask (B or 1,1,H,W) the features are weighted by it first and the
    normalisation uses the mask's area, as in Gatys et al. 2017 (spatial control).
    """
    b, c, h, w = feat.shape
    if mask is not None:
        feat = feat * mask
        area = mask.sum(dim=(1, 2, 3)).clamp_min(1.0).view(-1, 1, 1)
        f = feat.reshape(b, c, h * w)
        return f.bmm(f.transpose(1, 2)) / (c * area)
    f = feat.reshape(b, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel mean and std over space; eps inside the sqrt keeps gradients finite."""
    b, c = feat.shape[:2]
    f = feat.reshape(b, c, -1)
    mean = f.mean(dim=2)
    std = (f.var(dim=2, unbiased=False) + eps).sqrt()
    return mean, std


def content_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 layers: Sequence[str]) -> torch.Tensor:
    return sum(F.mse_loss(feats[l], targets[l]) for l in layers) / len(layers)


def gram_style_loss(feats: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
                    layers: Sequence[str], layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """Sum over layers of the squared Frobenius distance between Gram matrices.

    target_grams[l] is (1,C,C) or (B,C,C) (CIN: one row per image's style).
    """
    layer_weights = layer_weights or [1.0] * len(layers)
    total = 0.0
    for l, wl in zip(layers, layer_weights):
        g = gram_matrix(feats[l])
        t = target_grams[l]
        total = total + wl * ((g - t) ** 2).sum(dim=(1, 2)).mean()
    return total


def mean_std_style_loss(feats: Mapping[str, torch.Tensor], target_stats: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                        layers: Sequence[str]) -> torch.Tensor:
    """AdaIN style loss: match channel mean and std per layer (Huang & Belongie 2017)."""
    total = 0.0
    for l in layers:
        m, s = mean_std(feats[l])
        tm, ts = target_stats[l]
        total = total + F.mse_loss(m, tm.expand_as(m)) + F.mse_loss(s, ts.expand_as(s))
    return total


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Mean absolute total variation; smooths high-frequency noise."""
    dh = (img[:, :, 1:, :] - img[:, :, :-1, :]).abs().mean()
    dw = (img[:, :, :, 1:] - img[:, :, :, :-1]).abs().mean()
    return dh + dw

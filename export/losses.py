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
                 layers: Sequence[str], layer_weights: Sequence[float] | None = None) -> torch.Tensor:
    """Mean over layers of the feature MSE, each layer scaled by its weight (default 1).

    Per-layer weights because the layers' MSEs differ in scale (relu4_2's runs about 10x relu3_1's
    on our outputs): a deep layer can be added beside a shallow one without drowning it.
    """
    layer_weights = layer_weights or [1.0] * len(layers)
    return sum(w * F.mse_loss(feats[l], targets[l]) for l, w in zip(layers, layer_weights)) / len(layers)


def gram_style_loss(feats: Mapping[str, torch.Tensor], target_grams: Mapping[str, torch.Tensor],
                    layers: Sequence[str], layer_weights: Sequence[float] | None = None,
                    sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over layers of the squared Frobenius distance between Gram matrices.

    target_grams[l] is (1,C,C) or (B,C,C) (CIN: one row per image's style). `sample_weights` (B,),
    optional: each image's factor (the mean still divides by B, so all ones is the plain loss).
    """
    layer_weights = layer_weights or [1.0] * len(layers)
    total = 0.0
    for l, wl in zip(layers, layer_weights):
        g = gram_matrix(feats[l])
        t = target_grams[l]
        d = ((g - t) ** 2).sum(dim=(1, 2))
        total = total + wl * (d if sample_weights is None else d * sample_weights.to(d.dtype)).mean()
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


def sample_columns(feat: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,C,H,W) or (B,C,N) -> (B,C,n): n feature vectors per image at random positions (all if fewer)."""
    f = feat.reshape(feat.shape[0], feat.shape[1], -1)
    if f.shape[2] <= n:
        return f
    pick = torch.randperm(f.shape[2], generator=generator, device="cpu")[:n].to(f.device)
    return f.index_select(2, pick)  # index_select's backward (index_add) is far cheaper than fancy indexing's


def sliced_wasserstein_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                            layers: Sequence[str], samples: int = 4096, directions: int = 64, *,
                            generator: torch.Generator | None = None,
                            sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Sliced Wasserstein distance between feature distributions (Heitz et al. 2021).

    A Gram matrix only pins second moments, which a net can meet with a faint, even texture; the
    sliced distance compares the whole distribution of feature vectors along random directions
    (fresh every call), so the painting's rarer, stronger responses (its bright strokes, its second
    and third colours) must appear too. targets[l] is (B,C,M): feature vectors of each image's
    painting. Both sides are subsampled to the same count, so the sorted projections align. Each
    layer's distance is divided by the target projections' mean square, so every layer counts alike
    (raw, relu4_1's outweighed relu1_1's, the layer of colours and fine marks, ~200x on release 5).
    `directions` per layer and call (the paper takes C; sorting is the cost, and fresh directions
    every step cover the rest over a run). `sample_weights` (B,), optional: each image's factor, as
    in gram_style_loss.
    """
    total = 0.0
    for l in layers:
        y, t = feats[l], targets[l]
        c = y.shape[1]
        n = min(samples, y[0, 0].numel(), t.shape[2])  # y[0, 0]: one channel's positions, 4-D or 3-D
        ys, ts = sample_columns(y, n, generator), sample_columns(t, n, generator).to(y.dtype)
        v = torch.randn(c, min(c, directions), generator=generator, device="cpu").to(y.device, y.dtype)
        v = v / v.norm(dim=0, keepdim=True)  # unit directions, one per column
        py = torch.matmul(v.t(), ys).sort(dim=2).values
        pt = torch.matmul(v.t(), ts).sort(dim=2).values
        d = (py - pt).pow(2).mean(dim=(1, 2))
        d = d if sample_weights is None else d * sample_weights.to(d.dtype)
        total = total + d.mean() / pt.pow(2).mean().clamp_min(1e-8)
    return total

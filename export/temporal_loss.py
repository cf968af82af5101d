"""Training-time temporal stability without a video data set: the net must commute with small warps.

For a content batch x, x' = T(x) is a small random affine warp of x (a few px of translation,
a small rotation and scale) made with a known sampling grid. A temporally stable stylizer
satisfies net(T(x)) ≈ T(net(x)), so the loss is

    mean over valid pixels of || T(net(x)) - net(T(x)) ||^2

where "valid" is where T samples inside the original picture. This is the idea behind the
temporal losses of ReCoNet (Gao et al. 2018) and Gupta et al. 2017, with the optical flow
replaced by a synthetic motion whose flow is exact -- any photo becomes a training pair.

Optionally the second frame also gets fresh Gaussian noise (`noise`, std in [0, 1] units), as a
camera's sensor and a codec give every real frame: a net that turns that noise into texture boils on
a still scene, which the warp alone never shows it (Huang et al. 2017 add noise the same way).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(n: int, height: int, width: int, *, max_shift: float = 4.0, max_rotation: float = 2.0,
                  max_scale: float = 0.03, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, 2, 3) affine matrices for F.affine_grid (normalised coordinates, align_corners=False).

    Translations up to `max_shift` pixels, rotations up to `max_rotation` degrees, scale 1 ± `max_scale`.
    Rotation is done in pixel units so non-square images are not sheared.
    """
    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    a = u(-max_rotation, max_rotation) * (math.pi / 180.0)
    s = 1.0 + u(-max_scale, max_scale)
    tx, ty = u(-max_shift, max_shift), u(-max_shift, max_shift)
    cos, sin = torch.cos(a) * s, torch.sin(a) * s
    # pixel-space matrix [[cos, -sin], [sin, cos]] expressed in normalised coordinates
    r = height / width
    theta = torch.stack([
        torch.stack([cos, -sin * r, tx * 2.0 / width], -1),
        torch.stack([sin / r, cos, ty * 2.0 / height], -1),
    ], 1)
    return theta.to(device)


def warp_grid(theta: torch.Tensor, size: torch.Size | tuple[int, int, int, int]) -> torch.Tensor:
    """The sampling grid of `theta` for images of `size` (N, C, H, W)."""
    return F.affine_grid(theta, list(size), align_corners=False)


def apply_warp(img: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear warp of `img` by `grid` (zeros outside: use `valid_mask` to ignore those pixels)."""
    return F.grid_sample(img, grid.to(img.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def valid_mask(grid: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """(N, 1, H, W) float: 1 where the grid samples at least `margin` px inside the source image."""
    _, h, w, _ = grid.shape
    mx, my = 2.0 * margin / w, 2.0 * margin / h
    ok = (grid[..., 0].abs() <= 1.0 - mx) & (grid[..., 1].abs() <= 1.0 - my)
    return ok.unsqueeze(1).to(grid.dtype)


def temporal_loss(y: torch.Tensor, y_warped_input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """|| warp(y) - y' ||^2 averaged over valid pixels and channels; y = net(x), y' = net(warp(x))."""
    m = valid_mask(grid).to(y.dtype)
    d = (apply_warp(y, grid) - y_warped_input) * m
    return (d * d).sum() / (m.sum() * y.shape[1]).clamp_min(1.0)


def roll_shift(t: torch.Tensor, d: float) -> torch.Tensor:
    """`t` moved right by `d` px, wrapping around: whole pixels exactly (no resampling), fractions by
    linear interpolation. For measuring how a net follows a move, away from the wrapped seam."""
    i = int(d // 1)
    f = d - i
    return (1 - f) * torch.roll(t, i, -1) + f * torch.roll(t, i + 1, -1)


def warped_pair(x: torch.Tensor, generator: torch.Generator | None = None, noise: float = 0.0,
                **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(x' = warp(x) [+ noise], grid) for a batch x: the second frame of a synthetic video pair."""
    n, _, h, w = x.shape
    theta = random_affine(n, h, w, generator=generator, device=x.device, **kw)
    grid = warp_grid(theta, x.shape)
    x2 = apply_warp(x, grid)
    if noise > 0:
        z = torch.randn(x2.shape, generator=generator, dtype=x2.dtype).to(x2.device)
        x2 = (x2 + noise * z).clamp(0.0, 1.0)
    return x2, grid

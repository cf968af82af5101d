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
a still scene, which the warp alone never shows it (Huang et al. 2017 add noise the same way). A real
camera's grain is not white: it is spatially correlated (`noise_blur`, a Gaussian's sigma in px) and
mostly luma (`noise_grey`), and the nets ignore white noise far better than grain (docs/training.md,
"Grain").

Optionally (`sprites`) patches of another photo of the batch are pasted into the second frame, and the
loss skips them and a small margin around them: the rest of the picture must not change when something
appears or moves nearby. The warp alone moves every pixel, so it never asks for that, and a net with a
wide reach redraws a halo of texture around every walking figure of a still camera's clip
(docs/training.md, "Halos"). `moving_sprite_pair` puts the patches in both frames instead and moves them
on their own, so the texture on a moving figure must move with it (docs/training.md, "Patches that move").
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


def temporal_loss(y: torch.Tensor, y_warped_input: torch.Tensor, grid: torch.Tensor,
                  keep: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> torch.Tensor:
    """|| warp(y) - y' ||^2 averaged over valid pixels and channels; y = net(x), y' = net(warp(x)).
    `keep` (N, 1, H, W), optional: a further 0/1 mask of the pixels to compare (paste_sprites').
    `weight` (N,), optional: each sample's factor on its squared differences (the mean's divisor stays
    the pixel count, so all-ones weights give the unweighted loss)."""
    m = valid_mask(grid).to(y.dtype)
    if keep is not None:
        m = m * keep.to(y.dtype)
    d = (apply_warp(y, grid) - y_warped_input) * m
    dd = d * d if weight is None else d * d * weight.to(y.dtype).view(-1, 1, 1, 1)
    return dd.sum() / (m.sum() * y.shape[1]).clamp_min(1.0)


def roll_shift(t: torch.Tensor, d: float) -> torch.Tensor:
    """`t` moved right by `d` px, wrapping around: whole pixels exactly (no resampling), fractions by
    linear interpolation. For measuring how a net follows a move, away from the wrapped seam."""
    i = int(d // 1)
    f = d - i
    return (1 - f) * torch.roll(t, i, -1) + f * torch.roll(t, i + 1, -1)


def warped_pair(x: torch.Tensor, generator: torch.Generator | None = None, noise: float = 0.0,
                noise_blur: float = 0.0, noise_grey: float = 0.0, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(x' = warp(x) [+ noise], grid) for a batch x: the second frame of a synthetic video pair."""
    n, _, h, w = x.shape
    theta = random_affine(n, h, w, generator=generator, device=x.device, **kw)
    grid = warp_grid(theta, x.shape)
    return _add_noise(apply_warp(x, grid), noise, generator, noise_blur, noise_grey), grid


def grain(shape: torch.Size | tuple[int, ...], blur: float, generator: torch.Generator | None = None,
          dtype: torch.dtype = torch.float32, grey: float = 0.0) -> torch.Tensor:
    """Unit-std Gaussian noise of `shape` (N, C, H, W), white (`blur` 0) or blurred by a Gaussian of sigma
    `blur` px and scaled back to unit std, so a noise level means the same whatever its grain.

    `grey` is the share of its variance drawn the same in every channel: a camera's noise is mostly
    luma, while noise drawn per channel has a luma share of 1/3 (luma share = grey + (1 - grey) / 3)."""
    z = torch.randn(shape, generator=generator, dtype=torch.float32 if blur > 0 else dtype)
    if grey > 0:  # drawn after the per-channel part, so grey 0 keeps the same draws
        g = torch.randn((shape[0], 1, *shape[2:]), generator=generator, dtype=z.dtype)
        z = math.sqrt(1 - grey) * z + math.sqrt(grey) * g
    if blur <= 0:
        return z
    r = max(1, math.ceil(3 * blur))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / blur) ** 2)
    k = k / k.sum()
    c = z.shape[1]
    z = F.pad(z, (r, r, r, r), mode="reflect")
    z = F.conv2d(z, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    z = F.conv2d(z, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    z = z / (k * k).sum()  # white noise through a separable kernel keeps sqrt(sum k2d^2) = sum k^2 of its std
    return z.to(dtype)


def _add_noise(x2: torch.Tensor, noise: float, generator: torch.Generator | None, blur: float = 0.0,
               grey: float = 0.0) -> torch.Tensor:
    if noise <= 0:
        return x2
    z = grain(x2.shape, blur, generator, x2.dtype, grey).to(x2.device)
    return (x2 + noise * z).clamp(0.0, 1.0)


def _ellipse(yy: torch.Tensor, xx: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor,
             ry: torch.Tensor, rx: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) bool: inside the ellipses of centres (cy, cx) and semi-axes (ry, rx), one per picture."""
    return ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).unsqueeze(1)


def _uniform(like: torch.Tensor, lo: float, hi: float, generator: torch.Generator | None) -> torch.Tensor:
    """One uniform draw per picture of the batch `like`, shaped (N, 1, 1) to broadcast over (H, W)."""
    n = like.shape[0]
    return (lo + (hi - lo) * torch.rand(n, generator=generator)).to(like.device, like.dtype).view(n, 1, 1)


def _patch_place(like: torch.Tensor, size: tuple[float, float], generator: torch.Generator | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(cy, cx, ry, rx): a random patch's centre anywhere in the frame and its semi-axes, `size` being
    fractions of the short side."""
    _, _, h, w = like.shape
    cy, cx = _uniform(like, 0, h, generator), _uniform(like, 0, w, generator)
    ry = _uniform(like, *size, generator) * min(h, w)
    rx = _uniform(like, *size, generator) * min(h, w)
    return cy, cx, ry, rx


def _patch_content(src: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """`src` rolled by a random offset: what a patch cut at a random place of it shows."""
    _, _, h, w = src.shape
    dy, dx = (int(v) for v in torch.randint(0, 10_000, (2,), generator=generator))
    return torch.roll(src, (dy % h, dx % w), (2, 3))


SPRITE_MARGIN = 2  # px around a pasted patch the loss skips: a conv's own footprint, not a halo


def paste_sprites(x2: torch.Tensor, count: int, generator: torch.Generator | None = None,
                  size: tuple[float, float] = (0.06, 0.25), margin: int = SPRITE_MARGIN
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x2 with `count` elliptic patches of other pictures of the batch pasted in, keep mask).

    Each patch is cut from the batch's next picture at a random place, so it brings its own edges and
    texture, with semi-axes `size` (fractions of the short side) like a figure's; `keep` is 0 on the
    patches dilated by `margin` px, 1 elsewhere, for temporal_loss."""
    n, _, h, w = x2.shape
    dev, dt = x2.device, x2.dtype
    yy = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
    xx = torch.arange(w, device=dev, dtype=dt).view(1, 1, w)
    out = x2
    mask = torch.zeros(n, 1, h, w, device=dev, dtype=dt)
    src = torch.roll(x2, 1, 0)
    for _ in range(count):
        m = _ellipse(yy, xx, *_patch_place(x2, size, generator)).to(dt)
        patch = _patch_content(src, generator)
        out = out * (1 - m) + patch * m
        mask = torch.maximum(mask, m)
    if margin > 0:
        mask = F.max_pool2d(mask, 2 * margin + 1, 1, margin)
    return out, 1 - mask


DEFORM_LATTICE = 6  # control points per side of moving_sprite_pair's bending field


def moving_sprite_pair(x: torch.Tensor, count: int, max_move: float, generator: torch.Generator | None = None,
                       noise: float = 0.0, size: tuple[float, float] = (0.06, 0.25),
                       margin: int = SPRITE_MARGIN, noise_blur: float = 0.0, noise_grey: float = 0.0,
                       deform: float = 0.0, **kw) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frame a, frame b, grid, keep): a pair in which `count` patches of the batch's next picture move on
    their own, up to `max_move` px, over a background that moves by the usual small warp.

    Unlike paste_sprites' patches, which appear in the second frame only and are skipped, these are in
    both frames, so the loss also asks the texture on a moving figure to move with it. `grid` maps every
    pixel of b to where it was in a (the background's warp, or the patch's own move); `keep` is 0 where
    that is wrong -- background a patch uncovered, a patch's part hidden by a later one in a -- and on
    a `margin` px band round every edge between regions, where the net's bilinear comparison mixes them.
    `deform` (px, about): each patch's move also bends by a smooth random field, different from point to
    point, as a walking figure's limbs and folds do (tried for great_wave, which redraws its texture
    on real walkers; it moved that style along the same trade as other levers: docs/training.md,
    "Candidate r11w").
    `kw` go to random_affine (the background's move)."""
    n, _, h, w = x.shape
    dev, dt = x.device, x.dtype
    theta = random_affine(n, h, w, generator=generator, device=dev, **kw)
    grid = warp_grid(theta, x.shape).to(dt)
    xa, xb = x, apply_warp(x, grid)
    yy = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
    xx = torch.arange(w, device=dev, dtype=dt).view(1, 1, w)
    la = torch.zeros(n, 1, h, w, device=dev, dtype=dt)  # region labels: 0 background, k patch k (later on top)
    lb = torch.zeros_like(la)
    src = torch.roll(x, 1, 0)
    still = warp_grid(torch.eye(2, 3, device=dev, dtype=dt).expand(n, 2, 3), x.shape).to(dt)  # identity grid
    for k in range(1, count + 1):
        cy, cx, ry, rx = _patch_place(x, size, generator)
        r = _uniform(x, 0, 1, generator).sqrt() * max_move  # uniform over the disc of radius max_move
        phi = _uniform(x, 0, 2 * math.pi, generator)
        dy, dx = r * torch.sin(phi), r * torch.cos(phi)
        if deform > 0:  # control points on a coarse lattice, bicubic in between: smooth, not rigid
            field = (torch.rand(n, 2, DEFORM_LATTICE, DEFORM_LATTICE, generator=generator) * 2 - 1) * deform
            field = F.interpolate(field.to(dev, dt), size=(h, w), mode="bicubic", align_corners=True)
            dy, dx = dy + field[:, 0], dx + field[:, 1]  # (N, H, W); rigid: (N, 1, 1), broadcast below
        ma = _ellipse(yy, xx, cy, cx, ry, rx)
        mb = _ellipse(yy - dy, xx - dx, cy, cx, ry, rx)  # where b's pixel came from lies in the patch
        patch = _patch_content(src, generator)
        # b's pixel p shows the patch's pixel p - d(p) of frame a, in grid units
        tgrid = still - torch.stack([dx * 2.0 / w, dy * 2.0 / h], -1)
        xa = torch.where(ma, patch, xa)
        xb = torch.where(mb, apply_warp(patch, tgrid), xb)
        grid = torch.where(mb.permute(0, 2, 3, 1), tgrid, grid)
        la = torch.where(ma, float(k), la)
        lb = torch.where(mb, float(k), lb)
    xb = _add_noise(xb, noise, generator, noise_blur, noise_grey)
    came_from = F.grid_sample(la, grid, mode="nearest", padding_mode="border", align_corners=False)
    keep = (came_from == lb).to(dt)
    if margin > 0:
        k = 2 * margin + 1
        edge = (F.max_pool2d(lb, k, 1, margin) != -F.max_pool2d(-lb, k, 1, margin)).to(dt)
        keep = keep * (1 - edge)
        keep = 1 - F.max_pool2d(1 - keep, k, 1, margin)
    return xa, xb, grid, keep

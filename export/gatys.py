"""Gatys et al. image optimisation, with the colour, spatial and scale controls of
"Controlling Perceptual Factors in Neural Style Transfer" (Gatys et al. 2017).

Slow (hundreds of VGG passes per image) but needs no training: this is the
offline keyframe tool, and the reference the feed-forward nets are judged by.
Works on tensors only; file and video handling live in ``export.keyframes``.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from stylecam.realtime.progress import progress as progress_bar

from .errors import UserError
from .losses import CONTENT_LAYERS, STYLE_LAYERS_GRAM, content_loss, gram_matrix, gram_style_loss, tv_loss
from .vgg import VGG19Features, canonical

COLOR_SPACES = ("yiq", "ycbcr", "lab")
PRESERVE_COLOR = ("none", "luminance", "histogram")
HIST_METHODS = ("cholesky", "eigen")
OPTIMIZERS = ("lbfgs", "adam")
# Scale control: layers whose Gram matrices carry fine-scale texture (Gatys 2017, sec. 5).
FINE_LAYERS = ("relu1_1", "relu2_1")

# Linear luma/chroma transforms (rows: Y, then two chroma channels). YIQ is FCC NTSC;
# YCbCr is BT.601 full range without offsets (offsets cancel on recombination).
_YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))
_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
# sRGB (D65) linear RGB -> XYZ, and the D65 white point.
_RGB2XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
_WHITE = (0.95047, 1.0, 1.08883)


@dataclass
class Style:
    """One style source. ``mask`` (content-sized, [0,1]) says where in the output it applies;
    ``style_mask`` which part of the style image to take it from; ``layers`` restricts it to a
    subset of the style layers (scale control)."""

    image: torch.Tensor  # (1,3,H,W) RGB in [0,1]
    weight: float = 1.0
    mask: torch.Tensor | None = None  # (1,1,H,W) or (H,W)
    style_mask: torch.Tensor | None = None
    layers: tuple[str, ...] | None = None
    name: str = "style"


@dataclass
class GatysConfig:
    content_layers: Sequence[str] = CONTENT_LAYERS
    style_layers: Sequence[str] = STYLE_LAYERS_GRAM
    style_layer_weights: Sequence[float] | None = None  # default: 1 each
    # Relative to the shared losses' scales (feature MSE on Caffe 0-255 input; squared Frobenius
    # distance of C*H*W-normalised Grams, ~1e9-1e11 at the start): tuned on photo/painting pairs.
    content_weight: float = 1.0
    style_weight: float = 1e-3
    tv_weight: float = 1e5
    init: str | torch.Tensor = "content"  # "content", "noise" or an RGB image tensor
    optimizer: str = "lbfgs"
    lr: float | None = None  # default: 1.0 for L-BFGS, 0.02 for Adam
    steps: int | Sequence[int] = 300  # per scale; a sequence gives one count per scale
    max_size: int = 512  # long side cap when ``scales`` is not given
    scales: Sequence[int] | None = None  # long sides, coarse to fine, e.g. (256, 512)
    style_scale: float = 1.0  # style long side relative to the working content long side
    seed: int | None = 0
    device: str = "auto"
    preserve_color: str = "none"
    color_space: str = "yiq"
    hist_method: str = "cholesky"
    mask_resize: bool = False
    save_every: int = 0  # call on_snapshot every K steps (0: never)


@dataclass
class GatysResult:
    image: torch.Tensor  # (1,3,H,W) RGB in [0,1], on the CPU
    history: list[dict[str, float]] = field(default_factory=list)  # last entry: the result's losses


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda") from e


def resize_long(img: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize so the long side is ``long_side`` (aspect kept), antialiased when shrinking."""
    h, w = img.shape[-2:]
    s = long_side / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if size == (h, w):
        return img
    return F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=s < 1)


# ---------------------------------------------------------------- colour control

def _matrix(rows, ref: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=ref.dtype, device=ref.device)


def _apply3(m: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", m, img)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    d = 6 / 29
    return torch.where(t > d**3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * d * d) + 4 / 29)


def _lab_finv(t: torch.Tensor) -> torch.Tensor:
    d = 6 / 29
    return torch.where(t > d, t**3, 3 * d * d * (t - 4 / 29))


def to_luma_chroma(rgb: torch.Tensor, space: str = "yiq") -> tuple[torch.Tensor, torch.Tensor]:
    """Split RGB [0,1] into luminance (B,1,H,W), roughly [0,1], and two chroma channels."""
    if space in ("yiq", "ycbcr"):
        out = _apply3(_matrix(_YIQ if space == "yiq" else _YCBCR, rgb), rgb)
        return out[:, :1], out[:, 1:]
    if space == "lab":
        c = rgb.clamp(0, 1)
        lin = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        xyz = _apply3(_matrix(_RGB2XYZ, rgb), lin) / torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        f = _lab_f(xyz)
        lum = (116 * f[:, 1:2] - 16) / 100
        chroma = torch.cat([500 * (f[:, :1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:])], dim=1)
        return lum, chroma
    raise UserError(f"unknown colour space {space!r}; use one of {', '.join(COLOR_SPACES)}")


def from_luma_chroma(lum: torch.Tensor, chroma: torch.Tensor, space: str = "yiq") -> torch.Tensor:
    """Inverse of :func:`to_luma_chroma`; clamps to [0,1]."""
    if space in ("yiq", "ycbcr"):
        m = torch.linalg.inv(_matrix(_YIQ if space == "yiq" else _YCBCR, lum).double()).to(lum.dtype)
        return _apply3(m, torch.cat([lum, chroma], dim=1)).clamp(0, 1)
    if space == "lab":
        fy = (lum * 100 + 16) / 116
        f = torch.cat([fy + chroma[:, :1] / 500, fy, fy - chroma[:, 1:] / 200], dim=1)
        xyz = _lab_finv(f) * torch.tensor(_WHITE, dtype=lum.dtype, device=lum.device).view(1, 3, 1, 1)
        lin = _apply3(torch.linalg.inv(_matrix(_RGB2XYZ, lum).double()).to(lum.dtype), xyz).clamp(0, 1)
        return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)
    raise UserError(f"unknown colour space {space!r}; use one of {', '.join(COLOR_SPACES)}")


def match_luminance(style_lum: torch.Tensor, content_lum: torch.Tensor) -> torch.Tensor:
    """Shift/scale the style's luminance to the content's mean and std, so the optimiser
    transfers texture and not the style's overall brightness or contrast."""
    ms, ss = style_lum.mean(), style_lum.std(unbiased=False).clamp_min(1e-6)
    mc, sc = content_lum.mean(), content_lum.std(unbiased=False)
    return (style_lum - ms) * (sc / ss) + mc


def _mean_cov(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = img.reshape(3, -1).double()
    mu = x.mean(dim=1, keepdim=True)
    xc = x - mu
    return mu, xc @ xc.T / x.shape[1]


def _sym_pow(cov: torch.Tensor, p: float) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp_min(1e-12) ** p) @ vecs.T


def match_color(style: torch.Tensor, content: torch.Tensor, method: str = "cholesky",
                clip: bool = True, eps: float = 1e-5) -> torch.Tensor:
    """Linearly map the style's RGB so its mean and covariance equal the content's.

    ``cholesky``: A = L_c L_s^-1; ``eigen`` (the Image Analogies variant):
    A = Sigma_c^(1/2) Sigma_s^(-1/2). ``eps`` keeps flat images invertible.
    """
    if method not in HIST_METHODS:
        raise UserError(f"unknown colour-matching method {method!r}; use one of {', '.join(HIST_METHODS)}")
    if style.shape[0] != 1 or content.shape[0] != 1:
        raise ValueError("match_color works on one image at a time")
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    eye = torch.eye(3, dtype=cov_s.dtype, device=cov_s.device) * eps
    cov_s, cov_c = cov_s + eye, cov_c + eye
    if method == "cholesky":
        a = torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    else:
        a = _sym_pow(cov_c, 0.5) @ _sym_pow(cov_s, -0.5)
    x = style.reshape(3, -1).double()
    y = (a @ (x - mu_s) + mu_c).to(style.dtype).reshape(style.shape)
    return y.clamp(0, 1) if clip else y


# ---------------------------------------------------------------- style sources

def fine_coarse_styles(fine: torch.Tensor, coarse: torch.Tensor, style_layers: Sequence[str] = STYLE_LAYERS_GRAM,
                       fine_layers: Sequence[str] = FINE_LAYERS) -> list[Style]:
    """Fine-scale texture from one image, coarse structure from another (Gatys 2017, scale control)."""
    fine_set = {canonical(n) for n in fine_layers}
    layers = [canonical(n) for n in style_layers]
    f = tuple(n for n in layers if n in fine_set)
    c = tuple(n for n in layers if n not in fine_set)
    if not f or not c:
        raise UserError(f"fine/coarse split needs style layers on both sides of {sorted(fine_set)}; got {layers}")
    return [Style(fine, layers=f, name="fine style"), Style(coarse, layers=c, name="coarse style")]


def _as_mask(m: torch.Tensor) -> torch.Tensor:
    m = m.float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.shape[:2] != (1, 1):
        raise UserError(f"a mask must be one grayscale image; got shape {tuple(m.shape)}")
    return m


def _resize_to(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    shrink = size[0] < m.shape[-2] or size[1] < m.shape[-1]
    return F.interpolate(m, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _check(content: torch.Tensor, styles: Sequence[Style], cfg: GatysConfig) -> None:
    if content.dim() != 4 or content.shape[:2] != (1, 3):
        raise UserError(f"content must be one RGB image (1,3,H,W); got shape {tuple(content.shape)}")
    if not styles:
        raise UserError("give at least one style image")
    for opt, val, allowed in (("preserve_color", cfg.preserve_color, PRESERVE_COLOR),
                              ("color_space", cfg.color_space, COLOR_SPACES),
                              ("hist_method", cfg.hist_method, HIST_METHODS),
                              ("optimizer", cfg.optimizer, OPTIMIZERS)):
        if val not in allowed:
            raise UserError(f"unknown {opt} {val!r}; use one of {', '.join(allowed)}")
    if isinstance(cfg.init, str) and cfg.init not in ("content", "noise"):
        raise UserError(f"unknown init {cfg.init!r}; use content, noise or an image")
    if cfg.style_layer_weights is not None and len(cfg.style_layer_weights) != len(cfg.style_layers):
        raise UserError(f"{len(cfg.style_layer_weights)} style layer weights for {len(cfg.style_layers)} style layers")
    h, w = content.shape[-2:]
    for s in styles:
        if s.image.dim() != 4 or s.image.shape[:2] != (1, 3):
            raise UserError(f"{s.name} must be one RGB image (1,3,H,W); got shape {tuple(s.image.shape)}")
        if s.weight < 0:
            raise UserError(f"{s.name} has a negative weight {s.weight}")
        if s.mask is not None:
            mh, mw = _as_mask(s.mask).shape[-2:]
            if (mh, mw) != (h, w) and not cfg.mask_resize:
                raise UserError(f"mask for {s.name} is {mw}x{mh} but the content image is {w}x{h}; "
                                "give a mask of the content's size or pass --mask-resize")
        if s.style_mask is not None:
            mh, mw = _as_mask(s.style_mask).shape[-2:]
            sh, sw = s.image.shape[-2:]
            if (mh, mw) != (sh, sw) and not cfg.mask_resize:
                raise UserError(f"style mask for {s.name} is {mw}x{mh} but the style image is {sw}x{sh}; "
                                "give a mask of the style's size or pass --mask-resize")
    if sum(s.weight for s in styles) <= 0:
        raise UserError("style weights sum to zero")
    sizes = list(cfg.scales) if cfg.scales else [cfg.max_size]
    if any(int(x) < 16 for x in sizes):
        raise UserError(f"image sizes must be at least 16 px; got {sizes}")


def _steps_per_scale(cfg: GatysConfig, n: int) -> list[int]:
    if isinstance(cfg.steps, int):
        return [cfg.steps] * n
    steps = [int(s) for s in cfg.steps]
    if len(steps) != n:
        raise UserError(f"{len(steps)} step counts for {n} scales; give one count or one per scale")
    return steps


@contextlib.contextmanager
def _repeatable(seed: int | None) -> Iterator[None]:
    """Seeded, deterministic kernels for one run; the caller's global settings come back after."""
    if seed is None:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]


# ---------------------------------------------------------------- optimisation

@functools.lru_cache(maxsize=4)
def _vgg(layers: tuple[str, ...], device: str) -> VGG19Features:
    """Frozen, so one instance per layer set serves every keyframe of a run."""
    return VGG19Features(layers).to(device)


class _Objective:
    """Targets for one scale: content features and per-style Gram targets."""

    def __init__(self, vgg: VGG19Features, content_in: torch.Tensor, style_ins: list[torch.Tensor],
                 styles: Sequence[Style], content_layers: list[str], style_layers: list[str],
                 layer_w: dict[str, float]):
        self.vgg = vgg
        self.content_layers, self.style_layers, self.layer_w = content_layers, style_layers, layer_w
        size = content_in.shape[-2:]
        with torch.no_grad():
            cf = vgg(content_in, content_layers)
            self.content_targets = {l: cf[l].detach() for l in content_layers}
            grams: list[dict[str, torch.Tensor]] = []
            for s, img in zip(styles, style_ins):
                layers = list(s.layers) if s.layers else style_layers
                sf = vgg(img, layers)
                g = {}
                for l in layers:
                    sm = None if s.style_mask is None else _resize_to(_as_mask(s.style_mask).to(img), sf[l].shape[-2:])
                    g[l] = gram_matrix(sf[l], sm)
                grams.append(g)
        self.masked = any(s.mask is not None for s in styles)
        if self.masked:
            # Guided Gram: each style owns its region; an unmasked style owns the whole image.
            self.terms = []
            for s, g in zip(styles, grams):
                m = torch.ones(1, 1, *size) if s.mask is None else _resize_to(_as_mask(s.mask), tuple(size))
                self.terms.append((s.weight, m.to(content_in), g))
        else:
            # Mixed target per layer: weighted Gram average over the styles that cover it.
            self.mixed: dict[str, torch.Tensor] = {}
            for l in style_layers:
                pairs = [(s.weight, g[l]) for s, g in zip(styles, grams) if l in g]
                if not pairs:
                    continue
                wsum = sum(w for w, _ in pairs)
                self.mixed[l] = sum(w * gl for w, gl in pairs) / wsum
        self._mask_cache: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}

    def _layer_mask(self, i: int, m: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        key = (i, hw)
        if key not in self._mask_cache:
            self._mask_cache[key] = _resize_to(m, hw)
        return self._mask_cache[key]

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.vgg(x)
        c = content_loss(feats, self.content_targets, self.content_layers)
        if self.masked:
            s = x.new_zeros(())
            for i, (w, m, g) in enumerate(self.terms):
                for l, target in g.items():
                    f = feats[l]
                    gm = gram_matrix(f, self._layer_mask(i, m, tuple(f.shape[-2:])))
                    s = s + w * self.layer_w[l] * ((gm - target) ** 2).sum()
        else:
            layers = list(self.mixed)
            s = gram_style_loss(feats, self.mixed, layers, [self.layer_w[l] for l in layers])
        t = tv_loss(x)
        return c, s, t


def stylize(content: torch.Tensor, styles: Sequence[Style], cfg: GatysConfig | None = None,
            on_snapshot: Callable[[int, torch.Tensor], None] | None = None,
            progress: bool = True) -> GatysResult:
    """Optimise an image whose VGG features match ``content`` and whose Gram matrices match ``styles``.

    ``content`` is (1,3,H,W) RGB in [0,1]; the result has the size of the last scale.
    ``on_snapshot(step, rgb)`` gets the current image every ``cfg.save_every`` steps.
    """
    cfg = cfg or GatysConfig()
    _check(content, styles, cfg)
    content_layers, style_layers, layer_w, styles = _layers(styles, cfg)
    device = resolve_device(cfg.device)
    sizes = [int(x) for x in cfg.scales] if cfg.scales else [min(cfg.max_size, max(content.shape[-2:]))]
    steps = _steps_per_scale(cfg, len(sizes))
    content = content.float().to(device)
    if cfg.preserve_color == "histogram":
        styles = [Style(match_color(s.image.float().to(device), content, cfg.hist_method), s.weight, s.mask,
                        s.style_mask, s.layers, s.name) for s in styles]
    vgg = _vgg(tuple(dict.fromkeys(content_layers + style_layers)), str(device))
    with _repeatable(cfg.seed), progress_bar(sum(steps), desc="gatys", unit="steps", disable=not progress) as bar:
        run = _Optimisation(cfg, bar, on_snapshot)
        for size, n_steps in zip(sizes, steps):
            c_img, c_in, s_ins = run.scale_inputs(content, styles, size, device)
            objective = _Objective(vgg, c_in, s_ins, styles, content_layers, style_layers, layer_w)
            run.optimise(objective, c_img, c_in, size, n_steps)
    assert run.x is not None
    return GatysResult(image=run.rgb(run.x).cpu(), history=run.history)


def _layers(styles: Sequence[Style], cfg: GatysConfig
            ) -> tuple[list[str], list[str], dict[str, float], list[Style]]:
    """(content layers, style layers, style layer weights, styles with canonical layer names), checked."""
    content_layers = [canonical(n) for n in cfg.content_layers]
    style_layers = [canonical(n) for n in cfg.style_layers]
    if not content_layers or not style_layers:
        raise UserError("need at least one content layer and one style layer")
    for s in styles:
        if s.layers:
            extra = [canonical(n) for n in s.layers if canonical(n) not in style_layers]
            if extra:
                raise UserError(f"{s.name} uses layers {extra} that are not style layers {style_layers}")
    weights = list(cfg.style_layer_weights) if cfg.style_layer_weights is not None else [1.0] * len(style_layers)
    styles = [Style(s.image, s.weight, s.mask, s.style_mask,
                    tuple(canonical(n) for n in s.layers) if s.layers else None, s.name) for s in styles]
    return content_layers, style_layers, dict(zip(style_layers, weights)), styles


class _Optimisation:
    """The image being optimised across scales, its loss history, step count and progress bar."""

    def __init__(self, cfg: GatysConfig, bar: Any, on_snapshot: Callable[[int, torch.Tensor], None] | None) -> None:
        self.cfg, self.bar, self.on_snapshot = cfg, bar, on_snapshot
        self.luminance = cfg.preserve_color == "luminance"
        self.lr = cfg.lr if cfg.lr is not None else (1.0 if cfg.optimizer == "lbfgs" else 0.02)
        self.history: list[dict[str, float]] = []
        self.x: torch.Tensor | None = None
        self.chroma: torch.Tensor | None = None
        self.step = 0

    def rgb(self, img: torch.Tensor) -> torch.Tensor:
        if self.luminance:
            return from_luma_chroma(img.detach(), self.chroma, self.cfg.color_space)
        return img.detach().clamp(0, 1)

    def scale_inputs(self, content: torch.Tensor, styles: Sequence[Style], size: int, device: torch.device
                     ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(content at this scale, the net's content input, its style inputs): luminance only when
        preserving colour, with the styles' luminance matched to the content's."""
        cfg = self.cfg
        c_img = resize_long(content, size)
        s_imgs = [resize_long(s.image.float().to(device), max(16, round(size * cfg.style_scale))) for s in styles]
        if not self.luminance:
            return c_img, c_img, s_imgs
        c_lum, self.chroma = to_luma_chroma(c_img, cfg.color_space)
        s_imgs = [match_luminance(to_luma_chroma(im, cfg.color_space)[0], c_lum) for im in s_imgs]
        return c_img, c_lum.expand(-1, 3, -1, -1), [im.expand(-1, 3, -1, -1) for im in s_imgs]

    def _snapshot(self) -> None:
        if self.on_snapshot is not None and self.cfg.save_every > 0 and self.step % self.cfg.save_every == 0:
            self.on_snapshot(self.step, self.rgb(self.x).cpu())

    def _postfix(self, last: dict[str, float]) -> None:
        self.bar.set_postfix(content=f"{last['content']:.3g}", style=f"{last['style']:.3g}",
                             tv=f"{last['tv']:.3g}", refresh=False)

    def optimise(self, objective: _Objective, c_img: torch.Tensor, c_in: torch.Tensor, size: int,
                 n_steps: int) -> None:
        """One scale: start from the previous scale's image (or the initial one), run the optimiser."""
        cfg, luminance = self.cfg, self.luminance
        if self.x is None:
            x = _initial(cfg, c_img, c_in, luminance)
        else:
            x = F.interpolate(self.x.detach(), size=c_img.shape[-2:], mode="bilinear", align_corners=False)
        x = self.x = x.detach().clone().requires_grad_(True)
        self.bar.set_description(f"{c_img.shape[-1]}x{c_img.shape[-2]}")
        last: dict[str, float] = {}
        # The optimiser sees the loss divided by its starting value: O(1) losses and gradients
        # keep L-BFGS's first step and curvature pairs sane whatever the weights' scale.
        norm = max(_evaluate(objective, x, cfg, luminance)["total"], 1e-12)

        def closure() -> torch.Tensor:
            x.grad = None
            c, s, t = objective(x.expand(-1, 3, -1, -1) if luminance else x)
            total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * t
            (total / norm).backward()
            last.update(content=c.item(), style=s.item(), tv=t.item(), total=total.item())
            return total.detach() / norm

        if cfg.optimizer == "lbfgs":
            good = self._lbfgs(closure, last, size, n_steps)
        else:
            good = self._adam(closure, last, size, n_steps)
        final = _evaluate(objective, x, cfg, luminance)
        if not math.isfinite(final["total"]):  # the very last step overshot
            with torch.no_grad():
                x.copy_(good)
            final = _evaluate(objective, x, cfg, luminance)
        self.history.append({"scale": float(size), "step": float(n_steps), **final})

    def _lbfgs(self, closure: Callable[[], torch.Tensor], last: dict[str, float], size: int,
               n_steps: int) -> torch.Tensor:
        """One L-BFGS run over the whole scale: its curvature history and strong-Wolfe line search
        stay intact (re-entering step() once per iteration stalled on real photos). A step is one
        L-BFGS iteration (a line search may evaluate the loss 1-3 times). Returns the start image,
        the fallback should the last step overshoot."""
        x = self.x
        good = x.detach().clone()
        done = 0
        pending: dict[str, float] = {}  # losses where the previous iteration ended
        opt = torch.optim.LBFGS([x], lr=self.lr, max_iter=n_steps, max_eval=2 * n_steps + 5,
                                history_size=100, line_search_fn="strong_wolfe",
                                tolerance_grad=0.0, tolerance_change=0.0)

        def lbfgs_closure() -> torch.Tensor:
            nonlocal done
            it = min(n_steps, opt.state[x].get("n_iter", 0)) if opt.state else 0
            if it > done:  # a new iteration starts: the previous one ended at ``pending``
                if pending and math.isfinite(pending["total"]):
                    self.history.append({"scale": float(size), "step": float(done), **pending})
                self.bar.update(it - done)
                self.step += it - done
                done = it
                self._snapshot()
            loss = closure()
            pending.update(last)
            self._postfix(last)
            return loss

        if n_steps > 0:
            opt.step(lbfgs_closure)
        self.bar.update(n_steps - done)  # a run that converged early
        self.step += n_steps - done
        return good

    def _adam(self, closure: Callable[[], torch.Tensor], last: dict[str, float], size: int,
              n_steps: int) -> torch.Tensor:
        """Adam, restarted from the last good image with half the step size whenever the loss
        diverges; returns that last good image."""
        x = self.x
        good = x.detach().clone()  # latest iterate with a finite loss
        lr = self.lr
        opt = torch.optim.Adam([x], lr=lr)
        for i in range(n_steps):
            before = x.detach().clone()
            opt.step(closure)  # one loss evaluation, at ``before``
            self.step += 1
            self.bar.update(1)
            if not math.isfinite(last["total"]):
                lr *= 0.5
                with torch.no_grad():
                    x.copy_(good)
                opt = torch.optim.Adam([x], lr=lr)
                self.bar.write(f"stylecam: optimiser diverged at step {i}; restarting it with lr={lr:g}",
                               file=sys.stderr)
                continue
            good = before
            self.history.append({"scale": float(size), "step": float(i), **last})
            self._postfix(last)
            self._snapshot()
        return good


@torch.no_grad()
def _evaluate(objective: _Objective, x: torch.Tensor, cfg: GatysConfig, luminance: bool) -> dict[str, float]:
    """Losses of the image as it stands (the history's last entry per scale: what is returned)."""
    c, s, t = objective(x.expand(-1, 3, -1, -1) if luminance else x)
    total = cfg.content_weight * c + cfg.style_weight * s + cfg.tv_weight * t
    return {"content": c.item(), "style": s.item(), "tv": t.item(), "total": total.item()}


def _initial(cfg: GatysConfig, c_img: torch.Tensor, c_in: torch.Tensor, luminance: bool) -> torch.Tensor:
    channels = 1 if luminance else 3
    if isinstance(cfg.init, torch.Tensor):
        img = cfg.init.float().to(c_img.device)
        if img.dim() != 4 or img.shape[:2] != (1, 3):
            raise UserError(f"init image must be one RGB image (1,3,H,W); got shape {tuple(img.shape)}")
        img = _resize_to(img, tuple(c_img.shape[-2:]))
        return to_luma_chroma(img, cfg.color_space)[0] if luminance else img
    if cfg.init == "noise":
        g = None if cfg.seed is None else torch.Generator(device="cpu").manual_seed(cfg.seed)
        return torch.rand(1, channels, *c_img.shape[-2:], generator=g).to(c_img.device)
    return c_in[:, :channels].clone()


__all__ = ["Style", "GatysConfig", "GatysResult", "stylize", "match_color", "match_luminance", "to_luma_chroma",
           "from_luma_chroma", "fine_coarse_styles", "resize_long", "resolve_device", "FINE_LAYERS"]

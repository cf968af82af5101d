"""The style-transfer networks: Johnson feed-forward, its CIN multi-style form, a
CPU real-time variant, and the AdaIN encoder/decoder.

All image-producing nets take RGB in [0, 1] (N,3,H,W) and return the same.
Reflection padding and nearest-upsample + conv by default: zero padding leaves dark borders in a
net trained with reflection, and transposed convs leave checkerboards. `NetConfig.padding = "zeros"`
is for fine-tuning the CPU tier: the padding then lives inside onnxruntime's convs instead of a
separate Pad pass over every tensor (about a tenth of the net's time at 640x360), and the
fine-tune teaches the net its borders.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import mean_std
from .net_options import ANTIALIAS, PADDINGS, UPSAMPLES
from .vgg import VGG19Features


class NormTap:
    """Export-time stand-in for the per-picture statistics of every normalisation in a net.

    A huge picture runs in tiles (realtime/tiles.py), and each tile normalised on its own statistics
    comes out in its own tone. The tile graph (onnx_export) routes every normalisation through a tap:
    it reports the statistics it saw (`seen`, to be pooled over the whole picture) and uses
    `mix` * given + (1 - mix) * seen, `given` laid out as [means of all layers | variances of all layers].
    """

    def __init__(self, given: torch.Tensor | None = None, mix: torch.Tensor | None = None, size: int = 0):
        self.given, self.mix, self.size = given, mix, size
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._offset = 0

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (mean, variance) of x, (B, C, 1, 1), as the net should use them."""
        mean = x.mean((2, 3), keepdim=True)
        var = (x - mean).square().mean((2, 3), keepdim=True)
        self.seen.append((mean, var))
        c = int(x.shape[1])
        o, self._offset = self._offset, self._offset + c
        if self.given is None or self.mix is None:
            return mean, var
        given, mix = self.given.to(x.dtype), self.mix.to(x.dtype)
        gm = given[:, o:o + c, None, None]
        gv = given[:, self.size + o:self.size + o + c, None, None]
        return mean + mix * (gm - mean), var + mix * (gv - var)

    def stats(self) -> torch.Tensor:
        """What the net saw, (B, 2K): the layout `given` takes."""
        return torch.cat([torch.cat([m.flatten(1) for m, _ in self.seen], 1),
                          torch.cat([v.flatten(1) for _, v in self.seen], 1)], 1)


def set_norm_tap(net: nn.Module, tap: NormTap | None) -> None:
    """Route every normalisation of `net` through `tap` (None: back to the plain, fused form)."""
    for m in net.modules():
        if isinstance(m, (CondInstanceNorm, AdaINNet)):
            m.tap = tap


class CondInstanceNorm(nn.Module):
    """Instance norm whose gamma/beta are rows of (S, C) tables, mixed by style weights.

    With S == 1 and weights fixed to [1] this is a plain affine instance norm, so
    one class serves both the single-style and the CIN nets.
    """

    def __init__(self, channels: int, n_styles: int = 1):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n_styles, channels))
        self.beta = nn.Parameter(torch.zeros(n_styles, channels))
        self.tap: NormTap | None = None

    def forward(self, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        if self.tap is None:
            x = F.instance_norm(x, eps=1e-5)
        else:
            mean, var = self.tap(x)
            x = (x - mean) * torch.rsqrt(var + 1e-5)
        if w is None:  # single-style net
            g, b = self.gamma[0].view(1, -1, 1, 1), self.beta[0].view(1, -1, 1, 1)
        else:
            g = (w @ self.gamma)[:, :, None, None]
            b = (w @ self.beta)[:, :, None, None]
        return x * g + b


class Blur(nn.Module):
    """A fixed 3x3 binomial low-pass per channel (zero padding, same size; no weights to train).

    Before a stride-2 conv it stops what lies above the new Nyquist frequency from folding back
    (Zhang 2019, "Making convolutional networks shift-invariant again"): without it the fast net's
    texture is tied to its 4-px stride grid, so a 1-2 px move of the picture redraws it (measured on
    release 8: 17x the error of a 4 px move), and that is where real clips flicker.
    """

    def __init__(self, channels: int):
        super().__init__()
        b = torch.tensor([1.0, 2.0, 1.0])
        k = (b[:, None] * b[None, :]) / 16.0
        self.register_buffer("kernel", k.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        return F.conv2d(x, self.kernel.to(x.dtype), padding=1, groups=x.shape[1])


class ConvNorm(nn.Module):
    """[nearest upsample] -> [blur] -> reflection pad -> conv -> (C)IN -> [ReLU]."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, n_styles: int = 1,
                 upsample: int = 1, relu: bool = True, norm: bool = True, groups: int = 1, blur: bool = False):
        super().__init__()
        self.upsample = upsample
        self.blur = Blur(cin) if blur else None
        self.pad = nn.ReflectionPad2d(k // 2) if k > 1 else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, k, stride, groups=groups)
        self.norm = CondInstanceNorm(cout, n_styles) if norm else None
        self.relu = relu

    def zero_padding(self) -> None:
        """Pad with zeros inside the conv (same weights, same output size; borders differ)."""
        if isinstance(self.pad, nn.ReflectionPad2d):
            k = self.conv.kernel_size[0]
            self.pad = nn.Identity()
            self.conv.padding = (k // 2, k // 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        if self.blur is not None:
            x = self.blur(x)
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x, w)
        return F.relu(x) if self.relu else x


class PixelShuffle(nn.Module):
    def __init__(self, r: int):
        super().__init__()
        self.r = r

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        return F.pixel_shuffle(x, self.r)


class Bilinear2(nn.Module):
    """x2 bilinear upsampling (no weights): every output pixel drawn by the same rule, whatever its
    phase on the coarse grid, so a picture moved by a pixel moves its output instead of redrawing it."""

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _icnr(conv: nn.Conv2d, cout: int) -> None:
    """ICNR init (Aitken et al. 2017) of a conv feeding depth-to-space: its 4 sub-pixel filters per output
    channel start equal, so the step starts as nearest upsampling (no checkerboard)."""
    with torch.no_grad():
        w = conv.weight.view(cout, 4, *conv.weight.shape[1:])
        w.copy_(w[:, :1].expand_as(w).clone())
        conv.bias.view(cout, 4).copy_(conv.bias.view(cout, 4)[:, :1].expand(cout, 4).clone())


class SubPixelUp(nn.Module):
    """x2 upsampling that does its work at the low resolution: a 1x1 conv to 4*cout channels,
    depth-to-space, then (C)IN + ReLU. The nearest-upsample + 3x3 conv it replaces cost a
    quarter of the CPU tier's frame time at 640x360 (the conv ran at the high resolution).
    `bilinear`: a 1x1 conv to cout channels, then bilinear x2 (one filter for all four sub-pixels)."""

    def __init__(self, cin: int, cout: int, n_styles: int, bilinear: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout if bilinear else 4 * cout, 1)
        if not bilinear:
            _icnr(self.conv, cout)
        self.up = Bilinear2() if bilinear else PixelShuffle(2)  # no weights: the state's keys are the same
        self.norm = CondInstanceNorm(cout, n_styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.norm(self.up(self.conv(x)), w))


class ResBlock(nn.Module):
    def __init__(self, c: int, n_styles: int, separable: bool):
        super().__init__()
        if separable:  # depthwise 3x3 + pointwise 1x1: ~9x cheaper at the same width
            self.a = nn.ModuleList([ConvNorm(c, c, 3, groups=c, norm=False, relu=False), ConvNorm(c, c, 1, n_styles=n_styles)])
            self.b = nn.ModuleList([ConvNorm(c, c, 3, groups=c, norm=False, relu=False),
                                    ConvNorm(c, c, 1, n_styles=n_styles, relu=False)])
        else:
            self.a = nn.ModuleList([ConvNorm(c, c, 3, n_styles=n_styles)])
            self.b = nn.ModuleList([ConvNorm(c, c, 3, n_styles=n_styles, relu=False)])

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        y = x
        for m in (*self.a, *self.b):
            y = m(y, w)
        return x + y


@dataclass
class NetConfig:
    """Everything needed to rebuild a transformer net from a checkpoint."""
    arch: str = "johnson"          # johnson | fast
    n_styles: int = 1              # >1 makes it a CIN net
    width: float = 1.0             # channel multiplier
    n_res: int = 5
    widths: list[int] = field(default_factory=list)  # fast arch: [c_half, c_quarter]
    shuffle_out: bool = False      # fast arch: last conv at 1/2 res + depth-to-space
    subpixel_up: bool = False      # fast arch: 1/4 -> 1/2 by 1x1 conv + depth-to-space (SubPixelUp)
    padding: str = "reflect"       # reflect | zeros (see the module docstring)
    antialias: str = "none"        # fast arch: none | down (Blur before both stride-2 convs) | full (+ after the last)
    upsample: str = "shuffle"      # fast arch with shuffle_out: shuffle (depth-to-space) | bilinear (see phase_average)

    def to_dict(self) -> dict:
        return asdict(self)


def full_net_config(net_config: dict) -> dict:
    """A state's net_config with the fields NetConfig gained after it was written set to their defaults.

    Why: a state saved before a field existed (release 8 has no `antialias`) is still the same net
    as its fine-tunes saved after, and comparisons must say so. Configs of other nets (AdaIN's) pass
    through unchanged.
    """
    known = {f.name for f in fields(NetConfig)}
    if not net_config or not set(net_config) <= known:
        return dict(net_config)
    return NetConfig(**net_config).to_dict()


class TransformerNet(nn.Module):
    """Johnson et al. 2016 image transformation net (or the fast CPU variant).

    `n_styles > 1` turns every instance norm conditional (Dumoulin et al. 2017);
    forward then needs `style_weights` (B, S).
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        s = cfg.n_styles
        if cfg.arch == "johnson":
            c1, c2, c3 = (max(4, int(round(c * cfg.width))) for c in (32, 64, 128))
            self.down = nn.ModuleList([ConvNorm(3, c1, 9, n_styles=s), ConvNorm(c1, c2, 3, 2, s), ConvNorm(c2, c3, 3, 2, s)])
            self.res = nn.ModuleList([ResBlock(c3, s, separable=False) for _ in range(cfg.n_res)])
            self.up = nn.ModuleList([ConvNorm(c3, c2, 3, n_styles=s, upsample=2), ConvNorm(c2, c1, 3, n_styles=s, upsample=2),
                                     ConvNorm(c1, 3, 9, norm=False, relu=False)])
            self.size_multiple = 4
        elif cfg.arch == "fast":
            # Budget ~4-6k multiply-adds per output pixel: two stride-2 convs straight
            # away, separable residual blocks at 1/4 resolution, a 3x3 at full res.
            c1, c2 = cfg.widths or [16, 48]
            if cfg.antialias not in ANTIALIAS:
                raise ValueError(f"unknown antialias {cfg.antialias!r}")
            if cfg.upsample not in UPSAMPLES:
                raise ValueError(f"unknown upsample {cfg.upsample!r}")
            if cfg.upsample == "bilinear" and not cfg.shuffle_out:
                raise ValueError("upsample 'bilinear' needs shuffle_out (it replaces the depth-to-space steps)")
            aa = cfg.antialias != "none"  # the blurs hold no weights: a net's state loads either way
            self.down = nn.ModuleList([ConvNorm(3, c1, 3, 2, s, blur=aa), ConvNorm(c1, c2, 3, 2, s, blur=aa)])
            self.res = nn.ModuleList([ResBlock(c2, s, separable=True) for _ in range(cfg.n_res)])
            if cfg.shuffle_out:
                # The last conv runs at half resolution and emits 4 sub-pixels per
                # channel: no full-resolution feature maps at all.
                bl = cfg.upsample == "bilinear"
                last = ConvNorm(c1, 3 if bl else 12, 3, norm=False, relu=False)
                if not bl:
                    _icnr(last.conv, 3)
                first = SubPixelUp(c2, c1, s, bilinear=bl) if cfg.subpixel_up else ConvNorm(c2, c1, 3, n_styles=s, upsample=2)
                self.up = nn.ModuleList([first, last, Bilinear2() if bl else PixelShuffle(2)]
                                        + ([Blur(3)] if cfg.antialias == "full" else []))
            else:
                self.up = nn.ModuleList([ConvNorm(c2, c1, 3, n_styles=s, upsample=2),
                                         ConvNorm(c1, 3, 3, upsample=2, norm=False, relu=False)])
            self.size_multiple = 4
        else:
            raise ValueError(f"unknown arch {cfg.arch!r}")
        if cfg.padding not in PADDINGS:
            raise ValueError(f"unknown padding {cfg.padding!r}")
        if cfg.padding == "zeros":
            for m in self.modules():
                if isinstance(m, ConvNorm):
                    m.zero_padding()

    @property
    def n_styles(self) -> int:
        return self.cfg.n_styles

    def forward(self, x: torch.Tensor, style_weights: torch.Tensor | None = None) -> torch.Tensor:
        w = style_weights if self.cfg.n_styles > 1 else None
        if self.cfg.n_styles > 1 and w is None:
            raise ValueError("a CIN net needs style_weights (B, n_styles)")
        for m in self.down:
            x = m(x, w)
        for m in self.res:
            x = m(x, w)
        for m in self.up:
            x = m(x, w)
        return torch.sigmoid(x)


def load_deeper(net: TransformerNet, weights: dict[str, torch.Tensor]) -> int:
    """Load a trained net with fewer residual blocks into `net` and return how many blocks it gains.

    The gained blocks go after the trained ones and start as the identity (the last norm's gamma
    and beta zero, so the block adds nothing): the net computes exactly what it did, and training
    then grows capacity at 1/4 resolution without starting over (hours on a CPU)."""
    n_old = 1 + max((int(k.split(".")[1]) for k in weights if k.startswith("res.")), default=-1)
    gained = len(net.res) - n_old
    if gained <= 0:
        raise ValueError(f"the weights have {n_old} residual blocks, the net {len(net.res)}: nothing to grow")
    missing, unexpected = net.load_state_dict(weights, strict=False)
    new = tuple(f"res.{i}." for i in range(n_old, len(net.res)))
    if unexpected or not all(k.startswith(new) for k in missing):
        raise ValueError(f"the weights differ from the net beyond its residual blocks: {(unexpected + missing)[:3]}")
    with torch.no_grad():
        for block in net.res[n_old:]:
            block.b[-1].norm.gamma.zero_()
            block.b[-1].norm.beta.zero_()
    return gained


def load_wider(net: TransformerNet, weights: dict[str, torch.Tensor]) -> int:
    """Load a trained net into `net`, the same net with more channels, and return how many parameters it gains.

    The trained filters fill the leading channels; every gained channel is computed as a fresh net's
    would be, but whatever reads it starts at zero (the input-channel slices a conv gained), so the
    wider net computes exactly what the trained one did. Gradients reach those zeros from the first
    step, and training recruits the new channels instead of starting over (capacity at 1/4 resolution,
    where the CPU tier's channels cost least, without hours of training from scratch)."""
    own = net.state_dict()
    if set(own) != set(weights):
        raise ValueError(f"the weights differ from the net beyond its widths: {sorted(set(own) ^ set(weights))[:3]}")
    for k, w in weights.items():
        if w.dim() != own[k].dim() or any(a > b for a, b in zip(w.shape, own[k].shape)):
            raise ValueError(f"{k} is {tuple(w.shape)} in the weights, {tuple(own[k].shape)} in the net: "
                             "only a wider net can take them")
    with torch.no_grad():
        for k, w in weights.items():
            t = own[k]
            if k.endswith("conv.weight") and t.shape[1] > w.shape[1]:
                t[:, w.shape[1]:] = 0  # what reads a gained channel starts at zero
            t[tuple(slice(0, n) for n in w.shape)] = w
    net.load_state_dict(own)
    return sum(own[k].numel() - w.numel() for k, w in weights.items())


def phase_average(weights: dict[str, torch.Tensor], cfg: NetConfig) -> dict[str, torch.Tensor]:
    """A depth-to-space fast net's weights for the same net with `upsample="bilinear"`.

    Its sub-pixel convs hold one filter per output phase (4 per channel); the bilinear net has one.
    Their mean starts it where the trained net's phase-averaged picture is, so --resume can switch a
    trained net's decoder over and fine-tune instead of training from scratch."""
    out = dict(weights)
    names = ["up.1.conv"] + (["up.0.conv"] if cfg.subpixel_up else [])
    for n in names:
        w, b = weights[f"{n}.weight"], weights[f"{n}.bias"]
        c = w.shape[0] // 4
        out[f"{n}.weight"] = w.reshape(c, 4, *w.shape[1:]).mean(1)
        out[f"{n}.bias"] = b.reshape(c, 4).mean(1)
    return out


def macs_per_pixel(net: nn.Module, h: int = 256, w: int = 256) -> float:
    """Multiply-adds per input pixel of the conv layers, counted with hooks."""
    total = 0

    def hook(mod: nn.Conv2d, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += out.numel() // out.shape[0] * k

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            args = (torch.rand(1, 3, h, w),)
            if getattr(net, "n_styles", 1) > 1:
                args += (torch.full((1, net.n_styles), 1.0 / net.n_styles),)
            net(*args)
    finally:
        for x in hs:
            x.remove()
    return total / (h * w)


# ---------------------------------------------------------------- AdaIN

ADAIN_LAYER = "relu4_1"


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          tap: NormTap | None = None) -> torch.Tensor:
    """Give content features the style's channel mean/std (Huang & Belongie 2017)."""
    if tap is None:
        cm, cs = mean_std(content)
    else:
        m, v = tap(content)
        cm, cs = m.flatten(1), (v.flatten(1) + 1e-5).sqrt()
    normed = (content - cm[:, :, None, None]) / cs[:, :, None, None]
    return normed * style_std[:, :, None, None] + style_mean[:, :, None, None]


class AdaINDecoder(nn.Module):
    """Mirror of VGG19 up to relu4_1: reflection padding, nearest upsampling, no norms.

    `width` scales every channel count but the 512 input: 0.5 is the CPU model
    (a quarter of the multiply-adds, strokes as sharp at our sizes). A sigmoid
    bounds the output to [0,1], the runtime's image contract.
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = width
        c4, c3, c2, c1 = (max(8, int(round(c * width))) for c in (256, 256, 128, 64))

        def c(i: int, o: int, up: int = 1, relu: bool = True) -> ConvNorm:
            return ConvNorm(i, o, 3, upsample=up, norm=False, relu=relu)

        self.layers = nn.ModuleList([
            c(512, c4), c(c4, c3, up=2), c(c3, c3), c(c3, c3), c(c3, c2),
            c(c2, c2, up=2), c(c2, c1), c(c1, c1, up=2), c(c1, 3, relu=False),
        ])

    # Caffe-scale VGG activations at relu4_1 are in the hundreds; scaling them down
    # keeps a freshly initialised decoder's output near [0,1] so training is stable.
    input_scale = 1.0 / 256

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        f = f * self.input_scale
        for m in self.layers:
            f = m(f)
        return torch.sigmoid(f)


class AdaINNet(nn.Module):
    """Frozen VGG19 encoder + AdaIN + trained decoder.

    Training passes in the loss network as `encoder`, so one frozen VGG19 serves
    both (it must reach relu4_1).
    """

    size_multiple = 8

    def __init__(self, decoder_width: float = 1.0, encoder: VGG19Features | None = None):
        super().__init__()
        self.encoder = encoder if encoder is not None else VGG19Features([ADAIN_LAYER])
        self.decoder = AdaINDecoder(decoder_width)
        self.tap: NormTap | None = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, [ADAIN_LAYER])[ADAIN_LAYER]

    def style_stats(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mean_std(self.encode(style))

    def forward(self, content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
                alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        f = self.encode(content)
        t = adain(f, style_mean, style_std, self.tap)
        t = alpha * t + (1 - alpha) * f
        return self.decoder(t)


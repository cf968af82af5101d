"""Training loops for the three kinds: feed-forward, CIN multi-style, AdaIN decoder.

One loop shape for all: sample a batch, run the net, perceptual losses on the
shared VGG19, step; checkpoint every K steps and when --max-minutes runs out,
so long CPU runs can stop and resume.
"""
from __future__ import annotations

import csv
import json
import math
import platform
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from stylecam.realtime.files import write_atomic
from stylecam.realtime.progress import progress as progress_bar

from . import losses as L
from . import precision as P
from . import temporal_loss as TL
from .adain_data import ContentFeatures, StyleStats, content_short_side
from .data import ImageCache, list_images, load_style, save_grid, split_holdout
from .errors import UserError
from .gatys import resize_long
from .net_options import TRAIN_ONLY
from .nets import (ADAIN_LAYER, AdaINNet, CondInstanceNorm, NetConfig, TransformerNet, adain, load_deeper,
                   load_wider, phase_average)
from .vgg import LAYER_NAMES, VGG19Features, canonical

KINDS = ("feedforward", "cin", "adain")


@dataclass
class TrainConfig:
    kind: str
    content_dir: str
    out: str
    styles: list[str] = field(default_factory=list)
    style_dir: str | list[str] | None = None      # adain: one folder or several
    net: dict = field(default_factory=dict)        # NetConfig fields (feedforward/cin)
    image_size: int = 256
    content_size: int = 0                           # short side photos are scaled to before cropping (0: 1.15x the crop)
    style_size: int = 512
    style_scale: float = 1.0                        # the style terms see the output shrunk by this: marks 1/scale as large
    batch: int = 4
    steps: int = 2000
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float | None = None               # kind default when None
    tv_weight: float = 0.0
    temporal_weight: float = 0.0                    # warp-consistency loss (export/temporal_loss.py); 0: off
    temporal_noise: float = 0.0                     # std of the noise its second frame gets, in [0, 1] units
    temporal_noise_blur: float = 0.0                # that noise's grain: a Gaussian's sigma in px; 0: white
    temporal_noise_grey: float = 0.0                # share of its variance the same in all channels; 0: per channel
    temporal_sprites: int = 0                       # patches pasted into its second frame, skipped by it
    temporal_moving_sprites: int = 0                # patches in both of its frames, moving on their own
    temporal_sprite_motion: float = 3.0             # how far (px) those move at most
    temporal_sprite_deform: float = 0.0             # how far (px, about) they also bend, point by point; 0: rigid
    temporal_style_weights: dict[str, float] = field(default_factory=dict)  # cin: style name -> its share's factor
    motion_weight: float = 0.0                      # a second warp pair without the noise: motion alone; 0: off
    swd_weight: float = 0.0                         # sliced Wasserstein style term beside the Gram one; 0: off
    gram_style_weights: dict[str, float] = field(default_factory=dict)  # cin: style name -> its Gram term's factor
    swd_style_weights: dict[str, float] = field(default_factory=dict)   # cin: style name -> its SWD term's factor
    swd_samples: int = 4096                         # feature vectors per image and layer it compares
    swd_layers: list[str] = field(default_factory=list)  # the layers it compares; empty: the style layers
    teacher: str | None = None                      # an AdaIN checkpoint the net learns from (distillation)
    distill_weight: float = 0.0                     # weight of the distance to the teacher's output; 0: off
    distill_layers: list[str] = field(default_factory=list)  # VGG layers it is measured at; empty: the deepest style layer
    content_layers: list[str] = field(default_factory=list)
    content_layer_weights: list[float] = field(default_factory=list)  # one per content layer; empty: all 1
    style_layers: list[str] = field(default_factory=list)
    seed: int = 0
    holdout: float = 0.1
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    amp: bool = False                               # old spelling of precision="fp16" (CUDA)
    precision: str = "auto"                         # auto: bf16 on CPUs with bf16 units, fp16 on CUDA, else fp32
    channels_last: bool = False
    max_images: int = 0                             # 0: all content images
    checkpoint_minutes: float = 10.0                # also checkpoint at least this often (0: by steps only)
    state: str | None = None                        # small weights-only copy to keep in the repository
    style_windows: int = 2                          # adain: extra half-size views per painting
    train_only: str = "all"                         # norms: only the nets' per-style scales and shifts learn
    train_styles: list[str] = field(default_factory=list)  # cin, norms only: the styles whose crops are drawn; empty: all

    def _require_style_names(self, flag: str, asked: Iterable[str]) -> None:
        """Options that name styles take the painting's file name without its extension."""
        names = [Path(st).stem for st in self.styles]
        bad = [k for k in asked if k not in names]
        if bad:
            raise UserError(f"{flag} names {bad[0]}, not one of the styles ({', '.join(names)}); "
                            f"use a painting's file name without its extension")

    def resolved(self) -> "TrainConfig":
        """Fill kind defaults (papers' layers and weights) and validate names."""
        if self.kind not in KINDS:
            raise UserError(f"unknown model kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.kind == "adain":
            self.content_layers = self.content_layers or [L.ADAIN_CONTENT_LAYER]
            self.style_layers = self.style_layers or list(L.ADAIN_STYLE_LAYERS)
            self.style_weight = 10.0 if self.style_weight is None else self.style_weight
            if self.content_layers != [L.ADAIN_CONTENT_LAYER]:
                raise UserError("AdaIN's content loss is defined at relu4_1 (the AdaIN target); drop --content-layers")
        else:
            self.content_layers = self.content_layers or ["relu2_2"]
            self.style_layers = self.style_layers or ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
            self.style_weight = 3e-5 if self.style_weight is None else self.style_weight
        self.content_layers = [canonical(n) for n in self.content_layers]
        if self.content_layer_weights and len(self.content_layer_weights) != len(self.content_layers):
            raise UserError(f"--content-layer-weights gives {len(self.content_layer_weights)} weights for "
                            f"{len(self.content_layers)} content layers ({','.join(self.content_layers)}); "
                            "give one weight per layer")
        if any(w < 0 for w in self.content_layer_weights):
            raise UserError(f"--content-layer-weights {','.join(map(str, self.content_layer_weights))} has a "
                            "negative weight; weights are >= 0")
        self.style_layers = [canonical(n) for n in self.style_layers]
        self.swd_layers = [canonical(n) for n in self.swd_layers] or list(self.style_layers)
        # default: the deepest style layer, the teacher's layout and colours; at relu2_1/relu3_1 the net can
        # only match the average of the teacher's marks, which is flat (docs/training.md, "Distillation")
        self.distill_layers = ([canonical(n) for n in self.distill_layers]
                               or [max(self.style_layers, key=LAYER_NAMES.index)])
        if self.distill_weight < 0 or (self.distill_weight > 0 and (self.kind == "adain" or not self.teacher)):
            raise UserError("--distill-weight must be >= 0, and needs --teacher (an AdaIN checkpoint) for a "
                            "feedforward/cin net")
        if self.teacher and not Path(self.teacher).is_file():
            raise UserError(f"teacher checkpoint not found: {self.teacher}; pass an AdaIN checkpoint or state")
        if self.distill_weight and not set(self.distill_layers) <= set(self.style_layers) | set(self.content_layers):
            raise UserError(f"--distill-layers {','.join(self.distill_layers)} must be among the style or content "
                            "layers; add them to --style-layers or drop them")
        if not set(self.swd_layers) <= set(self.style_layers):
            raise UserError(f"--swd-layers {','.join(self.swd_layers)} must be among the style layers "
                            f"({','.join(self.style_layers)}); add them to --style-layers or drop them")
        if self.kind == "feedforward" and len(self.styles) != 1:
            raise UserError("feedforward trains one style: pass exactly one --style image (use 'cin' for several)")
        if self.kind == "cin" and len(self.styles) < 1:
            raise UserError("cin needs --styles a.jpg b.jpg ...")
        if self.kind == "adain" and not self.style_dir:
            raise UserError("adain needs --style-dir with paintings")
        for s in self.styles:
            if not Path(s).is_file():
                raise UserError(f"style image not found: {s}; check the path")
        if self.temporal_weight < 0 or (self.temporal_weight > 0 and self.kind == "adain"):
            raise UserError("--temporal-weight must be >= 0, and is for feedforward/cin nets (not adain)")
        if self.motion_weight < 0 or (self.motion_weight > 0 and self.kind == "adain"):
            raise UserError("--motion-weight must be >= 0, and is for feedforward/cin nets (not adain)")
        if not 0 <= self.temporal_noise <= 0.2:
            raise UserError(f"--temporal-noise must be between 0 and 0.2 (a std in [0,1] units), got {self.temporal_noise}")
        if not 0 <= self.temporal_noise_blur <= 4 or (self.temporal_noise_blur and not self.temporal_noise):
            raise UserError(f"--temporal-noise-blur must be between 0 and 4 px, and needs --temporal-noise, "
                            f"got {self.temporal_noise_blur}")
        if not 0 <= self.temporal_noise_grey <= 1 or (self.temporal_noise_grey and not self.temporal_noise):
            raise UserError(f"--temporal-noise-grey must be between 0 and 1 (a share of the noise's variance), and "
                            f"needs --temporal-noise, got {self.temporal_noise_grey}")
        for flag, count in (("--temporal-sprites", self.temporal_sprites),
                            ("--temporal-moving-sprites", self.temporal_moving_sprites)):
            if not 0 <= count <= 8 or (count and not self.temporal_weight):
                raise UserError(f"{flag} must be between 0 and 8, and needs --temporal-weight, got {count}")
        if not 0 <= self.temporal_sprite_deform <= 8 or (self.temporal_sprite_deform and not self.temporal_moving_sprites):
            raise UserError(f"--temporal-sprite-deform must be between 0 and 8 px, and needs --temporal-moving-sprites, "
                            f"got {self.temporal_sprite_deform}")
        if not 0 < self.temporal_sprite_motion <= 16:
            raise UserError(f"--temporal-sprite-motion must be over 0 and at most 16 px, got {self.temporal_sprite_motion}")
        # a factor per style on one loss term: cin only, for a term that is on, naming real styles
        for flag, table, term_on, term_flag in (
                ("--temporal-style-weights", self.temporal_style_weights, self.temporal_weight, "--temporal-weight"),
                ("--gram-style-weights", self.gram_style_weights, True, None),
                ("--swd-style-weights", self.swd_style_weights, self.swd_weight > 0, "--swd-weight")):
            if not table:
                continue
            if self.kind != "cin" or not term_on:
                raise UserError(f"{flag} is for cin nets" + (f" and needs {term_flag}" if term_flag else ""))
            self._require_style_names(flag, table)
            if not all(0 < v <= 100 for v in table.values()):
                raise UserError(f"{flag} must be over 0 and at most 100, got {table}")
        if self.train_styles:
            if self.kind != "cin" or self.train_only != "norms":
                raise UserError("--train-styles is for cin nets with --train-only norms (so the other styles keep "
                                "their weights exactly)")
            self._require_style_names("--train-styles", self.train_styles)
        if self.swd_weight < 0 or (self.swd_weight > 0 and self.kind == "adain") or self.swd_samples < 16:
            raise UserError("--swd-weight must be >= 0 and is for feedforward/cin nets (not adain); --swd-samples >= 16")
        if not 0.25 <= self.style_scale <= 1 or (self.style_scale != 1 and self.kind == "adain"):
            raise UserError(f"--style-scale must be between 0.25 and 1, and is for feedforward/cin nets (not adain), "
                            f"got {self.style_scale}")
        if self.train_only not in TRAIN_ONLY or (self.train_only != "all" and self.kind == "adain"):
            raise UserError(f"--train-only must be one of {', '.join(TRAIN_ONLY)}, and 'norms' is for "
                            f"feedforward/cin nets (AdaIN's norms have no weights), got {self.train_only!r}")
        if self.image_size < 32 or self.batch < 1 or self.steps < 0:
            raise UserError("--image-size must be >= 32, --batch >= 1, --steps >= 0")
        if self.content_size and self.content_size < self.image_size:
            raise UserError(f"--content-size {self.content_size} is smaller than the crop (--image-size {self.image_size}); "
                            "use at least the crop size, or 0 for the default")
        return self


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but torch sees no CUDA GPU; install a CUDA build of torch or use --device cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def style_metadata(path: str | Path) -> dict[str, str]:
    """Artist/title/year from a MANIFEST_styles.csv next to the image (or one level up)."""
    p = Path(path)
    meta = {"name": p.stem, "artist": "", "title": p.stem.replace("_", " "), "year": ""}
    for manifest in (p.parent / "MANIFEST_styles.csv", p.parent.parent / "MANIFEST_styles.csv"):
        if manifest.is_file():
            with open(manifest, newline="") as fh:
                for row in csv.DictReader(fh):
                    if row.get("file") == p.name:
                        meta.update(artist=row.get("artist", ""), title=row.get("title", ""), year=row.get("date", ""))
                        return meta
    return meta


class Trainer:
    """Holds nets, optimiser and data; `run()` trains until steps or time run out."""

    def __init__(self, cfg: TrainConfig, device: str = "auto", resume: str | None = None):
        self.cfg = cfg.resolved()
        self.device = pick_device(device)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.swd_gen: torch.Generator | None = None  # the SWD term's directions (feedforward/cin nets)
        use_cuda = self.device.type == "cuda"
        self.precision = P.resolve("fp16" if (cfg.amp and use_cuda) else cfg.precision, self.device)
        self.amp = self.precision == "fp16"  # fp16 needs loss scaling; bf16 does not
        self.mem_format = torch.channels_last if (cfg.channels_last and use_cuda) else torch.contiguous_format
        print(f"precision: {self.precision} on {self.device.type}", file=sys.stderr)

        paths = list_images(cfg.content_dir)
        train, held = split_holdout(paths, cfg.holdout)
        if cfg.max_images:
            train = train[: cfg.max_images]
        if cfg.content_size:  # crops are windows of photos at the scale the net will run at
            short = cfg.content_size
        elif cfg.kind == "adain":
            short = content_short_side(cfg.image_size)
        else:
            short = int(math.ceil(cfg.image_size * 1.15))
        self.content = ImageCache(train, short, "content images")
        self.held = ImageCache(held[:16], cfg.image_size, "held-out images")
        print(f"content: {len(self.content)} training photos, {len(self.held)} held out"
              f"{f', {self.content.skipped} unreadable skipped' if self.content.skipped else ''}", file=sys.stderr)

        layers = sorted(set(self.cfg.content_layers) | set(self.cfg.style_layers)
                        | ({ADAIN_LAYER} if self.cfg.distill_weight else set()))  # the teacher encodes to relu4_1
        self.vgg = VGG19Features(layers).to(self.device, memory_format=self.mem_format)
        if cfg.kind == "adain":
            self.net = AdaINNet(float(cfg.net.get("decoder_width", 1.0)), encoder=self.vgg).to(self.device)
            self.params = list(self.net.decoder.parameters())
            self.style_meta = []
            self._adain_data()
        else:
            ncfg = NetConfig(**{**cfg.net, "n_styles": len(cfg.styles) if cfg.kind == "cin" else 1})
            self.net = TransformerNet(ncfg).to(self.device, memory_format=self.mem_format)
            self.params = trained_params(self.net, cfg.train_only)
            self.style_meta = [style_metadata(s) for s in cfg.styles]
            paintings = [load_style(s, self.cfg.style_size).to(self.device) for s in self.cfg.styles]
            self._style_targets(paintings)
            self._teacher(paintings)
        self.opt = torch.optim.Adam(self.params, lr=cfg.lr)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        if resume:
            self._load(resume)

    # ------------------------------------------------------------------ targets
    def _adain_data(self) -> None:
        """Held-out split of the paintings by file-name hash, then everything encoded once."""
        cfg = self.cfg
        dirs = [cfg.style_dir] if isinstance(cfg.style_dir, str) else list(cfg.style_dir)
        style_paths = [p for d in dirs for p in list_images(d)]
        s_train, s_held = split_holdout(style_paths, cfg.holdout)
        train_imgs = ImageCache(s_train, 0, "style images")
        held_imgs = ImageCache(s_held, 0, "held-out style images") if s_held else None
        print(f"styles: {len(train_imgs)} training paintings, {len(held_imgs or [])} held out", file=sys.stderr)
        with torch.no_grad(), P.autocast(self.device, self.precision):
            self.features = ContentFeatures(self.content, self.net.encode, ADAIN_LAYER, self.device)
            self.style_stats = StyleStats(train_imgs.images, self.vgg, cfg.style_layers, self.device,
                                          cfg.style_size, cfg.style_windows, cfg.seed)
            self.held_style_stats = (StyleStats(held_imgs.images, self.vgg, cfg.style_layers, self.device,
                                                cfg.style_size, 0, cfg.seed) if held_imgs else None)

    def _style_targets(self, paintings: list[torch.Tensor]) -> None:
        grams: dict[str, list[torch.Tensor]] = {l: [] for l in self.cfg.style_layers}
        # For the sliced Wasserstein term: a fixed random subset of each painting's feature vectors
        # (twice what a step compares, so steps draw different ones), kept rather than the whole map.
        keep = 2 * self.cfg.swd_samples
        swd: dict[str, list[torch.Tensor]] = {l: [] for l in self.cfg.swd_layers}
        pick = torch.Generator().manual_seed(self.cfg.seed)
        with torch.no_grad():
            for img in paintings:
                feats = self.vgg(img, self.cfg.style_layers)
                for l in self.cfg.style_layers:
                    f = feats[l].float()
                    grams[l].append(L.gram_matrix(f)[0])
                    if self.cfg.swd_weight > 0 and l in swd:
                        swd[l].append(L.sample_columns(f, keep, pick)[0])
        self.grams = {l: torch.stack(g) for l, g in grams.items()}  # (S, C, C)
        # (S, C, M), M the smallest count kept over the paintings, so one tensor holds them all
        self.swd_targets = {l: torch.stack([f[:, : min(x.shape[1] for x in v)] for f in v])
                            for l, v in swd.items() if v}
        self.swd_gen = torch.Generator().manual_seed(self.cfg.seed + 1)

    def _teacher(self, paintings: list[torch.Tensor]) -> None:
        """Distillation: our AdaIN model, slow but past the fast net's texture/content trade-off, shows
        the net each training crop already stylized. The teacher shares the loss network as its encoder."""
        self.teacher: AdaINNet | None = None
        if not self.cfg.distill_weight:
            return
        ck = load_checkpoint(self.cfg.teacher)
        if ck["kind"] != "adain":
            raise UserError(f"--teacher {self.cfg.teacher} holds a {ck['kind']} model; distillation needs an AdaIN one")
        self.teacher = build_from_checkpoint(ck, encoder=self.vgg).to(self.device).requires_grad_(False)
        with torch.no_grad():  # each painting's statistics once, at the size the shipped AdaIN file takes them
            stats = [self.teacher.style_stats(img) for img in paintings]
        self.teacher_stats = (torch.cat([m for m, _ in stats]), torch.cat([sd for _, sd in stats]))

    # ------------------------------------------------------------------ steps
    def _style_factors(self, factors: dict[str, float], idx: torch.Tensor | None) -> torch.Tensor | None:
        """Each crop's factor in one loss term, from its style. Anti-flicker: a style that flickers past
        its bar on real clips can be asked for more steadiness without taking it from the others. Gram
        and SWD: styles sit at different points of the texture / flicker trade (great_wave's ratio is
        relu4_1's Gram, starry_night's needs the low layers' SWD), so a whole-net tune can hold each
        style's own balance while the shared filters move."""
        if not factors or idx is None:
            return None
        table = torch.tensor([factors.get(m["name"], 1.0) for m in self.style_meta], device=idx.device)
        return table[idx]

    def _losses(self, x: torch.Tensor, idx: torch.Tensor | None = None, style: torch.Tensor | None = None,
                style_stats: StyleStats | None = None) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        cfg = self.cfg
        lt = lswd = lm = ld = None
        if cfg.kind == "adain":
            # x: cached relu4_1 content features; style: view indices into the style statistics
            stats = (style_stats or self.style_stats).batch(style.cpu())
            stats = {l: (m.to(self.device), s.to(self.device)) for l, (m, s) in stats.items()}
            with torch.no_grad():
                t = adain(x.float(), *stats[ADAIN_LAYER])
            y = self.net.decoder(t)
            fy = self.vgg(y, cfg.style_layers)
            with torch.autocast(self.device.type, enabled=False):
                fy = {l: v.float() for l, v in fy.items()}
                lc = F.mse_loss(fy[L.ADAIN_CONTENT_LAYER], t)
                ls = L.mean_std_style_loss(fy, stats, cfg.style_layers)
        else:
            w = F.one_hot(idx, self.net.n_styles).float() if self.net.n_styles > 1 else None
            y = self.net(x, w)
            with torch.no_grad():
                if self.teacher is None:
                    fx = self.vgg(x, cfg.content_layers)
                else:  # one pass of the photo serves the content term and the teacher's encoder
                    fx = self.vgg(x, [*cfg.content_layers, ADAIN_LAYER])
                    f4 = fx[ADAIN_LAYER] if ADAIN_LAYER in cfg.content_layers else fx.pop(ADAIN_LAYER)
                    stylized = self.teacher.decoder(adain(f4, self.teacher_stats[0][idx], self.teacher_stats[1][idx]))
                    ft = self.vgg(stylized.clamp(0, 1), cfg.distill_layers)
            if cfg.style_scale == 1:
                fy = fs = self.vgg(y)
            else:  # the style terms on the shrunk output, against the paintings at style_size
                fy = self.vgg(y, [*cfg.content_layers, *(cfg.distill_layers if self.teacher is not None else [])])
                fs = self.vgg(shrink(y, cfg.style_scale), cfg.style_layers)
            with torch.autocast(self.device.type, enabled=False):  # losses in fp32 whatever the nets ran in
                fy = {l: v.float() for l, v in fy.items()}
                fs = {l: v.float() for l, v in fs.items()}
                fx = {l: v.float() for l, v in fx.items()}
                if self.teacher is not None:
                    ld = L.content_loss(fy, {l: v.float() for l, v in ft.items()}, cfg.distill_layers)
                lc = L.content_loss(fy, fx, cfg.content_layers, cfg.content_layer_weights)
                ls = L.gram_style_loss(fs, {l: g[idx] for l, g in self.grams.items()}, cfg.style_layers,
                                       sample_weights=self._style_factors(cfg.gram_style_weights, idx))
                lswd = (L.sliced_wasserstein_loss(fs, {l: t[idx] for l, t in self.swd_targets.items()},
                                                  cfg.swd_layers, cfg.swd_samples, generator=self.swd_gen,
                                                  sample_weights=self._style_factors(cfg.swd_style_weights, idx))
                        if cfg.swd_weight > 0 else None)
            if cfg.temporal_weight > 0:
                if cfg.temporal_moving_sprites:  # patches in both frames: one more net run, for frame a
                    xa, x2, grid, keep = TL.moving_sprite_pair(x, cfg.temporal_moving_sprites,
                                                               cfg.temporal_sprite_motion, noise=cfg.temporal_noise,
                                                               deform=cfg.temporal_sprite_deform,
                                                               noise_blur=cfg.temporal_noise_blur,
                                                               noise_grey=cfg.temporal_noise_grey)
                    ya = self.net(xa, w)
                else:
                    x2, grid = TL.warped_pair(x, noise=cfg.temporal_noise, noise_blur=cfg.temporal_noise_blur,
                                              noise_grey=cfg.temporal_noise_grey)
                    keep, ya = None, y
                if cfg.temporal_sprites:
                    x2, appear = TL.paste_sprites(x2, cfg.temporal_sprites)
                    keep = appear if keep is None else keep * appear
                lt = TL.temporal_loss(ya.float(), self.net(x2, w).float(), grid, keep,
                                      self._style_factors(cfg.temporal_style_weights, idx))
            if cfg.motion_weight > 0:
                x3, grid3 = TL.warped_pair(x)
                lm = TL.temporal_loss(y.float(), self.net(x3, w).float(), grid3)
        y = y.float()
        ltv = L.tv_loss(y)
        total = cfg.content_weight * lc + cfg.style_weight * ls + cfg.tv_weight * ltv
        if lt is not None:
            total = total + cfg.temporal_weight * lt
        if lswd is not None:
            total = total + cfg.swd_weight * lswd
        if lm is not None:
            total = total + cfg.motion_weight * lm
        if ld is not None:
            total = total + cfg.distill_weight * ld
        parts = {"content": lc.item(), "style": ls.item(), "tv": ltv.item(), "total": total.item()}
        if lt is not None:
            parts["temporal"] = lt.item()
        if lswd is not None:
            parts["swd"] = lswd.item()
        if lm is not None:
            parts["motion"] = lm.item()
        if ld is not None:
            parts["distill"] = ld.item()
        return total, parts, y

    def _sample_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        cfg = self.cfg
        if cfg.kind == "adain":
            f = self.features.batch(cfg.batch, cfg.image_size, self.rng).to(self.device)
            return f, None, self.style_stats.sample(cfg.batch, self.rng)
        x = self.content.batch(cfg.batch, cfg.image_size, self.rng).to(self.device, memory_format=self.mem_format)
        pool = self._style_pool()
        idx = torch.as_tensor(pool[self.rng.integers(0, len(pool), cfg.batch)], device=self.device)
        return x, idx, None

    def _style_pool(self) -> np.ndarray:
        """The style indices crops are drawn from. With --train-styles and norms only, the other styles'
        rows of the norm tables get no gradient, and a fresh Adam leaves a zero-gradient row exactly
        where it was: those styles stay bit-identical, so one style's fine-tune cannot cost another."""
        if not self.cfg.train_styles:
            return np.arange(self.net.n_styles)
        names = [m["name"] for m in self.style_meta]
        return np.array([names.index(k) for k in self.cfg.train_styles])

    def train_step(self) -> dict[str, float]:
        self.net.train()
        x, idx, s = self._sample_inputs()
        with P.autocast(self.device, self.precision):
            loss, parts, _ = self._losses(x, idx, s)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1
        return parts

    # ------------------------------------------------------------------ io
    def _net_config(self) -> dict:
        if isinstance(self.net, TransformerNet):
            return self.net.cfg.to_dict()
        return {"decoder_width": self.net.decoder.width}

    def checkpoint(self, path: Path | None = None) -> Path:
        """Full checkpoint in the run folder; with `state`, also the small weights-only copy."""
        path = path or self.out / "checkpoint.pt"
        trained = self.net.decoder if self.cfg.kind == "adain" else self.net
        common = {
            "kind": self.cfg.kind,
            "config": asdict(self.cfg),
            "net_config": self._net_config(),
            "step": self.step,
            "elapsed_s": self.elapsed,
            "styles": self.style_meta,
            "hardware": hardware_string(self.device),
            "precision": self.precision,
            "command": " ".join(sys.argv),
        }
        state = {"format": CHECKPOINT_FORMAT, **common, "model": trained.state_dict(),
                 "optimizer": self.opt.state_dict(), "history": self.history, "rng": self.rng.bit_generator.state}
        if self.swd_gen is not None:  # the SWD directions, so a resumed run draws what it would have
            state["swd_rng"] = self.swd_gen.get_state()
        save_atomic(state, path)
        if self.cfg.state:
            small = {"format": STATE_FORMAT, **common, "history": self.history[-100:],
                     "model": {k: v.detach().to(torch.float16) if v.is_floating_point() else v
                               for k, v in trained.state_dict().items()}}
            Path(self.cfg.state).parent.mkdir(parents=True, exist_ok=True)
            save_atomic(small, Path(self.cfg.state))
        return path

    def _load(self, path: str) -> None:
        ck = load_checkpoint(path)
        if ck["kind"] != self.cfg.kind:
            raise UserError(f"--resume {path} holds a {ck['kind']} model, not {self.cfg.kind}")
        target = self.net.decoder if self.cfg.kind == "adain" else self.net
        old_blocks = ck.get("net_config", {}).get("n_res")
        grow = self.cfg.kind != "adain" and old_blocks is not None and old_blocks < self.net.cfg.n_res
        old_widths = ck.get("net_config", {}).get("widths") or []
        widen = (self.cfg.kind != "adain" and not grow and len(old_widths) == len(self.net.cfg.widths) > 0
                 and old_widths != self.net.cfg.widths)
        old_up = ck.get("net_config", {}).get("upsample", "shuffle")
        new_up = old_up if self.cfg.kind == "adain" else self.net.cfg.upsample
        if old_up != new_up and not (old_up == "shuffle" and new_up == "bilinear"):
            raise UserError(f"--resume {path} has a {old_up} decoder; only shuffle -> bilinear can be switched "
                            f"(use --upsample {old_up})")
        try:
            if grow:  # a deeper net resumed from a shallower one (--res-blocks raised)
                gained = load_deeper(self.net, fp32_weights(ck))
                print(f"{path} has {old_blocks} residual blocks, this net {self.net.cfg.n_res}: the {gained} new ones "
                      "start as the identity; the optimiser starts afresh", file=sys.stderr)
            elif widen:  # a wider net resumed from a narrower one (--widths raised)
                gained = load_wider(self.net, fp32_weights(ck))
                print(f"{path} has widths {','.join(map(str, old_widths))}, this net "
                      f"{','.join(map(str, self.net.cfg.widths))}: {gained} new parameters, read by zeros at first "
                      "(the same output); the optimiser starts afresh", file=sys.stderr)
            elif old_up != new_up:
                target.load_state_dict(phase_average(fp32_weights(ck), self.net.cfg))
                print(f"{path} has a depth-to-space decoder, this net a bilinear one: its sub-pixel filters start "
                      "as their mean; the optimiser starts afresh", file=sys.stderr)
            else:
                target.load_state_dict(fp32_weights(ck))
                if "optimizer" not in ck:
                    print(f"{path} holds weights only: the optimiser starts afresh", file=sys.stderr)
                elif ck.get("config", {}).get("train_only", "all") != self.cfg.train_only:
                    print(f"{path} trained other parameters (--train-only): the optimiser starts afresh",
                          file=sys.stderr)
                elif ck.get("config", {}).get("train_styles", []) != self.cfg.train_styles:
                    # a moment kept for a style no longer drawn would go on moving its rows
                    print(f"{path} trained other styles (--train-styles): the optimiser starts afresh",
                          file=sys.stderr)
                else:
                    self.opt.load_state_dict(ck["optimizer"])
                    for group in self.opt.param_groups:  # this run's --lr, not the saved one
                        group["lr"] = self.cfg.lr
        except (RuntimeError, ValueError) as e:
            raise UserError(f"--resume {path} does not match this model's shape (different styles or net options?)") from e
        self.step = ck["step"]
        self.elapsed = ck.get("elapsed_s", 0.0)
        self.history = ck.get("history", [])
        if "rng" in ck:
            self.rng.bit_generator.state = ck["rng"]
        if "swd_rng" in ck and self.swd_gen is not None:
            self.swd_gen.set_state(ck["swd_rng"])
        print(f"resumed from {path} at step {self.step}", file=sys.stderr)

    def save_samples(self) -> Path:
        self.net.eval()
        n = min(4, len(self.held))
        x = torch.stack([self.held.center(i, self.cfg.image_size) for i in range(n)]).to(self.device)
        rows = [x.cpu()]
        with torch.no_grad():
            if self.cfg.kind == "adain":  # held-out photos x held-out paintings
                stats = self._validation_stats()
                pick = torch.arange(n) % len(stats)
                m, sd = stats.batch(pick)[ADAIN_LAYER]
                rows.append(self.net(x, m.to(self.device), sd.to(self.device)).cpu())
            else:
                for k in range(min(self.net.n_styles, 6)):
                    idx = torch.full((n,), k, device=self.device, dtype=torch.long)
                    w = F.one_hot(idx, self.net.n_styles).float() if self.net.n_styles > 1 else None
                    rows.append(self.net(x, w).cpu())
        path = self.out / f"samples_{self.step:06d}.png"
        save_grid(path, rows)
        return path

    def _validation_stats(self) -> StyleStats:
        return self.held_style_stats or self.style_stats

    def validate(self) -> dict[str, Any]:
        """Mean content and style loss on held-out photos (never trained on)."""
        self.net.eval()
        x = torch.stack([self.held.center(i, self.cfg.image_size) for i in range(len(self.held))]).to(self.device)
        out: dict[str, Any] = {"images": len(x)}
        with torch.no_grad():
            if self.cfg.kind == "adain":  # every held-out photo with every held-out painting
                stats = self._validation_stats()
                f = self.net.encode(x)
                cs, ss = [], []
                for k in range(len(stats)):
                    _, parts, _ = self._losses(f, None, torch.full((len(x),), k), stats)
                    cs.append(parts["content"])
                    ss.append(parts["style"])
                out.update(content=float(np.mean(cs)), style=float(np.mean(ss)), paintings=len(stats))
            else:
                per = []
                for k in range(self.net.n_styles):
                    idx = torch.full((len(x),), k, device=self.device, dtype=torch.long)
                    _, parts, _ = self._losses(x, idx)
                    per.append(parts)
                out.update(content=float(np.mean([p["content"] for p in per])),
                           style=float(np.mean([p["style"] for p in per])),
                           per_style=[{"name": m["name"], "content": p["content"], "style": p["style"]}
                                      for m, p in zip(self.style_meta, per)])
        return out

    def run(self, max_minutes: float | None = None) -> dict[str, Any]:
        cfg = self.cfg
        if self.step >= cfg.steps:  # a multi-phase script replaying phases already done: nothing to
            # write, and no validation pass (minutes on a CPU) for a model that did not change
            print(f"already at step {self.step} of {cfg.steps}: nothing to train", file=sys.stderr)
            return {"kind": cfg.kind, "step": self.step, "steps": cfg.steps, "stopped_early": False,
                    "nothing_to_do": True}
        start = time.monotonic()
        last_ck = start
        base_elapsed = self.elapsed
        stopped_early = False
        running: dict[str, float] = {}
        # Background jobs (nohup, `&`) start with SIGINT ignored, and schedulers send SIGTERM:
        # both should stop the run the way Ctrl-C does, with a checkpoint.
        def _stop(signum, frame):
            raise KeyboardInterrupt
        previous = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous[sig] = signal.signal(sig, _stop)
            except ValueError:  # not the main thread
                pass
        bar = progress_bar(cfg.steps, initial=self.step, desc=f"train {cfg.kind}", unit="steps")
        try:
            while self.step < cfg.steps:
                parts = self.train_step()
                if not all(math.isfinite(v) for v in parts.values()):
                    raise RuntimeError(f"loss became {parts} at step {self.step}; lower --lr or the style weight")
                for k, v in parts.items():
                    running[k] = v if k not in running else 0.95 * running[k] + 0.05 * v
                self.elapsed = base_elapsed + time.monotonic() - start
                if self.step % cfg.log_every == 0 or self.step == 1:
                    self.history.append({"step": self.step, **{k: round(v, 6) for k, v in running.items()}})
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in running.items() if k != "tv"}, refresh=False)
                due = cfg.checkpoint_minutes and time.monotonic() - last_ck > cfg.checkpoint_minutes * 60
                if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or due:
                    self.checkpoint()
                    last_ck = time.monotonic()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                if max_minutes is not None and time.monotonic() - start > max_minutes * 60:
                    stopped_early = self.step < cfg.steps
                    break
        except KeyboardInterrupt:
            stopped_early = True
            print("\ninterrupted: saving a checkpoint", file=sys.stderr)
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        ck = self.checkpoint()
        sample = self.save_samples()
        summary: dict[str, Any] = {
            "kind": cfg.kind, "step": self.step, "steps": cfg.steps, "checkpoint": str(ck), "samples": str(sample),
            "elapsed_s": round(self.elapsed, 1), "stopped_early": stopped_early, "last": running,
        }
        if stopped_early:
            print(f"stopped at step {self.step}/{cfg.steps}; continue with --resume {ck}", file=sys.stderr)
        else:
            summary["validation"] = self.validate()
            v = summary["validation"]
            print(f"validation on {v['images']} held-out photos: content {v['content']:.4g}, style {v['style']:.4g}",
                  file=sys.stderr)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1))
        return summary


def trained_params(net: TransformerNet, which: str) -> list[torch.nn.Parameter]:
    """`norms`: only the per-style scales and shifts of the conditional instance norms learn; the filters
    (how the net follows a moving picture) stay as they are and get no gradients."""
    if which == "all":
        return list(net.parameters())
    norms = {id(p) for m in net.modules() if isinstance(m, CondInstanceNorm) for p in (m.gamma, m.beta)}
    for p in net.parameters():
        p.requires_grad_(id(p) in norms)
    return [p for p in net.parameters() if id(p) in norms]


def shrink(img: torch.Tensor, scale: float) -> torch.Tensor:
    """`img` (N, C, H, W) scaled by `scale` <= 1 with an antialiased bilinear filter.

    `--style-scale`: style terms that see the output at half size against the painting at --style-size
    ask for its marks twice as large, and for nothing finer than 2 px, which is what flicker costs most:
    the warping error of a texture grows with its gradient, so a fraction of a pixel of flow error or of
    sub-pixel motion changes a fine mark a lot (docs/training.md, "Strokes sized for the frame")."""
    with torch.autocast(img.device.type, enabled=False):  # the antialiased filter has no bf16 kernel on the CPU
        return resize_long(img.float(), round(max(img.shape[-2:]) * scale))


def hardware_string(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    import os
    return f"{platform.processor() or platform.machine()} CPU x{os.cpu_count()} (torch {torch.__version__})"


CHECKPOINT_FORMAT = "stylecam-checkpoint-1"  # full: weights, optimiser, history, rng
STATE_FORMAT = "stylecam-state-1"            # small: fp16 weights and progress, kept in the repository


def save_atomic(obj: dict, path: Path) -> None:
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: str | Path) -> dict:
    """A full checkpoint or a small state; plain tensors and Python values only (weights_only)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint not found: {p}")
    try:
        ck = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, not a torch file, or holding arbitrary objects
        raise UserError(f"cannot read checkpoint {p}: not a stylecam checkpoint ({type(e).__name__})") from e
    if not isinstance(ck, dict) or ck.get("format") not in (CHECKPOINT_FORMAT, STATE_FORMAT):
        raise UserError(f"{p} is not a stylecam checkpoint")
    return ck


def fp32_weights(ck: dict) -> dict[str, torch.Tensor]:
    """The checkpoint's weights in fp32 (the small state keeps them in fp16)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()}


def build_from_checkpoint(ck: dict, encoder: VGG19Features | None = None) -> torch.nn.Module:
    """Rebuild the trained net (eval mode) from a checkpoint dict; an AdaIN net may share `encoder`
    (a VGG19 that reaches relu4_1) instead of building its own."""
    weights = fp32_weights(ck)
    if ck["kind"] == "adain":
        net = AdaINNet(float(ck.get("net_config", {}).get("decoder_width", 1.0)), encoder=encoder)
        net.decoder.load_state_dict(weights)
    else:
        net = TransformerNet(NetConfig(**ck["net_config"]))
        net.load_state_dict(weights)
    return net.eval()

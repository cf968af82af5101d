"""The style bank: every style the loaded models (and AdaIN style images) offer, numbered.

Users pick styles by the 1-based number `stylecam styles` prints, or by name; the
engine receives bank indices (0-based) and looks up which model file and which
column (CIN) or statistics (AdaIN) each one means.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import frames as fr
from .errors import UserError
from .files import write_atomic
from .modelfile import (ADAIN_BUILTIN, ModelInfo, STYLE_KINDS, builtin_adain_model, builtin_models, file_hash,
                        read_model_info)
from .session import cache_dir, make_session

log = logging.getLogger("stylecam")

Stats = tuple[np.ndarray, np.ndarray]  # (mean, std), float32 (512,) each


@dataclass(frozen=True)
class Style:
    """One selectable style. `column` is the CIN column or the AdaIN built-in index."""

    index: int
    name: str
    kind: str
    model: str
    column: int | None
    artist: str = ""
    title: str = ""
    year: str = ""
    image: str | None = None


def cuda_available() -> bool:
    """Best guess whether CUDA inference is possible (used only to pick a default model)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def default_model_paths(prefer_gpu: bool | None = None, folder: Path | None = None) -> list[Path]:
    """Built-in models for this machine: `gpu-*` ones when CUDA is usable, else `cpu-*`.

    Models without a cpu-/gpu- prefix are always included; when none matches the
    preferred prefix, the other prefix is used rather than nothing.
    """
    found = [p for p in builtin_models(folder) if p.name != ADAIN_BUILTIN]
    if not found:
        raise UserError("no built-in models are installed; pass a model file with --model path/to/model.onnx")
    gpu = cuda_available() if prefer_gpu is None else prefer_gpu
    want, other = ("gpu-", "cpu-") if gpu else ("cpu-", "gpu-")
    neutral = [p for p in found if not p.name.startswith(("cpu-", "gpu-"))]
    chosen = [p for p in found if p.name.startswith(want)] or [p for p in found if p.name.startswith(other)]
    return chosen + neutral


class StyleBank:
    """All styles from a list of model files plus optional AdaIN style pictures.

    Style pictures (files or folders of them) run on the first adain model given,
    else on the built-in one. With pictures and no models, the bank holds just the
    pictures, so hotkeys 1-9 and n/p go through them.
    """

    def __init__(
        self,
        models: Sequence[str | os.PathLike[str]] | None = None,
        style_images: Sequence[str | os.PathLike[str]] = (),
        *,
        cache: Path | None = None,
        encoder_factory: Callable[[str], object] | None = None,
        models_dir: Path | None = None,
        memory: dict[tuple[str, str], Stats] | None = None,
    ) -> None:
        from .sources import list_pictures

        pictures = [f for img in style_images for f in list_pictures(img)]
        builtin_adain = builtin_adain_model(models_dir) if pictures else None
        if models:
            paths = [Path(m) for m in models]
        elif pictures and builtin_adain is not None:
            paths = []
        else:
            paths = default_model_paths(folder=models_dir)
        self._infos: dict[str, ModelInfo] = {}
        self._stats: dict[int, Stats] = {}
        self._cache = cache or cache_dir()
        self._encoder_factory = encoder_factory
        # style-picture statistics: process-wide by default, so a second bank never re-encodes
        self._memory = _MEMORY if memory is None else memory
        styles: list[Style] = []
        adain_model: ModelInfo | None = None
        for p in paths:
            info = read_model_info(p)
            if info.kind not in STYLE_KINDS:
                raise UserError(f"{p} is an {info.kind} model, not a style model; pass the adain model that uses it instead")
            if info.path in self._infos:
                continue
            self._infos[info.path] = info
            if info.kind == "adain":
                adain_model = adain_model or info
            for col, meta in enumerate(info.styles):
                column = None if info.kind == "feedforward" else col
                style = Style(len(styles), str(meta.get("name") or f"{info.name}-{col + 1}"), info.kind, info.path,
                              column, str(meta.get("artist", "")), str(meta.get("title", "")), str(meta.get("year", "")))
                styles.append(style)
                if info.kind == "adain":
                    self._stats[style.index] = _stats_from_meta(meta, info.path, style.name)
                if info.kind == "feedforward":
                    break  # one style per feedforward file, whatever the list says
        if pictures:
            if adain_model is None and builtin_adain is not None:
                adain_model = read_model_info(builtin_adain)
                self._infos.setdefault(adain_model.path, adain_model)
            if adain_model is None:
                raise UserError("--style-image needs an AdaIN model and this install has no built-in one; "
                                "pass one with --model path/to/adain.onnx")
            seen: set[str] = {s.name for s in styles}
            for ip in pictures:
                name = ip.stem if ip.stem not in seen else f"{ip.parent.name}/{ip.stem}"
                seen.add(name)
                style = Style(len(styles), name, "adain", adain_model.path, None, image=str(ip))
                self._stats[style.index] = self._encode_cached(adain_model, ip)
                styles.append(style)
        if not styles:
            raise UserError("the given models offer no styles; pass a feedforward, cin or adain model with --model")
        self._styles = tuple(styles)

    # -- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._styles)

    def __getitem__(self, index: int) -> Style:
        return self._styles[index]

    def __iter__(self):
        return iter(self._styles)

    @property
    def styles(self) -> tuple[Style, ...]:
        return self._styles

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        """The model files in the bank, in the order given."""
        return tuple(self._infos.values())

    def model_info(self, path: str) -> ModelInfo:
        return self._infos[path]

    def adain_stats(self, index: int) -> Stats:
        """(mean, std) of an AdaIN style, built-in or from a style image."""
        return self._stats[index]

    def find(self, spec: str | int) -> Style:
        """A style by 1-based number (as `stylecam styles` prints) or by name (case-insensitive)."""
        text = str(spec).strip()
        if text.isdigit():
            n = int(text)
            if 1 <= n <= len(self._styles):
                return self._styles[n - 1]
            raise UserError(f"style number {n} is out of range; pick 1..{len(self._styles)} (see `stylecam styles`)")
        low = text.lower()
        for s in self._styles:
            if s.name.lower() == low:
                return s
        for s in self._styles:  # "model-name/style-name" disambiguates duplicates
            if f"{self._infos[s.model].name}/{s.name}".lower() == low:
                return s
        names = ", ".join(s.name for s in self._styles[:6]) + (", ..." if len(self._styles) > 6 else "")
        raise UserError(f"unknown style {text!r}; known styles: {names} (see `stylecam styles`)")

    # -- AdaIN style images ------------------------------------------------------------
    def _encode_cached(self, model: ModelInfo, image: Path) -> Stats:
        if not image.is_file():
            raise UserError(f"style picture {image} does not exist; pass an existing image to --style-image")
        enc = model.encoder_path
        if not enc or not Path(enc).is_file():
            raise UserError(f"{model.path} names encoder {model.encoder!r}, which is missing; put it beside the model")
        key = (file_hash(image), file_hash(enc))
        if key in self._memory:
            return self._memory[key]
        disk = self._cache / f"adain-{key[0][:20]}-{key[1][:20]}.npz"
        stats: Stats | None = None
        if disk.is_file():
            try:
                with np.load(disk) as z:
                    stats = (z["mean"].astype(np.float32), z["std"].astype(np.float32))
            except Exception:  # a broken cache entry is recomputed, never fatal
                stats = None
        if stats is None:
            stats = self._encode(enc, image)
            try:
                disk.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(disk, lambda tmp: np.savez(tmp, mean=stats[0], std=stats[1]))
            except OSError as e:
                log.warning("could not cache style statistics in %s: %s", disk.parent, e)
        self._memory[key] = stats
        return stats

    def _encode(self, encoder_path: str, image: Path) -> Stats:
        from .sources import read_picture

        rgb = read_picture(image, "style picture", min_side=MIN_STYLE_SIDE)
        if self._encoder_factory is not None:
            encoder = self._encoder_factory(encoder_path)
        else:
            encoder = StyleEncoder(encoder_path)
        mean, std = encoder.encode(rgb)  # type: ignore[attr-defined]
        return np.asarray(mean, np.float32).reshape(-1), np.asarray(std, np.float32).reshape(-1)


_MEMORY: dict[tuple[str, str], Stats] = {}
# Below this a picture has no texture left to copy: its statistics would be those of a blur.
MIN_STYLE_SIDE = 32


def _stats_from_meta(meta: dict, path: str, name: str) -> Stats:
    try:
        mean = np.asarray(meta["mean"], np.float32).reshape(-1)
        std = np.asarray(meta["std"], np.float32).reshape(-1)
    except (KeyError, ValueError, TypeError):
        raise UserError(f"{path}: AdaIN style {name!r} lacks mean/std in its metadata; re-export the model") from None
    if mean.shape != std.shape or mean.size == 0:
        raise UserError(f"{path}: AdaIN style {name!r} has mismatched mean/std; re-export the model")
    return mean, std


class StyleEncoder:
    """Runs an `adain_encoder` model once per style image to get its (mean, std)."""

    LONG_SIDE = 512

    def __init__(self, path: str, device: str = "cpu") -> None:
        info = read_model_info(path)
        if info.kind != "adain_encoder":
            raise UserError(f"{path} is a {info.kind} model, not an adain_encoder; check the adain model's stylecam.encoder")
        self.session = make_session(info.path, device)

    def encode(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = fr.check_frame(image)
        h, w = image.shape[:2]
        scale = self.LONG_SIDE / max(h, w)
        image = fr.resize(image, (max(32, round(w * scale)), max(32, round(h * scale))))
        mean, std = self.session.run(["mean", "std"], {"image": fr.to_nchw(image)})
        return mean[0].astype(np.float32), std[0].astype(np.float32)

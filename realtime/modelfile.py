"""Reading stylecam ONNX model files: metadata, validation, built-in discovery.

The ONNX metadata (docs/model-format.md) is the only thing realtime/ knows about a
model. It is read through onnxruntime so the runtime needs neither torch nor onnx.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError, first_line

FORMAT_VERSION = "1"
KINDS = ("feedforward", "cin", "adain", "adain_encoder")
STYLE_KINDS = ("feedforward", "cin", "adain")
# The tile ports (docs/model-format.md, "Tile statistics"): inputs, and the output after `stylized`.
TILE_INPUTS, TILE_OUTPUT = ("norm_stats", "norm_mix"), "tile_stats"


def tile_feeds(size: int, given: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The tile ports' inputs for a graph normalising K = `size` channels: the picture's own
    statistics (given None), or `given` (1, 2K)."""
    if given is None:
        return {"norm_stats": np.zeros((1, 2 * size), np.float32), "norm_mix": np.zeros(1, np.float32)}
    return {"norm_stats": np.asarray(given, np.float32).reshape(1, -1), "norm_mix": np.ones(1, np.float32)}


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (parsed `stylecam.*` metadata)."""

    path: str
    kind: str
    name: str
    styles: tuple[dict[str, Any], ...]
    size_multiple: int = 1
    min_size: int = 1
    precision: str = "fp32"
    encoder: str | None = None
    tiles: str | None = None  # companion file with the tile ports (docs/model-format.md, "Tile statistics")
    norm_stats: int = 0       # K when this graph itself has the tile ports
    metadata: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def encoder_path(self) -> str | None:
        """The adain_encoder file beside an adain model (metadata names it relative to the folder)."""
        if not self.encoder:
            return None
        return str(Path(self.path).parent / self.encoder)

    @property
    def tiles_path(self) -> str | None:
        """The graph that takes whole-picture normalisation statistics: this file, its companion, or none
        (files exported before tile statistics: their tiles keep their own)."""
        if self.norm_stats:
            return self.path
        if self.tiles and (Path(self.path).parent / self.tiles).is_file():
            return str(Path(self.path).parent / self.tiles)
        return None


def builtin_model_dir() -> Path:
    """The `realtime/models/` package folder, where shipped models live."""
    return Path(str(resources.files("stylecam.realtime.models")))


def is_companion(path: str | os.PathLike[str]) -> bool:
    """fp16 and int8 variants, tile graphs and AdaIN encoders sit beside models but are not styles themselves."""
    name = Path(path).name
    return name.endswith((".fp16.onnx", ".int8.onnx", ".tiles.onnx")) or "adain_encoder" in name


# The built-in AdaIN model: used for --style-image pictures, never one of the default styles
# (it is far slower than the real-time nets, and its own styles repeat theirs).
ADAIN_BUILTIN = "adain.onnx"


def builtin_adain_model(folder: Path | None = None) -> Path | None:
    p = (folder or builtin_model_dir()) / ADAIN_BUILTIN
    return p if p.is_file() else None


def builtin_models(folder: Path | None = None) -> list[Path]:
    """Style models shipped in `folder` (default: the package), sorted, companions skipped."""
    folder = folder or builtin_model_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.onnx") if not is_companion(p))


def fp16_variant(path: str | os.PathLike[str]) -> Path | None:
    """`<name>.fp16.onnx` beside `<name>.onnx`, if shipped."""
    p = Path(path)
    if p.name.endswith(".fp16.onnx"):
        return p
    cand = p.with_name(p.name[: -len(".onnx")] + ".fp16.onnx") if p.name.endswith(".onnx") else None
    return cand if cand is not None and cand.is_file() else None


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's content, for content-keyed caches."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _int(meta: dict[str, str], key: str, default: int, path: str, least: int = 1) -> int:
    try:
        return max(least, int(meta.get(key, default)))
    except ValueError:
        raise UserError(f"{path}: metadata {key}={meta.get(key)!r} is not a number; re-export the model") from None


@lru_cache(maxsize=64)
def _read(path: str, mtime_ns: int, size: int) -> ModelInfo:
    import onnxruntime as ort  # deferred: `stylecam --help` should not load it

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # No graph optimisation: we only want the metadata, quickly.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several unrelated types for bad files
        raise UserError(f"cannot load model {path}: {first_line(e)}; pass a valid stylecam .onnx file") from None
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    return parse_metadata(path, meta)


def parse_metadata(path: str, meta: dict[str, str]) -> ModelInfo:
    """Validate `stylecam.*` metadata and build a ModelInfo."""
    version = meta.get("stylecam.format_version")
    if version is None:
        raise UserError(f"{path} is not a stylecam model (no stylecam.format_version metadata); export it with `stylecam export`")
    if version != FORMAT_VERSION:
        raise UserError(
            f"{path} has model format version {version}, this stylecam reads version {FORMAT_VERSION}; "
            "upgrade stylecam or re-export the model")
    kind = meta.get("stylecam.kind", "")
    if kind not in KINDS:
        raise UserError(f"{path} has unknown model kind {kind!r} (known: {', '.join(KINDS)}); re-export the model")
    try:
        styles = json.loads(meta.get("stylecam.styles", "[]"))
        if not isinstance(styles, list) or not all(isinstance(s, dict) for s in styles):
            raise ValueError
    except ValueError:
        raise UserError(f"{path}: metadata stylecam.styles is not a JSON list of objects; re-export the model") from None
    if kind in STYLE_KINDS and kind != "adain" and not styles:
        raise UserError(f"{path}: a {kind} model must list at least one style in stylecam.styles; re-export it")
    return ModelInfo(
        path=path,
        kind=kind,
        name=meta.get("stylecam.name") or Path(path).stem,
        styles=tuple(styles),
        size_multiple=_int(meta, "stylecam.size_multiple", 1, path),
        min_size=_int(meta, "stylecam.min_size", 1, path),
        precision=meta.get("stylecam.precision", "fp32"),
        encoder=meta.get("stylecam.encoder") or None,
        tiles=meta.get("stylecam.tiles") or None,
        norm_stats=_int(meta, "stylecam.norm_stats", 0, path, least=0),
        metadata=meta,
    )


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Load and validate a model file's metadata (cached per path + mtime + size)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file {p} does not exist; pass an existing .onnx file to --model")
    st = p.stat()
    return _read(str(p.resolve()), st.st_mtime_ns, st.st_size)

"""Inference: style mixes in, stylized RGB frames out, through onnxruntime.

One onnxruntime session per model file (lazy, cached). A mix of styles of the same
CIN model is one run with a blended `style_weights` vector; AdaIN styles blend their
statistics; styles in different files run each file and blend the pictures (that is
how crossfades between files work).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import frames as fr
from . import tiles
from .devices import AUTO_ORDER, DEVICES, PROVIDER
from .errors import UserError
from .modelfile import TILE_INPUTS, TILE_OUTPUT, ModelInfo, fp16_variant, read_model_info, tile_feeds
from .session import cpu_threads, make_session
from .styles import StyleBank

log = logging.getLogger("stylecam")

# What each kind's graph must take (docs/model-format.md): checked when a session starts, so a file
# whose metadata lies fails with one line then, not with an onnxruntime traceback at the first frame.
MODEL_INPUTS = {"feedforward": {"image"}, "cin": {"image", "style_weights"},
                "adain": {"image", "style_mean", "style_std", "alpha"}}


class Engine(Protocol):
    """Anything that turns a frame plus a style mix into a stylized frame of the same size."""

    bank: StyleBank
    device: str

    def stylize(self, frame: np.ndarray, mix: Mapping[int, float], *, strength: float = 1.0,
                preserve_color: bool = False, alpha: float = 1.0) -> np.ndarray: ...


class _Runner:
    """One model file on one device; on GPUs, inputs/outputs stay in reused device buffers."""

    def __init__(self, info: ModelInfo, device: str, threads: int | None, session: Any = None) -> None:
        self.info = info
        self.device = device
        path = info.path
        if device == "cuda":
            half = fp16_variant(path)
            if half is not None and half != Path(path):
                path = str(half)
                log.info("using fp16 variant %s", half.name)
        self.session = session if session is not None else make_session(path, device, threads)
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = outputs[0]
        self.input_names = {i.name for i in self.session.get_inputs()}
        # a graph with the tile ports (metadata stylecam.norm_stats = K) takes those besides
        needs = MODEL_INPUTS.get(info.kind, set()) | (set(TILE_INPUTS) if info.norm_stats else set())
        missing = needs - self.input_names
        if missing or self.output != "stylized" or (info.norm_stats and TILE_OUTPUT not in outputs):
            want = "'stylized'" + (f", {TILE_OUTPUT!r}" if info.norm_stats else "")
            raise UserError(f"{info.path} says it is a {info.kind} model, but its graph has inputs "
                            f"{sorted(self.input_names)} and outputs {outputs} (needs {sorted(needs)} "
                            f"-> {want}); re-export it with `stylecam export`")
        # a graph with tile ports runs each picture on its own statistics unless handed others
        self._own_stats = tile_feeds(info.norm_stats) if info.norm_stats else {}
        self._binding = None
        self._buffers: dict[str, Any] = {}
        self._bound_lock = threading.Lock()  # one set of device buffers: bound runs take turns

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {**self._own_stats, **{k: v for k, v in feeds.items() if k in self.input_names}}
        if self.device == "cpu":
            return self.session.run([self.output], feeds)[0]  # onnxruntime takes concurrent runs
        with self._bound_lock:
            return self._run_bound(feeds)

    def run_with_stats(self, feeds: dict[str, np.ndarray], given: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """A tile graph run: normalised on `given` statistics (None: the picture's own); the picture and
        the statistics it had. Unbound: tiles are offline work, and the stats are a few floats."""
        feeds = {**{k: v for k, v in feeds.items() if k in self.input_names},
                 **tile_feeds(self.info.norm_stats, given)}
        out, stats = self.session.run([self.output, TILE_OUTPUT], feeds)
        return out, stats

    def _buffer(self, name: str, shape: tuple[int, ...]):
        import onnxruntime as ort

        buf = self._buffers.get(name)
        if buf is None or tuple(buf.shape()) != shape:  # reallocate only on shape change
            buf = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), np.float32, "cuda", 0)
            self._buffers[name] = buf
            self._binding = None
        return buf

    def _run_bound(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        bufs = {}
        for name, arr in feeds.items():
            buf = self._buffer(name, tuple(arr.shape))
            buf.update_inplace(np.ascontiguousarray(arr, np.float32))
            bufs[name] = buf
        out = self._buffer("__out__", tuple(feeds["image"].shape))
        if self._binding is None:
            b = self.session.io_binding()
            for name, buf in bufs.items():
                b.bind_ortvalue_input(name, buf)
            b.bind_ortvalue_output(self.output, out)
            self._binding = b
        self.session.run_with_iobinding(self._binding)
        return out.numpy()


class OrtEngine:
    """The onnxruntime engine: see the module docstring for how mixes map to runs.

    `stylize` may be called from several threads at once (the pipeline's frame workers): CPU
    sessions run concurrently, each run on its caller's thread plus `threads` - 1 of its own."""

    def __init__(self, bank: StyleBank, device: str = "auto", *, threads: int | None = None,
                 tiling: tiles.Tiling = tiles.Tiling()) -> None:
        if device not in DEVICES:
            raise UserError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
        self.bank = bank
        self.threads = threads
        self.tiling = tiling  # frames above tiling.above pixels run in tiles (realtime/tiles.py)
        self._runners: dict[str, _Runner] = {}
        self._runners_lock = threading.Lock()  # a model's session starts once, whoever asks first
        first = bank.models[0]
        if device == "auto":
            self.device = self._auto(first)
            log.info("stylecam: using device %s", self.device)
        else:
            self.device = device
            self._runner(first.path)  # fail now, not at the first frame

    def _auto(self, first: ModelInfo) -> str:
        import onnxruntime as ort

        avail = set(ort.get_available_providers())
        tried = []
        for dev in AUTO_ORDER:
            if PROVIDER[dev] not in avail:
                continue
            try:
                self._runners[first.path] = _Runner(first, dev, self.threads)
                return dev
            except UserError as e:
                tried.append(f"{dev}: {e}")
                if dev == "cpu":
                    raise
        raise UserError("no onnxruntime device could load the model; " + "; ".join(tried))

    @property
    def cpu_threads(self) -> int | None:
        """Intra-op threads of the CPU sessions; None on a GPU."""
        return cpu_threads(self.threads) if self.device == "cpu" else None

    def _runner(self, path: str, read: Callable[[str], ModelInfo] | None = None) -> _Runner:
        """The cached runner of a model file (`read` gives the info of files outside the bank)."""
        r = self._runners.get(path)
        if r is None:
            with self._runners_lock:
                r = self._runners.get(path)
                if r is None:
                    r = self._runners[path] = _Runner((read or self.bank.model_info)(path), self.device, self.threads)
        return r

    def _tile_runner(self, path: str) -> _Runner:
        """The graph that takes whole-picture statistics; the plain one for files that have none."""
        tiles_path = self.bank.model_info(path).tiles_path
        if tiles_path is None or tiles_path == path:
            return self._runner(path)
        return self._runner(tiles_path, read_model_info)  # a companion, not in the bank

    def check_size(self, width: int, height: int, paths: Iterable[str] | None = None) -> None:
        """UserError when a working size is below a model's `stylecam.min_size`."""
        for path in paths if paths is not None else (m.path for m in self.bank.models):
            info = self.bank.model_info(path)
            if min(width, height) < info.min_size:
                raise UserError(f"frame {width}x{height} is smaller than model {info.name}'s minimum of "
                                f"{info.min_size} px; use a larger --size")

    def stylize(self, frame: np.ndarray, mix: Mapping[int, float], *, strength: float = 1.0,
                preserve_color: bool = False, alpha: float = 1.0) -> np.ndarray:
        frame = fr.check_frame(frame)
        groups = self._groups(mix)
        h, w = frame.shape[:2]
        self.check_size(w, h, groups)
        if h * w > self.tiling.above:
            def run(tile: np.ndarray, given: tiles.Stats | None) -> tuple[np.ndarray, tiles.Stats]:
                seen: tiles.Stats = {}
                return self._stylize(tile, groups, strength, preserve_color, alpha, given, seen), seen
            return tiles.stylize_tiled(frame, run, self.tiling)
        return self._stylize(frame, groups, strength, preserve_color, alpha)

    def _stylize(self, frame: np.ndarray, groups: dict[str, list[tuple[Any, float]]], strength: float,
                 preserve_color: bool, alpha: float, given: tiles.Stats | None = None,
                 seen: tiles.Stats | None = None) -> np.ndarray:
        """One picture through each model of the mix. `seen` (a tile of a larger picture): run the tile
        graphs, normalised on `given` statistics where there are some, and collect what each model saw."""
        h, w = frame.shape[:2]
        acc: np.ndarray | None = None
        prepared: dict[int, np.ndarray] = {}
        for path, items in groups.items():
            info = self.bank.model_info(path)
            x = prepared.get(info.size_multiple)
            if x is None:
                padded, _ = fr.pad_to_multiple(frame, info.size_multiple)
                x = prepared[info.size_multiple] = fr.to_nchw(padded)
            gw = sum(wt for _, wt in items)
            feeds: dict[str, np.ndarray] = {"image": x}
            if info.kind == "cin":
                sw = np.zeros((1, len(info.styles)), np.float32)
                for style, wt in items:
                    sw[0, style.column] += wt / gw
                feeds["style_weights"] = sw
            elif info.kind == "adain":
                mean = sum(self.bank.adain_stats(s.index)[0] * (wt / gw) for s, wt in items)
                std = sum(self.bank.adain_stats(s.index)[1] * (wt / gw) for s, wt in items)
                feeds["style_mean"] = np.asarray(mean, np.float32)[None]
                feeds["style_std"] = np.asarray(std, np.float32)[None]
                feeds["alpha"] = np.array([np.clip(alpha, 0.0, 1.0)], np.float32)
            if seen is None:
                y = self._runner(path).run(feeds)
            else:
                runner = self._tile_runner(path)
                if runner.info.norm_stats:
                    y, seen[path] = runner.run_with_stats(feeds, (given or {}).get(path))
                else:
                    y = runner.run(feeds)
            y = y[0]  # (3, H, W): mixing stays planar, the way back to HWC uint8 is one pass at the end
            if len(groups) > 1:
                y = y * gw
            acc = y if acc is None else acc + y
        assert acc is not None
        out = fr.nchw_to_uint8(acc, h, w)
        if preserve_color:
            out = fr.preserve_color(frame, out)
        return fr.blend(frame, out, strength)

    def _groups(self, mix: Mapping[int, float]) -> dict[str, list[tuple[Any, float]]]:
        """Normalise the mix to convex weights and group it by model file."""
        items = [(int(i), float(wt)) for i, wt in mix.items() if float(wt) > 0.0]
        if any(float(wt) < 0.0 for wt in mix.values()):
            raise ValueError(f"style weights must be >= 0, got {dict(mix)}")
        total = sum(wt for _, wt in items)
        if not items or total <= 0.0:
            raise ValueError("the style mix is empty; give at least one style a positive weight")
        groups: dict[str, list[tuple[Any, float]]] = {}
        for i, wt in items:
            if not 0 <= i < len(self.bank):
                raise ValueError(f"style index {i} is not in the bank (0..{len(self.bank) - 1})")
            style = self.bank[i]
            groups.setdefault(style.model, []).append((style, wt / total))
        return groups

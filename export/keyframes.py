"""`stylecam keyframe`: Gatys-stylise an image, a folder of images, or keyframes of a video.

Keyframes come every N seconds or at scene cuts (HSV histogram jumps between
consecutive frames). Each result is written atomically as key_NNNN.png, and
keyframes.json indexes them with their source, time, frame index and every
setting, so a run can be audited or repeated.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import cv2
import numpy as np
import torch

from stylecam.realtime.files import write_atomic
from stylecam.realtime.sources import IMAGE_SUFFIXES

from .data import read_image, to_tensor, to_uint8
from .errors import EXIT_INTERRUPTED, EXIT_USER, UserError
from .gatys import (COLOR_SPACES, HIST_METHODS, OPTIMIZERS, PRESERVE_COLOR, GatysConfig, GatysResult, Style,
                    fine_coarse_styles, stylize)
from .losses import CONTENT_LAYERS, STYLE_LAYERS_GRAM
from .vgg import canonical

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
INDEX_NAME = "keyframes.json"


# ---------------------------------------------------------------- image files

def read_mask(path: str | Path, what: str = "mask") -> np.ndarray:
    """Float32 (H,W) in [0,1] from any grayscale or colour image (colour is converted to grey)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {str(p)!r} does not exist or is not a file")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise UserError(f"{what} {str(p)!r} is not a readable image")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / scale


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Encode first, then write to a temp name and rename: readers never see half a file."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 failure
        raise UserError(f"could not encode {path.name}")
    write_atomic(path, lambda tmp: tmp.write_bytes(buf.tobytes()))


# ---------------------------------------------------------------- frame sources

@dataclass
class Frame:
    rgb: np.ndarray
    source: str
    timestamp: float | None = None
    frame_index: int | None = None


def hsv_histogram(rgb: np.ndarray, bins: int = 16) -> np.ndarray:
    """Hue-saturation joint histogram plus value histogram, each summing to 1, on a small copy
    (cuts are a global colour change; detail and noise only add false positives)."""
    h, w = rgb.shape[:2]
    s = 160 / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [bins, bins], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [bins], [0, 256]).ravel()
    return np.concatenate([hs / max(hs.sum(), 1), v / max(v.sum(), 1)])


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of the total-variation distances of the two histograms: 0 same, 1 disjoint."""
    return float(0.5 * np.abs(a - b).sum() / 2)


def video_frames(path: Path, every: float | None = None, cuts: bool = False,
                 threshold: float = 0.4, min_gap: float = 0.5) -> Iterator[Frame]:
    """Keyframes of a video: the first frame, then one every ``every`` s, or one after each cut."""
    import av  # lazy: PyAV is only needed for video

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise UserError(f"input {str(path)!r} is not a readable image or video ({e})") from e
    with container:
        if not container.streams.video:
            raise UserError(f"input {str(path)!r} has no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        next_t = 0.0
        prev_hist: np.ndarray | None = None
        last_key = -1e9
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else i / fps
                take = False
                if cuts:
                    hist = hsv_histogram(frame.to_ndarray(format="rgb24", width=min(frame.width, 160),
                                                          height=max(1, round(frame.height * min(frame.width, 160) / frame.width))))
                    take = prev_hist is None or (histogram_distance(prev_hist, hist) > threshold and t - last_key >= min_gap)
                    prev_hist = hist
                else:
                    step = every if every else 2.0
                    if t + 1e-6 >= next_t:
                        take = True
                        while next_t <= t + 1e-6:
                            next_t += step
                if take:
                    last_key = t
                    yield Frame(frame.to_ndarray(format="rgb24"), str(path), round(t, 6), i)
        except av.error.FFmpegError as e:
            raise UserError(f"video {str(path)!r} could not be decoded ({e})") from e


def input_frames(src: Path, every: float | None, cuts: bool, threshold: float, min_gap: float) -> tuple[str, Iterator[Frame]]:
    """(kind, frames) for an image file, a folder of images, or a video."""
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"folder {str(src)!r} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return "folder", (Frame(read_image(p, "input image"), str(p)) for p in files)
    if not src.exists():
        raise UserError(f"input {str(src)!r} does not exist")
    ext = src.suffix.lower()
    if ext in IMAGE_SUFFIXES:
        return "image", iter([Frame(read_image(src, "input image"), str(src))])
    if ext in VIDEO_EXTS:
        return "video", video_frames(src, every, cuts, threshold, min_gap)
    data = np.fromfile(str(src), dtype=np.uint8)  # unknown extension: sniff image, then video
    if data.size and cv2.imdecode(data, cv2.IMREAD_COLOR) is not None:
        return "image", iter([Frame(read_image(src, "input image"), str(src))])
    frames = video_frames(src, every, cuts, threshold, min_gap)
    try:
        first = next(frames)
    except StopIteration:
        raise UserError(f"input {str(src)!r} is not a readable image or video") from None

    def chained() -> Iterator[Frame]:
        yield first
        yield from frames
    return "video", chained()


# ---------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other user error
        raise UserError(message)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="stylecam keyframe",
                description="Gatys style transfer for stills and video keyframes (slow, high quality).")
    p.add_argument("input", help="image, folder of images, or video")
    p.add_argument("-o", "--output", required=True, help="output folder (key_0001.png ..., keyframes.json)")
    st = p.add_argument_group("style")
    st.add_argument("-s", "--style", action="append", default=[], help="style image (repeat for several)")
    st.add_argument("--style-blend", type=_floats, help="one weight per --style for mixing their Gram targets, e.g. 0.7,0.3")
    st.add_argument("--mask", action="append", default=[],
                    help="grayscale mask per --style: where in the output that style goes (spatial control)")
    st.add_argument("--style-mask", action="append", default=[], help="grayscale mask per --style over the style image")
    st.add_argument("--mask-resize", action="store_true", help="resize masks whose size differs from the content's")
    st.add_argument("--fine-style", help="image giving fine-scale style (layers relu1_1, relu2_1)")
    st.add_argument("--coarse-style", help="image giving coarse-scale style (the other style layers)")
    st.add_argument("--style-scale", type=float, default=1.0, help="style long side relative to the working size")
    lo = p.add_argument_group("loss")
    lo.add_argument("--content-layers", type=_names, default=list(CONTENT_LAYERS), help="default relu4_2")
    lo.add_argument("--style-layers", type=_names, default=list(STYLE_LAYERS_GRAM), help="default relu1_1,...,relu5_1")
    lo.add_argument("--layer-weights", type=_floats, help="one weight per style layer (default 1 each)")
    d = GatysConfig()
    lo.add_argument("--content-weight", type=float, default=d.content_weight)
    lo.add_argument("--style-weight", type=float, default=d.style_weight)
    lo.add_argument("--tv-weight", type=float, default=d.tv_weight)
    co = p.add_argument_group("colour")
    co.add_argument("--preserve-color", choices=PRESERVE_COLOR, default="none",
                    help="luminance: transfer on luminance only; histogram: match the style's colours to the content first")
    co.add_argument("--color-space", choices=COLOR_SPACES, default="yiq", help="for --preserve-color luminance")
    co.add_argument("--hist-method", choices=HIST_METHODS, default="cholesky", help="for --preserve-color histogram")
    op = p.add_argument_group("optimisation")
    op.add_argument("--init", default="content", help="content, noise, or an image path")
    op.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    op.add_argument("--lr", type=float, help="step size (default 1 for L-BFGS, 0.02 for Adam)")
    op.add_argument("--steps", type=_ints, default=[d.steps], help="steps per scale, or one count per scale")
    op.add_argument("--max-size", type=int, default=d.max_size, help="long side cap (px) without --scales")
    op.add_argument("--scales", type=_ints, help="coarse-to-fine long sides, e.g. 256,512")
    op.add_argument("--seed", type=int, default=0)
    op.add_argument("--device", default="auto", help="auto, cpu or cuda")
    op.add_argument("--threads", type=int, help="CPU threads for torch (1 is faster on a busy machine)")
    op.add_argument("--save-every", type=int, default=0, help="write intermediate images every K steps")
    vi = p.add_argument_group("video")
    sel = vi.add_mutually_exclusive_group()
    sel.add_argument("--every", type=float, help="keyframe every N seconds (default 2.0)")
    sel.add_argument("--cuts", action="store_true", help="keyframe at scene cuts instead")
    vi.add_argument("--cut-threshold", type=float, default=0.4, help="histogram distance in [0,1] that counts as a cut")
    vi.add_argument("--min-gap", type=float, default=0.5, help="seconds between cut keyframes at least")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def _styles(a: argparse.Namespace, content_hw: tuple[int, int], cache: dict[str, Any]) -> list[Style]:
    """Style sources from the arguments; images are read once and reused for every keyframe."""
    if "styles" not in cache:
        if a.fine_style or a.coarse_style:
            if not (a.fine_style and a.coarse_style):
                raise UserError("--fine-style and --coarse-style go together")
            if a.style or a.mask or a.style_mask:
                raise UserError("--fine-style/--coarse-style cannot be combined with --style, --mask or --style-mask")
            cache["styles"] = fine_coarse_styles(to_tensor(read_image(a.fine_style, "fine style image"))[None],
                                                 to_tensor(read_image(a.coarse_style, "coarse style image"))[None],
                                                 a.style_layers)
        else:
            if not a.style:
                raise UserError("give a style image with -s/--style (or --fine-style and --coarse-style)")
            n = len(a.style)
            blend = a.style_blend or [1.0] * n
            for opt, vals in (("--style-blend", blend), ("--mask", a.mask), ("--style-mask", a.style_mask)):
                if vals and len(vals) != n:
                    raise UserError(f"{len(vals)} {opt} value(s) for {n} style image(s); give one per --style")
            masks = [torch.from_numpy(read_mask(m)) for m in a.mask] or [None] * n
            smasks = [torch.from_numpy(read_mask(m, "style mask")) for m in a.style_mask] or [None] * n
            cache["styles"] = [Style(to_tensor(read_image(sp, "style image"))[None], w, m, sm, None, f"style {sp!r}")
                               for sp, w, m, sm in zip(a.style, blend, masks, smasks)]
            cache["mask_names"] = list(a.mask)
    styles = cache["styles"]
    for s, name in zip(styles, cache.get("mask_names", [])):
        if s.mask is not None and tuple(s.mask.shape[-2:]) != content_hw and not a.mask_resize:
            h, w = content_hw
            mh, mw = s.mask.shape[-2:]
            raise UserError(f"mask {name!r} is {mw}x{mh} but the content image is {w}x{h}; "
                            "make them the same size or pass --mask-resize")
    return styles


def _config(a: argparse.Namespace) -> GatysConfig:
    init: str | torch.Tensor = a.init
    if a.init not in ("content", "noise"):
        init = to_tensor(read_image(a.init, "init image"))[None]
    if a.scales and any(s <= 0 for s in a.scales):
        raise UserError(f"--scales must be positive sizes, got {a.scales}")
    for name in [*a.content_layers, *a.style_layers]:
        canonical(name)  # unknown layer names fail here, before any file is read
    if a.max_size < 16:
        raise UserError(f"--max-size must be at least 16, got {a.max_size}")
    return GatysConfig(content_layers=a.content_layers, style_layers=a.style_layers, style_layer_weights=a.layer_weights,
                       content_weight=a.content_weight, style_weight=a.style_weight, tv_weight=a.tv_weight, init=init,
                       optimizer=a.optimizer, lr=a.lr, steps=a.steps[0] if len(a.steps) == 1 else a.steps,
                       max_size=a.max_size, scales=a.scales, style_scale=a.style_scale, seed=a.seed, device=a.device,
                       preserve_color=a.preserve_color, color_space=a.color_space, hist_method=a.hist_method,
                       mask_resize=a.mask_resize, save_every=a.save_every)


def _settings(a: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(a).items() if k not in ("json", "quiet", "output", "input")}


class _Interrupt:
    """First Ctrl-C: finish the current keyframe, then stop. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False
        self._prev: Any = None

    def __enter__(self) -> "_Interrupt":
        try:
            self._prev = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: keep default behaviour
            self._prev = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("stylecam: interrupted; finishing the current keyframe (Ctrl-C again to stop now)", file=sys.stderr)

    def __exit__(self, *exc: Any) -> None:
        if self._prev is not None:
            signal.signal(signal.SIGINT, self._prev)


def run(a: argparse.Namespace, optimise: Callable[..., GatysResult] = stylize) -> dict[str, Any]:
    """Stylise every selected frame with `optimise` (gatys.stylize; tests pass a wrapper); returns the
    index written to keyframes.json."""
    src = Path(a.input)
    out = Path(a.output)
    if a.every is not None and a.every <= 0:
        raise UserError(f"--every must be positive seconds, got {a.every}")
    if not 0 < a.cut_threshold < 1:
        raise UserError(f"--cut-threshold must be in (0, 1), got {a.cut_threshold}")
    cfg = _config(a)
    if a.threads is not None:
        if a.threads < 1:
            raise UserError(f"--threads must be at least 1, got {a.threads}")
        torch.set_num_threads(a.threads)
    kind, frames = input_frames(src, a.every, a.cuts, a.cut_threshold, a.min_gap)
    cache: dict[str, Any] = {}
    first = next(frames, None)
    if first is None:
        raise UserError(f"no frames could be read from {str(src)!r}")
    _styles(a, first.rgb.shape[:2], cache)  # fail on bad styles/masks before writing anything
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"tool": "stylecam keyframe", "format": 1, "source": str(src.resolve()), "kind": kind,
                             "selection": ({"mode": "cuts", "threshold": a.cut_threshold, "min_gap": a.min_gap} if a.cuts
                                           else {"mode": "every", "seconds": a.every or 2.0}) if kind == "video" else None,
                             "settings": _settings(a), "complete": False, "keyframes": []}

    def frames_all() -> Iterator[Frame]:
        yield first
        yield from frames

    with _Interrupt() as stop:
        try:
            for n, fr in enumerate(frames_all(), start=1):
                name = f"key_{n:04d}.png"
                styles = _styles(a, fr.rgb.shape[:2], cache)
                t0 = time.perf_counter()
                snap = _snapshot_writer(out / "steps", name[:-4]) if a.save_every > 0 else None
                result = optimise(to_tensor(fr.rgb)[None], styles, cfg, on_snapshot=snap, progress=not a.quiet)
                write_png(out / name, to_uint8(result.image[0]))
                final = result.history[-1]
                index["keyframes"].append({
                    "file": name, "source": fr.source, "timestamp": fr.timestamp, "frame_index": fr.frame_index,
                    "size": [int(result.image.shape[-1]), int(result.image.shape[-2])], "seconds": round(time.perf_counter() - t0, 3),
                    "final_loss": {k: final[k] for k in ("content", "style", "tv", "total")},
                })
                _write_index(out, index)
                if stop.requested:
                    break
            else:
                index["complete"] = True
        except KeyboardInterrupt:
            stop.requested = True
        index["interrupted"] = stop.requested
        _write_index(out, index)
    return index


def _snapshot_writer(folder: Path, stem: str) -> Callable[[int, torch.Tensor], None]:
    """on_snapshot for --save-every: <folder>/<stem>_step<N>.png."""
    folder.mkdir(exist_ok=True)

    def snap(step: int, img: torch.Tensor) -> None:
        write_png(folder / f"{stem}_step{step:05d}.png", to_uint8(img[0]))
    return snap


def _write_index(out: Path, index: dict[str, Any]) -> None:
    data = (json.dumps(index, indent=2, default=str) + "\n").encode()
    write_atomic(out / INDEX_NAME, lambda tmp: tmp.write_bytes(data))


def main(argv: Sequence[str], optimise: Callable[..., GatysResult] = stylize) -> int:
    """Entry point for `stylecam keyframe ...`; returns the exit code (0, 2 user error, 130 interrupted)."""
    try:
        a = build_parser().parse_args(list(argv))
        index = run(a, optimise)
    except UserError as e:
        print("stylecam: error: " + " ".join(str(e).split()), file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:  # before any keyframe started
        print("stylecam: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if a.json:
        print(json.dumps({"output": str(Path(a.output).resolve()), "index": str(Path(a.output).resolve() / INDEX_NAME),
                          "count": len(index["keyframes"]), "interrupted": index["interrupted"],
                          "files": [k["file"] for k in index["keyframes"]]}))
    return EXIT_INTERRUPTED if index["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

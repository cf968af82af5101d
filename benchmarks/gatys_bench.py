"""Gatys optimisation on one photo and one painting: seconds per step and the loss curve.

    python benchmarks/gatys_bench.py [--content PHOTO] [--style PAINTING] [--size 512] [--steps 30]

Defaults are from ../shared/data (the skimage astronaut, NASA, public domain; The
Starry Night, public domain). The result goes to --out (default under /tmp).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylecam.export.errors import EXIT_USER, UserError  # noqa: E402
from stylecam.export.gatys import GatysConfig, Style, resolve_device, stylize  # noqa: E402
from stylecam.export.data import read_image, to_tensor, to_uint8  # noqa: E402
from stylecam.export.keyframes import write_png  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def default_content() -> Path:
    # The brief's name first; the shared set stores the astronaut as skimage_0001.jpg (see MANIFEST_content.csv).
    for name in ("skimage_astronaut.jpg", "skimage_0001.jpg"):
        if (DATA / "content" / name).exists():
            return DATA / "content" / name
    return DATA / "content" / "skimage_astronaut.jpg"


def curve(history: list[dict[str, float]], n_steps: int) -> list[dict[str, float]]:
    """Last scale: first, every 10% of the steps, and the loss of the returned image."""
    picks = sorted({min(n_steps, round(n_steps * k / 10)) for k in range(11)})
    last_scale = history[-1]["scale"]
    by_step = {int(h["step"]): h for h in history if h["scale"] == last_scale}
    return [{"step": s, **{k: by_step[s][k] for k in ("total", "content", "style", "tv")}} for s in picks if s in by_step]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", type=Path, default=default_content())
    p.add_argument("--style", type=Path, default=DATA / "styles" / "starry_night.jpg")
    p.add_argument("--size", type=int, default=512, help="working long side (content is resized to it)")
    p.add_argument("--steps", type=int, default=30, help="steps per scale")
    p.add_argument("--scales", help="coarse-to-fine long sides instead of --size, e.g. 256,512")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--init", default="content", choices=("content", "noise"))
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("/tmp/gatys_bench.png"))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    try:
        if a.threads:
            torch.set_num_threads(a.threads)
        content, style = to_tensor(read_image(a.content, "content"))[None], to_tensor(read_image(a.style, "style"))[None]
        scales = [int(v) for v in a.scales.split(",")] if a.scales else [a.size]
        cfg = GatysConfig(scales=scales, steps=a.steps, optimizer=a.optimizer, init=a.init, device=a.device,
                          save_every=1)
        stamps: list[float] = []
        t0 = time.perf_counter()
        result = stylize(content, [Style(style)], cfg, on_snapshot=lambda step, img: stamps.append(time.perf_counter()),
                         progress=not a.json)
        total_s = time.perf_counter() - t0
    except UserError as e:
        print(f"gatys_bench: error: {e}", file=sys.stderr)
        return EXIT_USER
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_png(a.out, to_uint8(result.image[0]))
    per_step = [b - s for s, b in zip(stamps, stamps[1:])]  # first step also pays warm-up; left out
    report = {
        "content": str(a.content), "style": str(a.style), "optimizer": a.optimizer, "init": a.init,
        "size": [int(result.image.shape[-1]), int(result.image.shape[-2])], "scales": scales, "steps": a.steps,
        "device": str(resolve_device(a.device)), "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "setup_s": round(stamps[0] - t0, 2) if stamps else None,
        "step_s_mean": round(statistics.mean(per_step), 3) if per_step else None,
        "step_s_median": round(statistics.median(per_step), 3) if per_step else None,
        "total_s": round(total_s, 1), "curve": curve(result.history, a.steps), "output": str(a.out),
        "coarse_final": [h for h in result.history if h["scale"] != scales[-1] and h["step"] == a.steps],
    }
    if a.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['content']} x {report['style']}: {report['size'][0]}x{report['size'][1]}, {a.steps} {a.optimizer} "
              f"steps per scale {scales} on {report['device']} ({report['threads']} threads)")
        for h in report["coarse_final"]:
            print(f"after the {int(h['scale'])} px stage: total {h['total']:.4g} (content {h['content']:.4g}, style {h['style']:.4g})")
        print(f"setup+first step {report['setup_s']} s; per step mean {report['step_s_mean']} s, "
              f"median {report['step_s_median']} s; total {report['total_s']} s")
        print(f"{'step':>5} {'total':>11} {'content':>11} {'style':>11} {'tv':>8}")
        for r in report["curve"]:
            print(f"{r['step']:>5} {r['total']:>11.4g} {r['content']:>11.4g} {r['style']:>11.4g} {r['tv']:>8.4f}")
        print(f"output: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

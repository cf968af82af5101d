"""Seconds per training step of `stylecam train adain` by precision, crop and decoder width, one run.

    python benchmarks/train_step.py                 # bf16 (where the CPU has it) against fp32
    python benchmarks/train_step.py --json

Uses a few photos and the 25 paintings of ../shared/data (any folders will do): the step cost
does not depend on how many there are, since features and statistics are encoded once up front.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stylecam.export.precision import cpu_has_bf16  # noqa: E402
from stylecam.export.train import TrainConfig, Trainer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CASES = [(0.5, 8, 128), (0.5, 4, 256), (1.0, 8, 128)]  # decoder width, batch, crop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content-dir", default=str(DATA / "content"))
    ap.add_argument("--style-dir", default=str(DATA / "styles"))
    ap.add_argument("--steps", type=int, default=6, help="timed steps per case (after 3 warm-up steps)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    precisions = ["bf16", "fp32"] if cpu_has_bf16() else ["fp32"]
    rows = []
    for prec in precisions:
        for width, batch, crop in CASES:
            cfg = TrainConfig(kind="adain", content_dir=args.content_dir, out=str(ROOT / "runs" / "bench-step"),
                              style_dir=args.style_dir, net={"decoder_width": width}, image_size=crop, batch=batch,
                              steps=0, max_images=40, checkpoint_every=0, sample_every=0, style_windows=0,
                              precision=prec)
            tr = Trainer(cfg, device="cpu")
            for _ in range(3):
                tr.train_step()
            t = time.perf_counter()
            for _ in range(args.steps):
                tr.train_step()
            rows.append({"precision": prec, "decoder_width": width, "batch": batch, "crop": crop,
                         "s_per_step": round((time.perf_counter() - t) / args.steps, 3)})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'precision':9} {'width':>5} {'batch':>5} {'crop':>5} {'s/step':>7}")
        for r in rows:
            print(f"{r['precision']:9} {r['decoder_width']:5} {r['batch']:5} {r['crop']:5} {r['s_per_step']:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

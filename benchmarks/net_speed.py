"""Every net kind export/ can make: parameters, multiply-adds per pixel, ONNX parity and
onnxruntime CPU ms per frame at 640x360. Untrained weights: speed does not depend on them.

    python benchmarks/net_speed.py [--size 640x360] [--runs 10] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from stylecam.export.nets import AdaINNet, NetConfig, TransformerNet, macs_per_pixel  # noqa: E402
from stylecam.export.onnx_export import export_adain, export_transformer  # noqa: E402
from model_speed import time_models  # noqa: E402
from sizes import frame_size  # noqa: E402

NETS = {
    "johnson feed-forward": NetConfig("johnson"),
    "johnson CIN (12 styles)": NetConfig("johnson", n_styles=12),
    "johnson half-width, 3 blocks": NetConfig("johnson", width=0.5, n_res=3),
    # the shipped CPU tier's shape (NET in scripts/train_cpu_tier.sh); release 4's was widths 16,48, reflect
    "fast CIN (12 styles, CPU tier)": NetConfig("fast", n_styles=12, widths=[12, 32], n_res=4, shuffle_out=True,
                                                 subpixel_up=True, padding="zeros"),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=frame_size, default="640x360", help="WIDTHxHEIGHT")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    w, h = args.size
    size = f"{w}x{h}"
    ck = {"step": 0, "config": {"image_size": 256}, "styles": [{"name": f"s{i}"} for i in range(12)]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in NETS.items():
            torch.manual_seed(0)
            net = TransformerNet(cfg).eval()
            path = Path(tmp) / "m.onnx"
            ck["styles"] = [{"name": f"s{i}", "artist": "", "title": "", "year": ""} for i in range(cfg.n_styles)]
            rep = export_transformer(ck, net, path, "bench", fp16=False)
            ms = time_models([str(path)], h, w, args.threads, args.runs)[0]
            rows.append({"net": name, "params": rep["params"], "macs_per_px": round(macs_per_pixel(net, 128, 128)),
                         "parity_max_abs": rep["fp32_max_abs_diff"], "ms": round(ms, 1), "fps": round(1000 / ms, 1)})
            print(rows[-1], file=sys.stderr)
        net = AdaINNet().eval()
        style = ROOT / "samples" / "coffee.jpg"
        rep = export_adain(ck, net, Path(tmp) / "adain.onnx", "bench", False, [str(style)])
        ms = time_models([str(Path(tmp) / "adain.onnx")], h, w, args.threads, max(3, args.runs // 3))[0]
        enc = sum(p.numel() for p in net.encoder.parameters())
        rows.append({"net": "AdaIN (VGG19 encoder to relu4_1 + decoder)", "params": rep["params"] + enc,
                     "macs_per_px": None, "parity_max_abs": rep["fp32_max_abs_diff"],
                     "encoder_parity_rel": rep["encoder_max_rel_diff"], "ms": round(ms, 1), "fps": round(1000 / ms, 1)})
    if args.json:
        print(json.dumps({"size": size, "threads": args.threads, "rows": rows}))
    else:
        print(f"onnxruntime CPU, {args.threads} threads, {size}, median of {args.runs}")
        print(f"{'net':44} {'params':>9} {'MAC/px':>8} {'parity':>9} {'ms':>8} {'fps':>6}")
        for r in rows:
            mac = f"{r['macs_per_px']:,}" if r["macs_per_px"] else "-"
            print(f"{r['net']:44} {r['params']:>9,} {mac:>8} {r['parity_max_abs']:>9.1e} {r['ms']:>8.1f} {r['fps']:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

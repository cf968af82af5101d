"""`stylecam average`: a weighted average of two or more trained states of one net (a "weight soup").

Why: two fine-tunes that share an ancestor sit in one basin, and a point between them can keep
one's texture and the other's content and steadiness (release 8 of the CPU tier is such a point).
The average is written as a small state, so `stylecam export` and `train --resume` take it like
any other, and it records what it was made from, which the exported model's metadata carries on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from .errors import EXIT_USER, UserError
from .nets import full_net_config


def checked_out(path: str, inputs: Sequence[str], what: str) -> Path:
    """The state to write: never one of the inputs (they are not overwritten), in a folder that exists."""
    out = Path(path)
    if any(out.resolve() == Path(c).resolve() for c in inputs):
        raise UserError(f"--out {out} is one of the inputs; write the {what} to a new file")
    if not out.parent.exists():
        raise UserError(f"output folder does not exist: {out.parent}; create it first")
    return out


def require_one_net(cks: Sequence[dict], names: Sequence[str], verb: str) -> None:
    """Refuse states of different nets (kind, net options, styles in order): mixing their weights means nothing."""
    first = cks[0]
    for ck, name in zip(cks[1:], names[1:]):
        for key, same in (("kind", ck.get("kind") == first.get("kind")),
                          ("net_config", full_net_config(ck.get("net_config", {}))
                           == full_net_config(first.get("net_config", {})))):
            if not same:
                raise UserError(f"{name} is a different net from {names[0]} ({key} differs); "
                                f"{verb} only states of one net")
        if [s.get("name") for s in ck.get("styles") or []] != [s.get("name") for s in first.get("styles") or []]:
            raise UserError(f"{name} holds other styles than {names[0]}; {verb} only states of one net")


def average_states(cks: Sequence[dict], weights: Sequence[float], names: Sequence[str], command: str = "") -> dict:
    """The weighted mean of the checkpoints' weights, as a small state (fp16, like train --state)."""
    from .train import STATE_FORMAT, fp32_weights

    if len(cks) < 2 or len(cks) != len(weights):
        raise UserError("average needs two or more checkpoints and one --weights value each")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UserError(f"--weights must be >= 0 and not all 0, got {list(weights)}")
    total = float(sum(weights))
    first = cks[0]
    require_one_net(cks, names, "average")
    tensors = [fp32_weights(ck) for ck in cks]
    model = {}
    for k, v in tensors[0].items():
        if not v.is_floating_point():  # counters and the like: the first state's
            model[k] = v
            continue
        model[k] = (sum(w * t[k] for w, t in zip(weights, tensors)) / total).to(torch.float16)
    parts = [{"checkpoint": n, "weight": round(w / total, 6), "step": ck.get("step"),
              "hardware": ck.get("hardware", ""), "command": ck.get("command", "")}
             for n, w, ck in zip(names, weights, cks)]
    # Progress is the furthest part's: the parts here descend from one run, so its steps and hours
    # include the others'.
    last = max(cks, key=lambda ck: ck.get("step") or 0)
    return {"format": STATE_FORMAT, "kind": first["kind"], "config": last.get("config", {}),
            "net_config": full_net_config(first.get("net_config", {})), "step": last.get("step"),
            "elapsed_s": last.get("elapsed_s", 0.0), "styles": first.get("styles"),
            "hardware": last.get("hardware", ""), "precision": last.get("precision", "fp32"),
            "command": command,
            "history": [], "averaged_from": parts, "model": model}


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="stylecam average",
                                description="Average trained states of one net, weight by weight.")
    p.add_argument("checkpoints", nargs="+", help="two or more checkpoints or states of the same net")
    p.add_argument("--weights", nargs="+", type=float, required=True,
                   help="one weight per checkpoint (normalised to sum to 1)")
    p.add_argument("-o", "--out", required=True, help="the state to write (.pt); never one of the inputs")
    p.add_argument("--json", action="store_true", help="print what was averaged as JSON on stdout")
    args = p.parse_args(list(argv))
    try:
        from .train import save_atomic, load_checkpoint

        out = checked_out(args.out, args.checkpoints, "average")
        cks = [load_checkpoint(c) for c in args.checkpoints]
        state = average_states(cks, args.weights, args.checkpoints, "stylecam average " + " ".join(argv))
        save_atomic(state, out)
    except UserError as e:
        print(f"stylecam: error: {e}", file=sys.stderr)
        return EXIT_USER
    summary = {"out": str(out), "step": state["step"], "averaged_from": state["averaged_from"]}
    print(json.dumps(summary) if args.json else str(out))
    return 0

"""`stylecam graft`: one CIN state whose styles each come from the fine-tune that served it best.

Why: `train --train-styles S --train-only norms` moves only style S's rows of the norm tables, and a
CIN style's output depends on the shared filters and its own rows alone. Fine-tunes of different
styles from one base are therefore independent, and so are the checkpoints of one fine-tune: each
style's rows can be taken from the checkpoint that scored best for it, and the result behaves, style
by style, exactly as those checkpoints did. The filters must be the base's, bit for bit, or that no
longer holds, so a part that changed them is refused.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import torch

from .average import checked_out, require_one_net
from .errors import EXIT_USER, UserError

NORM_SUFFIXES = (".gamma", ".beta")  # the (styles, channels) tables of nets.CondInstanceNorm


def _take(s: str) -> tuple[str, str]:
    name, sep, path = s.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"{s!r} is not NAME=CHECKPOINT; write e.g. udnie=runs/tune/ck-21500.pt")
    return name.strip(), path.strip()


def graft_states(base: dict, parts: Sequence[tuple[str, dict, str]], base_name: str, command: str = "") -> dict:
    """`base` with each (style name, checkpoint, its path)'s rows of the norm tables; a small fp16 state."""
    from .train import STATE_FORMAT

    if base.get("kind") != "cin":
        raise UserError(f"{base_name} is a {base.get('kind')} net; graft takes styles of a cin net")
    require_one_net([base, *(ck for _, ck, _ in parts)], [base_name, *(p for _, _, p in parts)], "graft")
    names = [s.get("name") for s in base.get("styles") or []]
    seen: set[str] = set()
    model = {k: v.to(torch.float16, copy=True) if v.is_floating_point() else v for k, v in base["model"].items()}
    for path, ck in {path: ck for _, ck, path in parts}.items():  # each checkpoint once, however many styles it gives
        for k, v in ck["model"].items():
            if v.is_floating_point() and not k.endswith(NORM_SUFFIXES) and not torch.equal(v.half(), model[k]):
                raise UserError(f"{path} has other filters than {base_name} ({k}); graft takes styles only from "
                                f"a --train-only norms fine-tune of it")
    record = []
    for style, ck, path in parts:
        if style not in names:
            raise UserError(f"graft names {style}, not one of {base_name}'s styles ({', '.join(names)})")
        if style in seen:
            raise UserError(f"graft takes {style} twice; name each style once")
        seen.add(style)
        i = names.index(style)
        for k in model:
            if k.endswith(NORM_SUFFIXES):
                model[k][i] = ck["model"][k][i].to(torch.float16)
        record.append({"style": style, "checkpoint": path, "step": ck.get("step"), "command": ck.get("command", "")})
    last = max([base, *(ck for _, ck, _ in parts)], key=lambda ck: ck.get("step") or 0)
    return {"format": STATE_FORMAT, "kind": "cin", "config": last.get("config", {}),
            "net_config": base.get("net_config", {}), "step": last.get("step"),
            "elapsed_s": last.get("elapsed_s", 0.0), "styles": base.get("styles"),
            "hardware": last.get("hardware", ""), "precision": last.get("precision", "fp32"), "command": command,
            "history": [], "grafted_from": {"base": base_name, "styles": record}, "model": model}


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="stylecam graft",
                                description="Take some styles of a CIN state from norms-only fine-tunes of it.")
    p.add_argument("base", help="the state every other style and the filters come from")
    p.add_argument("--take", type=_take, action="append", required=True, metavar="NAME=CHECKPOINT",
                   help="a style and the checkpoint its scales and shifts come from (repeat for more)")
    p.add_argument("-o", "--out", required=True, help="the state to write (.pt); never one of the inputs")
    p.add_argument("--json", action="store_true", help="print what was taken from where as JSON on stdout")
    args = p.parse_args(list(argv))
    try:
        from .train import load_checkpoint, save_atomic

        out = checked_out(args.out, [args.base, *(c for _, c in args.take)], "graft")
        loaded: dict[str, dict] = {}
        for _, c in args.take:
            loaded[c] = loaded.get(c) or load_checkpoint(c)
        parts = [(style, loaded[c], c) for style, c in args.take]
        state = graft_states(load_checkpoint(args.base), parts, args.base, "stylecam graft " + " ".join(argv))
        save_atomic(state, out)
    except UserError as e:
        print(f"stylecam: error: {e}", file=sys.stderr)
        return EXIT_USER
    summary = {"out": str(out), "step": state["step"], "grafted_from": state["grafted_from"]}
    print(json.dumps(summary) if args.json else str(out))
    return 0

"""`stylecam train {feedforward,cin,adain} ...`: argument parsing and the error edge."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .errors import EXIT_USER, UserError
from .net_options import ANTIALIAS, ARCHS, PADDINGS, TRAIN_ONLY, UPSAMPLES


def _csv(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _weights(s: str) -> list[float]:
    try:
        w = [float(x) for x in _csv(s)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma list of numbers; write e.g. 2,0.2") from None
    return w


def _name_weights(s: str) -> dict[str, float]:
    try:
        return {k.strip(): float(v) for k, v in (x.split("=") for x in _csv(s))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma list of name=number; write e.g. udnie=3,the_scream=2") \
            from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stylecam train", description="Train a style-transfer net on a folder of photos.")
    sub = p.add_subparsers(dest="kind", required=True, metavar="{feedforward,cin,adain}")
    ff = sub.add_parser("feedforward", help="one style, Johnson et al. 2016")
    ff.add_argument("--style", required=True, help="the painting")
    cin = sub.add_parser("cin", help="N styles in one net, Dumoulin et al. 2017")
    cin.add_argument("--styles", required=True, nargs="+", help="the paintings, in style-weight column order")
    ad = sub.add_parser("adain", help="arbitrary style: AdaIN decoder, Huang & Belongie 2017")
    ad.add_argument("--style-dir", required=True, nargs="+",
                    help="folder(s) of paintings (recursive); 10%% are held out by a hash of the file name")
    ad.add_argument("--decoder-width", type=float, default=1.0,
                    help="decoder channel multiplier (1: the paper's; 0.5: the CPU model)")
    ad.add_argument("--style-windows", type=int, default=2,
                    help="extra half-size views of each painting whose statistics are also targets (default 2)")
    for q in (ff, cin, ad):
        q.add_argument("--content-dir", required=True, help="folder of photos (jpg/png/webp, recursive)")
        q.add_argument("-o", "--out", default=None, help="run folder for checkpoints and samples (default runs/<kind>)")
        q.add_argument("--image-size", type=int, default=256, help="training crop size (default 256)")
        q.add_argument("--content-size", type=int, default=0,
                       help="short side photos are scaled to before cropping, i.e. the scale the net is trained "
                            "for (default 0: just over the crop, so a crop is most of a photo)")
        q.add_argument("--style-size", type=int, default=512, help="long side of style images (default 512)")
        q.add_argument("--batch", type=int, default=4)
        q.add_argument("--steps", type=int, default=2000)
        q.add_argument("--lr", type=float, default=1e-3)
        q.add_argument("--content-weight", type=float, default=1.0)
        q.add_argument("--style-weight", type=float, default=None,
                       help="default: 3e-5 (Gram, feedforward/cin) or 10 (AdaIN mean/std)")
        q.add_argument("--tv-weight", type=float, default=0.0)
        q.add_argument("--content-layers", type=_csv, default=None, help="comma list, e.g. relu2_2")
        q.add_argument("--content-layer-weights", type=_weights, default=None,
                       help="one weight per content layer, e.g. 2,0.2 for relu3_1,relu4_2 (default: all 1)")
        q.add_argument("--style-layers", type=_csv, default=None, help="comma list, e.g. relu1_2,relu2_2,relu3_3,relu4_3")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        q.add_argument("--amp", action="store_true", help="same as --precision fp16 on CUDA (ignored on the CPU)")
        q.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32", "fp16"],
                       help="auto (default): bf16 autocast on CPUs with AVX512_BF16/AMX, fp16 on CUDA, else fp32")
        q.add_argument("--channels-last", action="store_true", help="channels_last memory format (CUDA only)")
        q.add_argument("--checkpoint-every", type=int, default=500, help="checkpoint every N steps")
        q.add_argument("--checkpoint-minutes", type=float, default=10.0,
                       help="and at least every M minutes (default 10)")
        q.add_argument("--state", default=None,
                       help="also keep a small weights-only copy (fp16) here, e.g. in the repository; "
                            "--resume accepts it on another machine")
        q.add_argument("--sample-every", type=int, default=500)
        q.add_argument("--resume", default=None, help="continue from this checkpoint")
        q.add_argument("--max-minutes", type=float, default=None, help="checkpoint and stop after this long")
        q.add_argument("--max-images", type=int, default=0, help="use at most this many content photos")
        q.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
        q.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
        if q is not ad:
            q.add_argument("--arch", default="johnson", choices=ARCHS,
                           help="johnson: the paper's net; fast: the CPU real-time net")
            q.add_argument("--width", type=float, default=1.0, help="channel multiplier (johnson)")
            q.add_argument("--res-blocks", type=int, default=None,
                           help="residual blocks (johnson 5, fast 4); raised on --resume, the new ones start as the identity")
            q.add_argument("--widths", type=lambda s: [int(x) for x in _csv(s)], default=None,
                           help="fast arch channels at 1/2 and 1/4 resolution, e.g. 16,48; raised on --resume, the new channels "
                                "start unread (the same output) and training recruits them")
            q.add_argument("--subpixel-up", action="store_true",
                           help="fast arch: 1/4 -> 1/2 resolution by a 1x1 conv + depth-to-space (cheaper at run time)")
            q.add_argument("--padding", default="reflect", choices=PADDINGS,
                           help="zeros: padding inside the convs, cheaper at run time; for fine-tuning a reflect-padded "
                                "net (--resume), which then learns its borders")
            q.add_argument("--antialias", default="none", choices=ANTIALIAS,
                           help="fast arch: fixed low-pass filters before its two stride-2 convs (down), and after its "
                                "last upsampling (full), so texture follows the picture when it moves by a pixel "
                                "instead of redrawing; may be switched on with --resume (no weights are added)")
            q.add_argument("--upsample", default="shuffle", choices=UPSAMPLES,
                           help="fast arch: how the decoder doubles its resolution; shuffle: depth-to-space, one filter "
                                "per sub-pixel; bilinear: one filter, then bilinear x2, so texture is not tied to the "
                                "pixel grid; --resume of a shuffle net may switch to bilinear (filters start as their mean)")
            q.add_argument("--style-scale", type=float, default=1.0,
                           help="the style terms compare the output shrunk by this (0.25..1) with the paintings at "
                                "--style-size: 0.5 asks for marks twice their size there, and for none finer than 2 px "
                                "(default 1)")
            q.add_argument("--temporal-weight", type=float, default=0.0,
                           help="weight of the warp-consistency loss against flicker (e.g. 1e6 with the default losses; 0 = off)")
            q.add_argument("--temporal-noise", type=float, default=0.0,
                           help="std (0..0.2, [0,1] units) of noise added to the loss's second frame, so camera and codec "
                                "noise does not boil into texture on still scenes (e.g. 0.015)")
            q.add_argument("--temporal-noise-blur", type=float, default=0.0,
                           help="grain of that noise: a Gaussian's sigma in px (0..4), as a camera's noise is "
                                "spatially correlated; its std stays --temporal-noise (0 = white)")
            q.add_argument("--temporal-noise-grey", type=float, default=0.0,
                           help="share (0..1) of that noise's variance drawn the same in all three channels, as a "
                                "camera's noise is mostly luma (0 = per channel; 0.6 gives the clips' luma share of 0.73)")
            q.add_argument("--temporal-sprites", type=int, default=0,
                           help="patches of other photos (0..8) pasted into the loss's second frame, which it skips: "
                                "the rest must not change when something appears nearby, against texture halos "
                                "around moving figures (0 = off)")
            q.add_argument("--temporal-moving-sprites", type=int, default=0,
                           help="patches of other photos (0..8) in both of the loss's frames, moving on their own "
                                "over the background: texture on a moving figure must move with it, and the rest stay; "
                                "one more net run a step (0 = off)")
            q.add_argument("--temporal-sprite-motion", type=float, default=3.0,
                           help="how far the moving patches move at most, in px (default 3)")
            q.add_argument("--temporal-sprite-deform", type=float, default=0.0,
                           help="how far the moving patches also bend, in px (about): a smooth field that differs "
                                "from point to point, as a walker's limbs move (default 0: rigid)")
            q.add_argument("--temporal-style-weights", type=_name_weights, default=None, metavar="NAME=W,...",
                           help="cin: the anti-flicker term's factor for some styles (a painting's file name without "
                                "its extension), e.g. udnie=3 for a style that flickers past its bar; others 1")
            q.add_argument("--gram-style-weights", type=_name_weights, default=None, metavar="NAME=W,...",
                           help="cin: the Gram style term's factor for some styles, e.g. great_wave=5; others 1")
            q.add_argument("--swd-style-weights", type=_name_weights, default=None, metavar="NAME=W,...",
                           help="cin: the sliced Wasserstein term's factor for some styles, e.g. great_wave=0.2 "
                                "for a style whose low-layer marks boil on moving pixels; others 1")
            q.add_argument("--motion-weight", type=float, default=0.0,
                           help="weight of a second warp-consistency pair without --temporal-noise: the flicker of things "
                                "moving a pixel or two, which the noisy pair's noise term outweighs (0 = off)")
            q.add_argument("--swd-weight", type=float, default=0.0,
                           help="weight of a sliced Wasserstein style term beside the Gram one: matches the whole "
                                "distribution of the painting's features, not just their Gram (0 = off)")
            q.add_argument("--swd-samples", type=int, default=4096,
                           help="feature vectors per image and layer the sliced Wasserstein term compares (default 4096)")
            q.add_argument("--swd-layers", type=_csv, default=None,
                           help="VGG19 layers the sliced Wasserstein term compares, among --style-layers (default: all "
                                "of them), e.g. relu2_1,relu3_1 to push stroke-sized marks and leave pixel colour to Gram")
            q.add_argument("--train-only", default="all", choices=TRAIN_ONLY,
                           help="norms: only the per-style scales and shifts of the instance norms learn, the filters "
                                "stay (a fine-tune that changes the styles' look, not how the net follows motion)")
            q.add_argument("--train-styles", type=_csv, default=None, metavar="NAME,...",
                           help="cin with --train-only norms: draw crops of these styles only (a painting's file "
                                "name without its extension), so only their scales and shifts move and every other "
                                "style stays exactly as it was")
            q.add_argument("--teacher", default=None, metavar="CHECKPOINT",
                           help="an AdaIN checkpoint (e.g. state/adain-decoder.pt) whose output for each training crop "
                                "and style the net learns to match (distillation; its style statistics are taken from "
                                "the --styles paintings)")
            q.add_argument("--distill-weight", type=float, default=0.0,
                           help="weight of the distance to the teacher's output, in VGG features (0 = off)")
            q.add_argument("--distill-layers", type=_csv, default=None,
                           help="VGG19 layers that distance is measured at, among the style/content layers "
                                "(default: the deepest style layer, the teacher's layout and colours)")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        import torch

        from .train import TrainConfig, Trainer

        if args.threads:
            torch.set_num_threads(args.threads)
        net = {}
        if args.kind == "adain":
            net = {"decoder_width": args.decoder_width}
        else:
            net = {"arch": args.arch, "width": args.width,
                   "n_res": args.res_blocks if args.res_blocks is not None else (4 if args.arch == "fast" else 5),
                   "padding": args.padding}
            if args.arch == "fast":
                net.update(widths=args.widths or [16, 48], shuffle_out=True, subpixel_up=args.subpixel_up,
                           antialias=args.antialias, upsample=args.upsample)
        cfg = TrainConfig(
            kind=args.kind, content_dir=args.content_dir, out=args.out or f"runs/{args.kind}",
            styles=[args.style] if args.kind == "feedforward" else list(getattr(args, "styles", []) or []),
            style_dir=getattr(args, "style_dir", None), net=net, image_size=args.image_size,
            content_size=args.content_size, style_size=args.style_size,
            style_scale=getattr(args, "style_scale", 1.0),
            batch=args.batch, steps=args.steps, lr=args.lr, content_weight=args.content_weight,
            style_weight=args.style_weight, tv_weight=args.tv_weight,
            temporal_weight=getattr(args, "temporal_weight", 0.0), temporal_noise=getattr(args, "temporal_noise", 0.0),
            temporal_noise_blur=getattr(args, "temporal_noise_blur", 0.0),
            temporal_noise_grey=getattr(args, "temporal_noise_grey", 0.0),
            temporal_sprites=getattr(args, "temporal_sprites", 0),
            temporal_moving_sprites=getattr(args, "temporal_moving_sprites", 0),
            temporal_sprite_motion=getattr(args, "temporal_sprite_motion", 3.0),
            temporal_sprite_deform=getattr(args, "temporal_sprite_deform", 0.0),
            temporal_style_weights=getattr(args, "temporal_style_weights", None) or {},
            gram_style_weights=getattr(args, "gram_style_weights", None) or {},
            swd_style_weights=getattr(args, "swd_style_weights", None) or {},
            motion_weight=getattr(args, "motion_weight", 0.0),
            swd_weight=getattr(args, "swd_weight", 0.0), swd_samples=getattr(args, "swd_samples", 4096),
            swd_layers=getattr(args, "swd_layers", None) or [], teacher=getattr(args, "teacher", None),
            distill_weight=getattr(args, "distill_weight", 0.0),
            distill_layers=getattr(args, "distill_layers", None) or [], content_layers=args.content_layers or [],
            content_layer_weights=args.content_layer_weights or [],
            style_layers=args.style_layers or [], seed=args.seed, checkpoint_every=args.checkpoint_every,
            sample_every=args.sample_every, amp=args.amp, channels_last=args.channels_last, max_images=args.max_images,
            precision=args.precision, checkpoint_minutes=args.checkpoint_minutes, state=args.state,
            style_windows=getattr(args, "style_windows", 2), train_only=getattr(args, "train_only", "all"),
            train_styles=getattr(args, "train_styles", None) or [],
        )
        trainer = Trainer(cfg, device=args.device, resume=args.resume)
        summary = trainer.run(max_minutes=args.max_minutes)
    except UserError as e:
        print(f"stylecam: error: {e}", file=sys.stderr)
        return EXIT_USER
    if args.json:
        print(json.dumps(summary))
    else:
        print(summary["checkpoint"])
    return 0

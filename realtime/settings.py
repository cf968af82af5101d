"""RenderSettings: what one frame's render depends on, shared by the pipeline, the CLI and the live controller.

Standard library only, so the live controller (and its tests) import it without numpy or OpenCV.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


#: The flicker stabilizer's strength for a bare `--stabilize` (video and live) and the benchmarks:
#: the one value the README's figures are measured at (docs/stabilizer.md).
STABILIZE_STRENGTH = 0.6


@dataclass(frozen=True)
class RenderSettings:
    """A fresh immutable value per frame."""

    mix: Mapping[int, float]                           # bank style index -> weight (> 0; normalised by the engine)
    strength: float = 1.0                              # 0 = the input, 1 = full style
    preserve_color: bool = False                       # keep the input's colours, take the luminance
    alpha: float = 1.0                                 # AdaIN content/style trade-off
    size: tuple[int, int] | float | None = None        # working size: WxH, a scale, or None (the input's)
    stabilize: bool = True                             # run the post-processors (live: `t` toggles them)

"""What the user asked for, as plain state: hotkey actions in, per-frame render settings out.

No OpenCV and no engine here, so every interaction (style switching, morphs,
crossfades, blends, resolution changes) is testable with a fake clock. The window
adapter feeds actions in (`handle_key`); the pipeline reads `settings(now)` once per
frame; side effects that need real resources (screenshots, recorders, the virtual
camera) leave as queued `Action`s that the live loop pops and carries out.

Thread safety: the window thread calls `handle_key`, the pipeline thread calls
`settings`; one lock guards the state.
"""
from __future__ import annotations

import enum
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Sequence

from .settings import RenderSettings

#: Working resolutions (width, height) the `]`/`[` keys and --target-fps step through.
RESOLUTION_LADDER: tuple[tuple[int, int], ...] = (
    (320, 180), (480, 270), (640, 360), (960, 540), (1280, 720),
)

#: Seconds for the `m` morph; slow enough to watch one style melt into the next.
MORPH_SECONDS = 1.0
#: Seconds for n/p/1-9 switches: a short fade hides the jump without feeling laggy.
SWITCH_SECONDS = 0.5
#: How long an on-screen notice (e.g. "screenshot saved") stays up.
NOTICE_SECONDS = 2.5

_EPS = 1e-9


class Action(enum.Enum):
    """Side effects the live loop must carry out; the controller only asks for them."""

    SCREENSHOT = "screenshot"
    RECORD_START = "record_start"
    RECORD_STOP = "record_stop"
    VCAM_ON = "vcam_on"
    VCAM_OFF = "vcam_off"


def ease(t: float) -> float:
    """Smoothstep: zero slope at both ends, so morphs start and land without a jolt."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


@dataclass
class _Transition:
    start: dict[int, float]
    target: dict[int, float]
    t0: float
    seconds: float

    def at(self, now: float) -> dict[int, float]:
        e = ease((now - self.t0) / self.seconds) if self.seconds > 0 else 1.0
        keys = set(self.start) | set(self.target)
        mix = {k: (1.0 - e) * self.start.get(k, 0.0) + e * self.target.get(k, 0.0) for k in keys}
        return _normalise(mix)

    def done(self, now: float) -> bool:
        return now - self.t0 >= self.seconds


def _normalise(mix: Mapping[int, float]) -> dict[int, float]:
    kept = {k: w for k, w in mix.items() if w > _EPS}
    total = sum(kept.values())
    return {k: w / total for k, w in sorted(kept.items())}


@dataclass
class _Notice:
    text: str
    until: float


class Controller:
    """Live-session state machine driven by symbolic actions (see `realtime.hotkeys`).

    `model_keys[i]` identifies the model file of style i. Styles sharing a key blend
    inside one network run (a morph); styles of different files are crossfaded by the
    engine. The controller only interpolates the mix and reports which kind it is.
    """

    def __init__(
        self,
        bank_size: int,
        model_keys: Sequence[Hashable] | None = None,
        *,
        names: Sequence[str] | None = None,
        style: int = 0,
        size: tuple[int, int] = (640, 360),
        ladder: Sequence[tuple[int, int]] = RESOLUTION_LADDER,
        strength: float = 1.0,
        preserve_color: bool = False,
        stabilize: bool = False,
        can_stabilize: bool = True,
        alpha: float = 1.0,
        recording: bool = False,
        vcam: bool = False,
        morph_seconds: float = MORPH_SECONDS,
        switch_seconds: float = SWITCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if bank_size < 1:
            raise ValueError("a live session needs at least one style")
        if model_keys is not None and len(model_keys) != bank_size:
            raise ValueError(f"model_keys has {len(model_keys)} entries for {bank_size} styles")
        if names is not None and len(names) != bank_size:
            raise ValueError(f"names has {len(names)} entries for {bank_size} styles")
        if not 0 <= style < bank_size:
            raise ValueError(f"style {style} is outside the bank (0..{bank_size - 1})")
        self.bank_size = bank_size
        self.model_keys: tuple[Hashable, ...] = tuple(model_keys) if model_keys else (None,) * bank_size
        self.names: tuple[str, ...] = tuple(names) if names else tuple(f"style {i + 1}" for i in range(bank_size))
        self._clock = clock
        self._lock = threading.RLock()
        self._ladder: list[tuple[int, int]] = sorted(set(ladder) | {tuple(size)}, key=lambda s: s[0] * s[1])
        self._rung = self._ladder.index(tuple(size))
        self.current = style
        self._mix: dict[int, float] = {style: 1.0}
        self._transition: _Transition | None = None
        self._strength = min(1.0, max(0.0, float(strength)))
        self.alpha = alpha
        self.preserve_color = preserve_color
        self.stabilize = stabilize and can_stabilize
        self.can_stabilize = can_stabilize
        self.paused = False
        self.recording = recording
        self.vcam = vcam
        self.fullscreen = False
        self.show_help = False
        self.quit = False
        self.morph_seconds = morph_seconds
        self.switch_seconds = switch_seconds
        self.blend_a: int | None = None
        self.blend_b: int | None = None
        self._blend_tenths = 5
        self._actions: deque[Action] = deque()
        self._notice: _Notice | None = None
        self.history: list[str] = []
        self._handlers: dict[str, Callable[[float], None]] = {
            "next_style": lambda now: self._switch(self.current + 1, now),
            "prev_style": lambda now: self._switch(self.current - 1, now),
            "morph": lambda now: self._switch(self.current + 1, now, self.morph_seconds),
            "pause": lambda now: self._toggle("paused"),
            "screenshot": lambda now: self._actions.append(Action.SCREENSHOT),
            "record": lambda now: self._toggle_action("recording", Action.RECORD_START, Action.RECORD_STOP),
            "vcam": lambda now: self._toggle_action("vcam", Action.VCAM_ON, Action.VCAM_OFF),
            "preserve_color": lambda now: self._toggle("preserve_color", "colour preservation", now),
            "strength_up": lambda now: self._step_strength(+1, now),
            "strength_down": lambda now: self._step_strength(-1, now),
            "res_up": lambda now: self._step_res_key(+1, now),
            "res_down": lambda now: self._step_res_key(-1, now),
            "fullscreen": lambda now: self._toggle("fullscreen"),
            "help": lambda now: self._toggle("show_help"),
            "blend_a": lambda now: self._mark_blend("a", now),
            "blend_b": lambda now: self._mark_blend("b", now),
            "blend_toward_a": lambda now: self._step_blend(-1, now),
            "blend_toward_b": lambda now: self._step_blend(+1, now),
            "stabilize": lambda now: (self._toggle("stabilize", "stabilizer", now) if self.can_stabilize
                                      else self.notify("no temporal stabilizer in this build", now)),
            "quit": lambda now: setattr(self, "quit", True),
        }
        for digit in range(1, 10):
            self._handlers[f"pick_{digit}"] = lambda now, i=digit - 1: self._pick(i, now)

    @classmethod
    def from_bank(cls, bank: Any, **kwargs: Any) -> Controller:
        """Build from a `realtime.styles.StyleBank`: names and model files come from its styles."""
        styles = list(bank.styles)
        names = [s.name for s in styles]
        keys = [str(s.model) for s in styles]
        return cls(len(styles), keys, names=names, **kwargs)

    # ----------------------------------------------------------------- input
    @property
    def actions_known(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def handle_key(self, key: str, now: float | None = None) -> None:
        """Apply one symbolic action (e.g. "next_style"); unknown names are ignored."""
        handler = self._handlers.get(key)
        if handler is None:
            return
        with self._lock:
            handler(self._clock() if now is None else now)
            self.history.append(key)
            del self.history[:-64]

    def pop_actions(self) -> list[Action]:
        """Side effects requested since the last call, oldest first."""
        with self._lock:
            out = list(self._actions)
            self._actions.clear()
            return out

    # ---------------------------------------------------------------- output
    @property
    def strength(self) -> float:
        return self._strength

    @property
    def size(self) -> tuple[int, int]:
        return self._ladder[self._rung]

    @property
    def blend_weight(self) -> float:
        """Weight of blend endpoint B (A gets the rest)."""
        return self._blend_tenths / 10

    @property
    def blending(self) -> bool:
        return self.blend_a is not None and self.blend_b is not None and self.blend_a != self.blend_b

    def mix(self, now: float | None = None) -> dict[int, float]:
        """The style mix for time `now`, advancing any morph or crossfade."""
        now = self._clock() if now is None else now
        with self._lock:
            if self._transition is None:
                return dict(self._mix)
            if self._transition.done(now):
                self._mix = dict(self._transition.target)
                self._transition = None
                return dict(self._mix)
            return self._transition.at(now)

    def settings(self, now: float | None = None) -> RenderSettings:
        """Per-frame render settings; call once per frame."""
        now = self._clock() if now is None else now
        with self._lock:
            return RenderSettings(
                mix=self.mix(now),
                strength=self.strength,
                preserve_color=self.preserve_color,
                alpha=self.alpha,
                size=self.size,
                stabilize=self.stabilize,
            )

    def transition_kind(self, now: float | None = None) -> str | None:
        """'morph' (one model file), 'crossfade' (several files) or None when settled."""
        mix = self.mix(now)
        if len(mix) < 2 or self._transition is None:
            return None
        return "morph" if len({self.model_keys[i] for i in mix}) == 1 else "crossfade"

    def label(self, now: float | None = None) -> str:
        """Human-readable style line for the overlay, e.g. "Starry Night 70% + Scream 30%"."""
        mix = self.mix(now)
        if len(mix) == 1:
            (i,) = mix
            return f"{i + 1}: {self.names[i]}"
        parts = " + ".join(f"{self.names[i]} {round(w * 100)}%" for i, w in sorted(mix.items(), key=lambda kv: -kv[1]))
        kind = self.transition_kind(now)
        return f"{parts} ({kind})" if kind else f"blend: {parts}"

    def notice(self, now: float | None = None) -> str:
        """Current transient message for the overlay, or ''."""
        now = self._clock() if now is None else now
        with self._lock:
            if self._notice is None or now >= self._notice.until:
                return ""
            return self._notice.text

    def notify(self, text: str, now: float | None = None) -> None:
        """Show a short message (e.g. where a screenshot went, why recording failed)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._notice = _Notice(text, now + NOTICE_SECONDS)

    def step_resolution(self, delta: int) -> bool:
        """Move `delta` rungs on the resolution ladder; False when already at the end."""
        with self._lock:
            rung = min(len(self._ladder) - 1, max(0, self._rung + delta))
            changed = rung != self._rung
            self._rung = rung
            return changed

    def state(self, now: float | None = None) -> dict[str, Any]:
        """JSON-friendly snapshot, for logs and tests."""
        now = self._clock() if now is None else now
        with self._lock:
            s = self.settings(now)
            return {
                "current": self.current,
                "mix": {str(k): v for k, v in s.mix.items()},
                "strength": s.strength,
                "preserve_color": s.preserve_color,
                "size": list(s.size),
                "paused": self.paused,
                "stabilize": s.stabilize,
                "recording": self.recording,
                "vcam": self.vcam,
                "fullscreen": self.fullscreen,
                "show_help": self.show_help,
                "blend": [self.blend_a, self.blend_b, self.blend_weight] if self.blending else None,
                "quit": self.quit,
                "history": list(self.history),
            }

    # ------------------------------------------------------------- internals
    def _go_to(self, target: Mapping[int, float], now: float, seconds: float) -> None:
        start = self.mix(now)
        target = _normalise(target)
        if seconds <= 0 or start == target:
            self._mix, self._transition = dict(target), None
        else:
            self._transition = _Transition(start, dict(target), now, seconds)

    def _switch(self, index: int, now: float, seconds: float | None = None) -> None:
        if self.blending:  # leaving an active blend forgets it; a lone A or B mark stays
            self.blend_a = self.blend_b = None
        self.current = index % self.bank_size
        self._go_to({self.current: 1.0}, now, self.switch_seconds if seconds is None else seconds)

    def _pick(self, index: int, now: float) -> None:
        if index >= self.bank_size:
            self.notify(f"no style {index + 1}: this bank has {self.bank_size}", now)
            return
        self._switch(index, now)

    def _toggle(self, attr: str, label: str | None = None, now: float | None = None) -> None:
        setattr(self, attr, not getattr(self, attr))
        if label is not None:
            self.notify(f"{label} {'on' if getattr(self, attr) else 'off'}", now)

    def _toggle_action(self, attr: str, on: Action, off: Action) -> None:
        value = not getattr(self, attr)
        setattr(self, attr, value)
        self._actions.append(on if value else off)

    def _step_strength(self, delta: int, now: float) -> None:
        # Step to the next tenth in that direction, so 0.85 goes to 0.9 or 0.8.
        tenths = self._strength * 10
        base = math.floor(tenths + 1e-6) if delta > 0 else math.ceil(tenths - 1e-6)
        self._strength = min(10, max(0, base + delta)) / 10
        self.notify(f"strength {self.strength:.1f}", now)

    def _step_res_key(self, delta: int, now: float) -> None:
        self.step_resolution(delta)
        w, h = self.size
        self.notify(f"resolution {w}x{h}", now)

    def _mark_blend(self, which: str, now: float) -> None:
        if which == "a":
            self.blend_a = self.current
        else:
            self.blend_b = self.current
        if self.blending:
            self._blend_tenths = 5
            self._apply_blend(now)
        else:
            self.notify(f"blend {which.upper()} = {self.names[self.current]}; pick another style and press "
                        f"{'b' if which == 'a' else 'a'}", now)

    def _step_blend(self, delta: int, now: float) -> None:
        if not self.blending:
            self.notify("no blend: press a on one style and b on another first", now)
            return
        self._blend_tenths = min(10, max(0, self._blend_tenths + delta))
        self._apply_blend(now, seconds=0.0)

    def _apply_blend(self, now: float, seconds: float | None = None) -> None:
        assert self.blend_a is not None and self.blend_b is not None
        w = self.blend_weight
        self.current = self.blend_b if w >= 0.5 else self.blend_a
        target = {self.blend_a: 1.0 - w, self.blend_b: w}
        self._go_to(target, now, self.switch_seconds if seconds is None else seconds)


@dataclass
class ResolutionGovernor:
    """Holds a target frame rate by stepping the controller's resolution ladder.

    Feed it the rate the engine can sustain (1000 / engine ms per frame), not the
    output rate: the camera caps the latter, and resolution cannot fix a slow camera.

    Steps down after the rate has been below target for `down_after` s; steps up only
    when the rate, scaled by the pixel-count ratio of the next rung, would still meet
    the target with margin (so it doesn't bounce between two rungs). Ignores readings
    for `settle` s after any change because the pipeline's fps is a moving average.
    """

    controller: Controller
    target_fps: float
    down_after: float = 1.0
    up_after: float = 2.0
    margin: float = 1.1
    settle: float = 1.0
    _below_since: float | None = field(default=None, init=False)
    _above_since: float | None = field(default=None, init=False)
    _settled_at: float = field(default=float("-inf"), init=False)
    _last_size: tuple[int, int] | None = field(default=None, init=False)

    def observe(self, fps: float, now: float) -> int:
        """Feed one fps reading; returns the rung step taken (-1, 0 or +1)."""
        size = self.controller.size
        if size != self._last_size:  # changed here or by the user's keys
            self._last_size, self._settled_at = size, now
            self._below_since = self._above_since = None
        if now - self._settled_at < self.settle or fps <= 0:
            return 0
        if fps < self.target_fps * 0.95:
            self._above_since = None
            self._below_since = now if self._below_since is None else self._below_since
            if now - self._below_since >= self.down_after and self.controller.step_resolution(-1):
                return -1
            return 0
        self._below_since = None
        if self._predicted_up_fps(fps) >= self.target_fps * self.margin:
            self._above_since = now if self._above_since is None else self._above_since
            if now - self._above_since >= self.up_after and self.controller.step_resolution(+1):
                return +1
        else:
            self._above_since = None
        return 0

    def _predicted_up_fps(self, fps: float) -> float:
        c = self.controller
        with c._lock:
            if c._rung + 1 >= len(c._ladder):
                return 0.0
            (w0, h0), (w1, h1) = c._ladder[c._rung], c._ladder[c._rung + 1]
        return fps * (w0 * h0) / (w1 * h1)

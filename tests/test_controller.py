"""Controller state machine: scripted key sequences with an injected clock."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from stylecam.realtime import hotkeys
from stylecam.realtime.controller import RESOLUTION_LADDER, Action, Controller, RenderSettings, ResolutionGovernor, ease


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(n: int = 5, keys=None, **kw) -> tuple[Controller, Clock]:
    clock = Clock()
    return Controller(n, keys, clock=clock, **kw), clock


def press(c: Controller, *actions: str) -> None:
    for a in actions:
        c.handle_key(a)


def settle(c: Controller, clock: Clock) -> dict[int, float]:
    clock.t += 5.0
    return c.mix()


# ----------------------------------------------------------------------------- styles
def test_starts_one_hot_on_the_chosen_style():
    c, _ = make(style=2)
    s = c.settings()
    assert isinstance(s, RenderSettings)
    assert s.mix == {2: 1.0} and s.strength == 1.0 and not c.paused and s.size == (640, 360)


def test_next_prev_wrap_around():
    c, clock = make(3)
    press(c, "prev_style")
    assert c.current == 2 and settle(c, clock) == {2: 1.0}
    press(c, "next_style")
    assert c.current == 0 and settle(c, clock) == {0: 1.0}
    press(c, "next_style", "next_style", "next_style", "next_style")
    assert c.current == 1 and settle(c, clock) == {1: 1.0}


def test_pick_in_range_and_out_of_range():
    c, clock = make(4)
    press(c, "pick_3")
    assert c.current == 2 and settle(c, clock) == {2: 1.0}
    press(c, "pick_9")  # bank has only 4: ignored, and the user is told why
    assert "has 4" in c.notice()
    assert c.current == 2 and settle(c, clock) == {2: 1.0}
    press(c, "pick_1")
    assert c.current == 0


def test_unknown_action_is_ignored_and_not_logged():
    c, _ = make()
    press(c, "launch_rockets")
    assert c.history == [] and c.settings().mix == {0: 1.0}


def test_every_hotkey_action_is_understood_by_the_controller():
    c, _ = make()
    assert hotkeys.actions() <= c.actions_known


# ------------------------------------------------------------------------------ morph
def test_morph_passes_through_intermediate_weights():
    c, clock = make(4, ["cin.onnx"] * 4)
    t0 = clock.t
    press(c, "morph")
    assert c.current == 1
    samples = []
    for dt in (0.0, 0.25, 0.5, 1.0):
        clock.t = t0 + dt
        samples.append(c.settings().mix)
    for mix in samples:
        assert sum(mix.values()) == pytest.approx(1.0)
        assert set(mix) <= {0, 1} and all(w > 0 for w in mix.values())
    b = [m.get(1, 0.0) for m in samples]
    a = [m.get(0, 0.0) for m in samples]
    assert b == sorted(b) and a == sorted(a, reverse=True)
    assert b[0] == 0.0 and 0.0 < b[1] < b[2] < 1.0  # really in between, not a jump
    assert b[2] == pytest.approx(0.5)                 # ease curve is symmetric
    assert b[1] < 0.25                                 # eased, not linear, at the start
    assert samples[-1] == {1: 1.0}
    assert c.transition_kind() is None


def test_morph_within_one_file_is_a_morph_and_across_files_a_crossfade():
    c, clock = make(3, ["cin.onnx", "cin.onnx", "ff.onnx"])
    t0 = clock.t
    press(c, "morph")
    clock.t = t0 + 0.3
    assert c.transition_kind() == "morph"
    clock.t = t0 + 2
    press(c, "next_style")  # cin style 1 -> feedforward file
    clock.t += c.switch_seconds / 2
    mix = c.settings().mix
    assert set(mix) == {1, 2} and mix[1] == pytest.approx(0.5) and mix[2] == pytest.approx(0.5)
    assert c.transition_kind() == "crossfade"
    assert "crossfade" in c.label()
    clock.t += c.switch_seconds
    assert c.settings().mix == {2: 1.0}


def test_interrupting_a_morph_starts_from_where_it_was():
    c, clock = make(4)
    t0 = clock.t
    press(c, "morph")
    clock.t = t0 + 0.5
    before = c.mix()
    press(c, "next_style")  # now heading to style 2, from the half-way 0/1 mix
    assert c.mix() == pytest.approx(before)
    clock.t += 0.25
    mix = c.mix()
    assert set(mix) == {0, 1, 2} and sum(mix.values()) == pytest.approx(1.0)
    assert settle(c, clock) == {2: 1.0}


def test_ease_endpoints_and_monotonic():
    xs = np.linspace(-0.5, 1.5, 41)
    ys = [ease(x) for x in xs]
    assert ys[0] == 0.0 and ys[-1] == 1.0 and ys == sorted(ys)


# ------------------------------------------------------------------------------ blend
def test_blend_between_two_chosen_styles_in_tenths():
    c, clock = make(5)
    press(c, "pick_2", "blend_a", "pick_4", "blend_b")
    assert c.blending and (c.blend_a, c.blend_b) == (1, 3)
    assert settle(c, clock) == pytest.approx({1: 0.5, 3: 0.5})
    press(c, "blend_toward_b", "blend_toward_b")
    assert c.mix() == pytest.approx({1: 0.3, 3: 0.7})
    press(c, *["blend_toward_a"] * 20)
    assert c.mix() == {1: 1.0} and c.blend_weight == 0.0 and c.current == 1
    press(c, "blend_toward_b")
    assert c.mix() == pytest.approx({1: 0.9, 3: 0.1})
    assert "blend" in c.label()
    press(c, "next_style")  # leaving the blend
    assert not c.blending and c.current == 2
    assert settle(c, clock) == {2: 1.0}


def test_blend_keys_without_two_endpoints_do_nothing_but_explain():
    c, clock = make(3)
    press(c, "blend_a", "blend_toward_b")
    assert "press a" in c.notice()
    assert not c.blending and settle(c, clock) == {0: 1.0}
    press(c, "blend_b")  # same style as A: still no blend
    assert not c.blending


# ------------------------------------------------------------------ knobs and toggles
def test_strength_steps_and_clamps():
    c, _ = make(strength=0.85)
    assert c.settings().strength == 0.85  # the start value is kept exactly
    press(c, "strength_up")
    assert c.settings().strength == pytest.approx(0.9)
    press(c, "strength_up", "strength_up")
    assert c.settings().strength == 1.0
    press(c, *["strength_down"] * 3)
    assert c.settings().strength == pytest.approx(0.7)
    press(c, *["strength_down"] * 20)
    assert c.settings().strength == 0.0
    press(c, "strength_up")
    assert c.settings().strength == pytest.approx(0.1)


def test_resolution_ladder_bounds():
    c, _ = make()
    assert c.settings().size == (640, 360)
    press(c, *["res_down"] * 10)
    assert c.settings().size == RESOLUTION_LADDER[0]
    press(c, "res_up")
    assert c.settings().size == RESOLUTION_LADDER[1]
    press(c, *["res_up"] * 10)
    assert c.settings().size == RESOLUTION_LADDER[-1]
    assert c.step_resolution(+1) is False


def test_custom_start_size_joins_the_ladder_in_area_order():
    c, _ = make(size=(800, 450))
    assert c.size == (800, 450)
    press(c, "res_up")
    assert c.size == (960, 540)
    press(c, "res_down", "res_down")
    assert c.size == (640, 360)


def test_toggles_reach_the_render_settings():
    c, _ = make()
    press(c, "pause", "preserve_color", "stabilize")
    s = c.settings()
    assert c.paused and s.preserve_color and s.stabilize
    press(c, "pause", "preserve_color", "stabilize")
    s = c.settings()
    assert not (c.paused or s.preserve_color or s.stabilize)
    press(c, "fullscreen", "help")
    assert c.fullscreen and c.show_help


def test_stabilizer_key_explains_when_the_build_has_none():
    c, _ = make(stabilize=True, can_stabilize=False)
    assert not c.settings().stabilize
    press(c, "stabilize")
    assert not c.settings().stabilize and "no temporal stabilizer" in c.notice()


def test_side_effects_are_queued_as_actions():
    c, _ = make()
    press(c, "screenshot", "record", "vcam", "record", "screenshot")
    assert c.pop_actions() == [Action.SCREENSHOT, Action.RECORD_START, Action.VCAM_ON,
                               Action.RECORD_STOP, Action.SCREENSHOT]
    assert c.pop_actions() == []
    assert c.vcam and not c.recording


def test_starting_with_recording_makes_r_stop_it():
    c, _ = make(recording=True)
    press(c, "record")
    assert c.pop_actions() == [Action.RECORD_STOP]


def test_quit_and_history():
    c, _ = make()
    assert not c.quit
    press(c, "next_style", "quit")
    assert c.quit and c.history == ["next_style", "quit"]
    state = c.state()
    assert state["quit"] and state["current"] == 1


def test_notice_expires():
    c, clock = make()
    press(c, "strength_down")
    assert c.notice() == "strength 0.9"
    clock.t += 10
    assert c.notice() == ""


def test_from_bank_uses_model_files_as_groups():
    class S:
        def __init__(self, name, model):
            self.name, self.model = name, model

    class Bank:
        styles = (S("udnie", "cin.onnx"), S("scream", "cin.onnx"), S("wave", "wave.onnx"))

    c = Controller.from_bank(Bank(), clock=Clock())
    assert c.names == ("udnie", "scream", "wave")
    assert c.model_keys[0] == c.model_keys[1] != c.model_keys[2]
    assert c.label() == "1: udnie"


# ------------------------------------------------------------------- adaptive res
def test_governor_steps_down_when_slow_and_back_up_when_there_is_room():
    c, _ = make(size=(960, 540))
    g = ResolutionGovernor(c, target_fps=25)
    t = 0.0
    steps = []
    for _ in range(60):  # 3 s of 12 fps readings at 20 Hz (1 s warm-up, then 1 s slow)
        steps.append(g.observe(12.0, t))
        t += 0.05
    assert -1 in steps and c.size[0] < 960
    # now very fast: at 320x180 -> 480x270 is 2.25x the pixels; 80 fps predicts ~35 > 25*1.1
    c2, _ = make(size=(320, 180))
    g2 = ResolutionGovernor(c2, target_fps=25)
    t = 0.0
    for _ in range(80):
        g2.observe(80.0, t)
        t += 0.05
    assert c2.size == (480, 270)


def test_governor_does_not_climb_into_a_rung_it_cannot_hold():
    c, _ = make(size=(640, 360))
    g = ResolutionGovernor(c, target_fps=30)
    t = 0.0
    for _ in range(200):  # 32 fps holds the target, but 960x540 would give ~14
        assert g.observe(32.0, t) == 0
        t += 0.05
    assert c.size == (640, 360)


def test_governor_ignores_brief_dips():
    c, _ = make()
    g = ResolutionGovernor(c, target_fps=30)
    t = 0.0
    for i in range(100):
        fps = 10.0 if i % 10 == 0 else 31.0  # single slow frames, never 1 s in a row
        g.observe(fps, t)
        t += 0.05
    assert c.size == (640, 360)


# ------------------------------------------------- settings really change the frames
class TintEngine:
    """Engine double: output = input mixed with a per-style colour, by mix and strength."""

    COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.float32)

    def __init__(self, bank_size: int) -> None:
        self.bank = list(range(bank_size))
        self.device = "cpu"
        self.calls: list[dict[int, float]] = []

    def stylize(self, frame: np.ndarray, mix: Mapping[int, float], *, strength: float = 1.0,
                preserve_color: bool = False, alpha: float = 1.0) -> np.ndarray:
        self.calls.append(dict(mix))
        tint = sum(w * self.COLORS[i] for i, w in mix.items())
        out = frame.astype(np.float32) * (1 - strength) + tint * strength
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render(engine: TintEngine, c: Controller, frame: np.ndarray) -> np.ndarray:
    s = c.settings()
    return engine.stylize(frame, s.mix, strength=s.strength, preserve_color=s.preserve_color, alpha=s.alpha)


def test_frames_change_when_the_style_changes():
    c, clock = make(4)
    engine = TintEngine(4)
    frame = np.full((36, 64, 3), 128, np.uint8)
    first = render(engine, c, frame)
    assert np.array_equal(render(engine, c, frame), first)  # no key, no change
    t0 = clock.t
    press(c, "morph")
    clock.t = t0 + 0.5
    middle = render(engine, c, frame)
    clock.t = t0 + 1.0
    last = render(engine, c, frame)
    assert not np.array_equal(first, last) and not np.array_equal(middle, first) and not np.array_equal(middle, last)
    assert tuple(first[0, 0]) == (255, 0, 0) and tuple(last[0, 0]) == (0, 255, 0)
    assert tuple(middle[0, 0]) == (128, 128, 0)
    press(c, "strength_down", "strength_down", "strength_down", "strength_down", "strength_down")
    half = render(engine, c, frame)
    assert tuple(half[0, 0]) == (64, 192, 64)  # 0.5 * grey + 0.5 * green
    assert engine.calls[-1] == {1: 1.0}

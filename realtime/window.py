"""The OpenCV preview window: draw a frame plus its heads-up text, turn key presses into actions.

Deliberately thin: what to show arrives as a `Hud` value, what keys mean lives in
`realtime.hotkeys`, what they do lives in `realtime.controller`. All cv2 GUI calls
must come from one thread (the Qt backend insists), so the live loop calls `show`
and `poll` from its main thread only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import hotkeys
from .controller import Controller
from .frames import rgb_to_bgr

#: Frames narrower than this are upscaled for display so the overlay text stays legible.
MIN_DISPLAY_WIDTH = 640

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE, _BLACK, _YELLOW, _RED = (255, 255, 255), (0, 0, 0), (0, 220, 255), (0, 0, 255)  # BGR


@dataclass(frozen=True)
class Hud:
    """What the overlay shows for one frame; the live loop fills it from stats and the controller."""

    style: str = ""
    fps: float = 0.0
    stages_ms: Mapping[str, float] = field(default_factory=dict)
    dropped: int = 0
    size: tuple[int, int] | None = None
    camera_status: str = ""
    notice: str = ""
    paused: bool = False
    recording: bool = False
    vcam: bool = False
    show_help: bool = False


def hud_lines(hud: Hud) -> list[str]:
    """The two status lines (style; speed) as plain text."""
    speed = [f"{hud.fps:.1f} fps"]
    if hud.stages_ms:
        speed.append(" ".join(f"{k} {v:.0f}" for k, v in hud.stages_ms.items()) + " ms")
    speed.append(f"dropped {hud.dropped}")
    if hud.size:
        speed.append(f"{hud.size[0]}x{hud.size[1]}")
    return [_ascii(hud.style), " | ".join(speed)]


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only; keep dashes readable, mark the rest."""
    text = text.replace("\u2014", "-").replace("\u2013", "-").replace("\u2192", "->").replace("\u2190", "<-")
    return text.encode("ascii", "replace").decode("ascii")


class Window:
    """One named OpenCV window bound to a controller."""

    def __init__(self, controller: Controller, title: str = "stylecam") -> None:
        self.controller = controller
        self.title = title
        self._fullscreen = False
        self._shown = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)

    def show(self, frame: np.ndarray, hud: Hud) -> None:
        """Display an RGB frame with the overlay drawn on a display-size copy."""
        bgr = rgb_to_bgr(frame)
        h, w = bgr.shape[:2]
        if w < MIN_DISPLAY_WIDTH:
            bgr = cv2.resize(bgr, (MIN_DISPLAY_WIDTH, round(h * MIN_DISPLAY_WIDTH / w)), interpolation=cv2.INTER_LINEAR)
        draw_hud(bgr, hud)
        if not self._shown:
            cv2.resizeWindow(self.title, bgr.shape[1], bgr.shape[0])
        cv2.imshow(self.title, bgr)
        self._shown = True

    def poll(self, wait_ms: int = 1) -> str | None:
        """Pump GUI events once; forward a bound key to the controller and return its action."""
        code = cv2.waitKeyEx(wait_ms)
        action = hotkeys.action_for(code)
        if action is not None:
            self.controller.handle_key(action)
        elif self._shown and self._closed():
            self.controller.handle_key("quit")  # the user closed the window
            action = "quit"
        if self.controller.fullscreen != self._fullscreen:
            self._fullscreen = self.controller.fullscreen
            mode = cv2.WINDOW_FULLSCREEN if self._fullscreen else cv2.WINDOW_NORMAL
            cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)
        return action

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the backend actually tear the window down
        except cv2.error:
            pass  # already gone

    def _closed(self) -> bool:
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True


def draw_hud(bgr: np.ndarray, hud: Hud) -> None:
    """Draw the overlay in place on a BGR image."""
    h, w = bgr.shape[:2]
    scale = max(0.45, w / 1600)
    line = int(32 * scale) + 4
    y = line
    for text in hud_lines(hud):
        _text(bgr, text, (10, y), scale)
        y += line
    banner = _ascii(hud.camera_status) or ("PAUSED" if hud.paused else "")
    if banner:
        (tw, _), _ = cv2.getTextSize(banner, _FONT, scale * 1.3, 2)
        _text(bgr, banner, (max(4, (w - tw) // 2), h // 2), scale * 1.3, _YELLOW, 2)
    x = w - 10
    if hud.recording:
        r = max(6, int(10 * scale))
        cv2.circle(bgr, (x - r, line - r // 2), r, _RED, -1, cv2.LINE_AA)
        x -= 2 * r + 8
        _text(bgr, "REC", (x - _width("REC", scale), line), scale, _RED)
        x -= _width("REC", scale) + 12
    if hud.vcam:
        _text(bgr, "VCAM", (x - _width("VCAM", scale), line), scale)
    footer = _ascii(hud.notice) or "h: help"
    _text(bgr, footer, (10, h - 10), scale * 0.9)
    if hud.show_help:
        _draw_help(bgr, scale)


def _draw_help(bgr: np.ndarray, scale: float) -> None:
    rows = hotkeys.help_rows()
    h, w = bgr.shape[:2]
    s = min(scale, (h - 40) / (len(rows) * 30))  # shrink to fit short frames
    step = int(30 * s) + 2
    key_w = max(_width(k, s) for k, _ in rows) + 20
    box_w = key_w + max(_width(t, s) for _, t in rows) + 30
    box_h = step * len(rows) + 20
    x0, y0 = max(0, (w - box_w) // 2), max(0, (h - box_h) // 2)
    roi = bgr[y0:y0 + box_h, x0:x0 + box_w]
    roi[:] = (roi * 0.2).astype(np.uint8)  # darken behind the text
    for i, (keys, text) in enumerate(rows):
        y = y0 + 10 + step * (i + 1) - 4
        _text(bgr, keys, (x0 + 15, y), s, _YELLOW)
        _text(bgr, text, (x0 + 15 + key_w, y), s)


def _width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float,
          color: tuple[int, int, int] = _WHITE, thickness: int = 1) -> None:
    """Shadowed text: legible on any stylized background."""
    x, y = org
    for dx, dy in ((1, 1), (2, 2), (-1, -1)):
        cv2.putText(img, text, (x + dx, y + dy), _FONT, scale, _BLACK, thickness, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, color, thickness, cv2.LINE_AA)

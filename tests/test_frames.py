"""Frame conversions: channel order, layouts, padding, resizing, blending, colour, sizes."""
import cv2
import numpy as np
import pytest

from stylecam.realtime import frames as fr
from stylecam.realtime.errors import UserError


@pytest.fixture
def img() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (77, 123, 3), dtype=np.uint8)


def test_rgb_bgr_round_trip_swaps_channels(img):
    bgr = fr.rgb_to_bgr(img)
    assert np.array_equal(bgr[..., 0], img[..., 2]) and np.array_equal(bgr[..., 2], img[..., 0])
    back = fr.bgr_to_rgb(bgr)
    assert np.array_equal(back, img) and back.flags.c_contiguous


def test_nchw_round_trip_is_lossless(img):
    t = fr.to_nchw(img)
    assert t.shape == (1, 3, 77, 123) and t.dtype == np.float32
    assert 0.0 <= t.min() and t.max() <= 1.0
    assert np.allclose(t[0, 0], img[..., 0] / 255.0, atol=1e-6)
    out = fr.nchw_to_uint8(t)  # the engine's way back
    assert np.array_equal(out, img) and out.flags.c_contiguous


def test_back_to_uint8_clips_overshoot():
    t = np.full((1, 3, 4, 4), 1.7, np.float32)
    t[0, 1] = -0.3
    out = fr.nchw_to_uint8(t)
    assert out[..., 0].min() == 255 and out[..., 1].max() == 0


def test_back_to_uint8_crops_the_top_left_and_rounds(img):
    t = fr.to_nchw(img)
    t[0, 2] += 0.4 / 255.0  # rounds back down to the pixel
    out = fr.nchw_to_uint8(t[0], 50, 60)  # a planar (3, H, W) mix works too
    assert out.shape == (50, 60, 3) and out.flags.c_contiguous
    assert np.array_equal(out, img[:50, :60])


@pytest.mark.parametrize("multiple", [1, 4, 8, 16])
def test_pad_to_multiple_and_crop_back(img, multiple):
    padded, size = fr.pad_to_multiple(img, multiple)
    h, w = padded.shape[:2]
    assert h % multiple == 0 and w % multiple == 0 and size == (123, 77)
    assert h - 77 < multiple and w - 123 < multiple
    assert np.array_equal(padded[:size[1], :size[0]], img)  # the engine keeps the top-left


def test_pad_reflects_instead_of_black():
    a = np.zeros((5, 5, 3), np.uint8)
    a[:, 3] = 200  # column next to the right edge
    padded, _ = fr.pad_to_multiple(a, 8)
    assert padded.shape == (8, 8, 3)
    assert padded[0, 5, 0] == 200  # reflected column 3 across edge column 4
    tiny, _ = fr.pad_to_multiple(np.full((1, 1, 3), 9, np.uint8), 4)  # too small to reflect: replicate
    assert tiny.shape == (4, 4, 3) and (tiny == 9).all()


def test_resize_shapes_and_identity(img):
    assert fr.resize(img, (123, 77)) is img
    assert fr.resize(img, (60, 40)).shape == (40, 60, 3)
    assert fr.resize(img, (246, 154)).shape == (154, 246, 3)


def test_resize_down_uses_area_averaging():
    a = np.zeros((4, 4, 3), np.uint8)
    a[::2, ::2] = 255  # a checkerboard-ish pattern: area averaging gives the mean
    small = fr.resize(a, (2, 2))
    assert np.allclose(small, 64, atol=1)


def test_blend_endpoints_and_middle(img):
    other = 255 - img
    assert np.array_equal(fr.blend(img, other, 1.0), other)
    assert np.array_equal(fr.blend(img, other, 0.0), img)
    mid = fr.blend(np.zeros_like(img), np.full_like(img, 200), 0.25)
    assert np.all(mid == 50)


def test_preserve_color_keeps_source_chroma_and_stylized_luma(img):
    grey_src = np.full_like(img, 128)
    stylized = np.zeros_like(img)
    stylized[..., 0] = 250  # saturated red
    out = fr.preserve_color(grey_src, stylized)
    # chroma from the grey source: the output is grey (channels equal) ...
    assert np.abs(out.astype(int)[..., 0] - out[..., 2]).max() <= 2
    # ... with the stylized picture's luminance
    y_sty = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., 0]
    y_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 0]
    assert np.abs(y_out.astype(int) - y_sty).max() <= 2


@pytest.mark.parametrize("spec,expected", [("640x360", (640, 360)), ("123X77", (123, 77)), ("0.5", 0.5),
                                           (" 2 ", 2.0), (None, None), ("", None)])
def test_parse_size(spec, expected):
    assert fr.parse_size(spec) == expected


@pytest.mark.parametrize("spec", ["big", "640x", "0x10", "-1", "0", "100"])
def test_parse_size_rejects_with_user_error(spec):
    with pytest.raises(UserError, match="640x360|0.5|range"):
        fr.parse_size(spec)


@pytest.mark.parametrize("spec", ["abc", "0.5", "2"])
def test_parse_size_without_scales_never_suggests_one(spec):
    # a fixed frame size (the benchmarks'): a number is refused and no message offers "a scale like 0.5"
    with pytest.raises(UserError) as e:
        fr.parse_size(spec, scale=False)
    assert "WIDTHxHEIGHT" in str(e.value) and "scale" not in str(e.value)
    assert fr.parse_size("640x360", scale=False) == (640, 360)


def test_target_size():
    assert fr.target_size(None, 640, 480) == (640, 480)
    assert fr.target_size((320, 200), 640, 480) == (320, 200)
    assert fr.target_size(0.5, 123, 77) == (62, 38)


def test_check_frame_rejects_wrong_layouts():
    with pytest.raises(ValueError):
        fr.check_frame(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError):
        fr.check_frame(np.zeros((4, 4, 3), np.float32))
    view = np.zeros((8, 8, 3), np.uint8)[:, ::2]
    assert fr.check_frame(view).flags.c_contiguous

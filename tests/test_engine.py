"""Model metadata, the style bank and the onnxruntime engine, on tiny models built by the test."""

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from stylecam.testing import CIN_TABLE, make_tiny_model
from stylecam.realtime import engine as eng
from stylecam.realtime import modelfile, styles
from stylecam.realtime.engine import OrtEngine
from stylecam.realtime.session import physical_cores
from stylecam.realtime.styles import StyleEncoder
from stylecam.realtime.errors import UserError
from stylecam.realtime.styles import StyleBank


@pytest.fixture
def frame() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (77, 123, 3), dtype=np.uint8)


@pytest.fixture
def bank(tiny_model) -> StyleBank:
    return StyleBank([tiny_model("feedforward"), tiny_model("cin"), tiny_model("adain"),
                      tiny_model("feedforward", name="blur", op="conv", size_multiple=8)])


# -- model files -----------------------------------------------------------------------------
def test_model_info_reads_metadata(tiny_model):
    info = modelfile.read_model_info(tiny_model("cin", size_multiple=8, min_size=32))
    assert info.kind == "cin" and info.name == "tiny-cin"
    assert len(info.styles) == 3 and info.size_multiple == 8 and info.min_size == 32
    assert info.precision == "fp32"


def test_corrupt_model_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(UserError, match="cannot load model"):
        modelfile.read_model_info(bad)


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        modelfile.read_model_info(tmp_path / "nope.onnx")


def test_unknown_kind_and_version_are_user_errors(tmp_path):
    p = make_tiny_model(tmp_path / "v2.onnx", version="2")
    with pytest.raises(UserError, match="format version 2"):
        modelfile.read_model_info(p)
    with pytest.raises(UserError, match="unknown model kind 'pix2pix'"):
        modelfile.parse_metadata("x.onnx", {"stylecam.format_version": "1", "stylecam.kind": "pix2pix"})
    with pytest.raises(UserError, match="not a stylecam model"):
        modelfile.parse_metadata("x.onnx", {})


def test_builtin_listing_skips_companions(tmp_path):
    for n in ("cpu-cin-12.onnx", "cpu-cin-12.fp16.onnx", "adain_encoder.onnx", "gpu-cin-12.onnx", "notes.txt"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in modelfile.builtin_models(tmp_path)] == ["cpu-cin-12.onnx", "gpu-cin-12.onnx"]
    assert modelfile.fp16_variant(tmp_path / "cpu-cin-12.onnx").name == "cpu-cin-12.fp16.onnx"
    assert modelfile.fp16_variant(tmp_path / "gpu-cin-12.onnx") is None
    assert modelfile.builtin_model_dir().name == "models"


def test_default_models_prefer_the_device_prefix(tmp_path):
    for n in ("cpu-cin-12.onnx", "gpu-cin-12.onnx", "plain.onnx"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in styles.default_model_paths(False, tmp_path)] == ["cpu-cin-12.onnx", "plain.onnx"]
    assert [p.name for p in styles.default_model_paths(True, tmp_path)] == ["gpu-cin-12.onnx", "plain.onnx"]
    (tmp_path / "cpu-cin-12.onnx").unlink()
    assert [p.name for p in styles.default_model_paths(False, tmp_path)] == ["gpu-cin-12.onnx", "plain.onnx"]


def test_no_builtin_models_says_pass_model(tmp_path):
    with pytest.raises(UserError, match="--model"):
        styles.default_model_paths(False, tmp_path / "empty")


# -- style bank ------------------------------------------------------------------------------
def test_bank_lists_every_style_in_order(bank):
    names = [s.name for s in bank]
    assert names == ["tiny-feedforward", "tiny-cin-red", "tiny-cin-green", "tiny-cin-blue",
                     "tiny-adain-warm", "tiny-adain-cool", "blur"]
    assert [s.index for s in bank.styles] == list(range(7))
    assert bank[2].kind == "cin" and bank[2].column == 1 and bank[0].column is None
    assert bank[4].kind == "adain" and bank[4].column == 0
    assert bank[0].artist == "Test Artist" and bank[0].year == "2024"


def test_find_by_number_and_name(bank):
    assert bank.find("1").name == "tiny-feedforward"
    assert bank.find("3") is bank[2]
    assert bank.find("TINY-CIN-BLUE") is bank[3]
    assert bank.find("tiny-cin/tiny-cin-red") is bank[1]
    with pytest.raises(UserError, match="unknown style 'monet'.*tiny-feedforward"):
        bank.find("monet")
    with pytest.raises(UserError, match="out of range"):
        bank.find("99")


def test_encoder_is_not_a_style_model(tiny_model, tmp_path):
    enc = make_tiny_model(tmp_path / "adain_encoder.onnx", "adain_encoder")
    with pytest.raises(UserError, match="not a style model"):
        StyleBank([enc])


def test_style_images_need_an_adain_model(tiny_model, tmp_path):
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((40, 40, 3), 90, np.uint8))
    empty = tmp_path / "no-models"
    empty.mkdir()
    with pytest.raises(UserError, match="AdaIN model"):
        StyleBank([tiny_model("feedforward")], [img], models_dir=empty)


def test_style_image_stats_are_cached_in_memory_and_on_disk(tiny_model, tmp_path):
    model = tiny_model("adain")
    img = tmp_path / "red.png"
    cv2.imwrite(str(img), np.dstack([np.zeros((40, 60)), np.zeros((40, 60)), np.full((40, 60), 255)]).astype(np.uint8))
    calls = []

    def factory(path):
        calls.append(path)
        return StyleEncoder(path)

    memory: dict = {}
    b = StyleBank([model], [img], cache=tmp_path / "cache", encoder_factory=factory, memory=memory)
    style = b[-1]
    assert style.image == str(img) and style.kind == "adain" and style.name == "red"
    mean, std = b.adain_stats(style.index)
    assert mean.shape == (512,) and mean[0] == pytest.approx(1 / 3, abs=1e-3)  # red only: (1+0+0)/3
    assert len(calls) == 1 and list((tmp_path / "cache").glob("adain-*.npz"))
    StyleBank([model], [img], cache=tmp_path / "cache", encoder_factory=factory, memory=memory)  # memory hit
    b3 = StyleBank([model], [img], cache=tmp_path / "cache", encoder_factory=factory, memory={})  # disk hit
    assert len(calls) == 1
    assert np.array_equal(b3.adain_stats(b3[-1].index)[0], mean)


# -- engine ----------------------------------------------------------------------------------
def test_feedforward_inverts_and_keeps_odd_size(bank, frame, device):
    e = OrtEngine(bank, device)
    out = e.stylize(frame, {0: 1.0})
    assert out.shape == frame.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int) - (255 - frame.astype(int))).max() <= 1


def test_conv_model_pads_to_multiple_and_crops_back(bank, frame, device):
    out = OrtEngine(bank, device).stylize(frame, {6: 1.0})
    assert out.shape == (77, 123, 3)
    # interior: 3x3 box blur with R and B swapped
    x = frame.astype(np.float32)
    expect_r = cv2.blur(x[..., 2], (3, 3))[10:20, 10:20]
    assert np.abs(out[10:20, 10:20, 0] - expect_r).max() <= 1.5


def test_cin_one_hot_and_blend_in_one_run(bank, frame, monkeypatch, device):
    e = OrtEngine(bank, device)
    red = e.stylize(frame, {1: 1.0})
    expect = np.clip(frame * CIN_TABLE[0], 0, 255)
    assert np.abs(red.astype(float) - expect).max() <= 1
    runs = []
    orig = eng._Runner.run

    def spy(self, feeds):
        runs.append({k: v.copy() for k, v in feeds.items()})
        return orig(self, feeds)

    monkeypatch.setattr(eng._Runner, "run", spy)
    mixed = e.stylize(frame, {1: 3.0, 2: 1.0})  # not normalised on purpose
    assert len(runs) == 1
    assert np.allclose(runs[0]["style_weights"], [[0.75, 0.25, 0.0]])
    gain = 0.75 * CIN_TABLE[0] + 0.25 * CIN_TABLE[1]
    assert np.abs(mixed.astype(float) - np.clip(frame * gain, 0, 255)).max() <= 1


def test_adain_builtin_styles_mix_statistics_and_alpha(bank, frame, monkeypatch, device):
    e = OrtEngine(bank, device)
    warm = e.stylize(frame, {4: 1.0})
    expect = np.clip((frame / 255.0 * 0.5 + np.array([0.8, 0.4, 0.1])) * 255, 0, 255)
    assert np.abs(warm.astype(float) - expect).max() <= 1
    assert np.array_equal(e.stylize(frame, {4: 1.0}, alpha=0.0), frame)
    runs = []
    orig = eng._Runner.run
    monkeypatch.setattr(eng._Runner, "run", lambda self, f: runs.append(f) or orig(self, f))
    e.stylize(frame, {4: 0.5, 5: 0.5})
    assert len(runs) == 1 and np.allclose(runs[0]["style_mean"][0, :3], [0.45, 0.4, 0.45])


def test_styles_in_different_files_blend_outputs(bank, frame, device):
    e = OrtEngine(bank, device)
    a, b = e.stylize(frame, {0: 1.0}).astype(float), e.stylize(frame, {1: 1.0}).astype(float)
    mixed = e.stylize(frame, {0: 0.5, 1: 0.5}).astype(float)
    assert np.abs(mixed - (a + b) / 2).max() <= 1.5


def test_strength_and_preserve_color(bank, frame, device):
    e = OrtEngine(bank, device)
    assert np.array_equal(e.stylize(frame, {0: 1.0}, strength=0.0), frame)
    half = e.stylize(frame, {0: 1.0}, strength=0.5).astype(int)
    assert np.abs(half - 127.5).max() <= 1.5  # (x + 255 - x) / 2
    grey = np.full_like(frame, 100)
    kept = e.stylize(grey, {1: 1.0}, preserve_color=True).astype(int)
    assert np.abs(kept[..., 0] - kept[..., 1]).max() <= 2  # source chroma: still grey


def test_too_small_frame_is_a_user_error(bank):
    e = OrtEngine(bank, "cpu")
    with pytest.raises(UserError, match="smaller than.*minimum of 16 px"):
        e.stylize(np.zeros((12, 40, 3), np.uint8), {0: 1.0})


def test_bad_mixes_are_rejected(bank, frame):
    e = OrtEngine(bank, "cpu")
    for mix in ({}, {0: 0.0}, {99: 1.0}, {0: -1.0, 1: 2.0}):
        with pytest.raises(ValueError):
            e.stylize(frame, mix)


def test_sessions_are_created_lazily_and_cached(bank, frame):
    e = OrtEngine(bank, "cpu")
    assert len(e._runners) == 1  # the first model, loaded up front to fail early
    e.stylize(frame, {1: 1.0})
    e.stylize(frame, {2: 1.0})
    assert len(e._runners) == 2


def test_unknown_device_and_missing_gpu_are_user_errors(bank):
    with pytest.raises(UserError, match="unknown device"):
        OrtEngine(bank, "tpu")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UserError, match="onnxruntime-gpu.*cuDNN 9"):
        OrtEngine(bank, "cuda")


def test_auto_device_logs_its_choice(bank, caplog):
    caplog.set_level("INFO", logger="stylecam")
    e = OrtEngine(bank, "auto")
    assert e.device in ("cpu", "cuda", "tensorrt")
    assert f"using device {e.device}" in caplog.text


def test_physical_cores_is_sane():
    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)


def test_style_encoder_resizes_long_side(tmp_path):
    enc = StyleEncoder(str(make_tiny_model(tmp_path / "adain_encoder.onnx", "adain_encoder")))
    mean, std = enc.encode(np.full((30, 900, 3), 255, np.uint8))
    assert mean.shape == (512,) and mean[0] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(UserError, match="not an adain_encoder"):
        StyleEncoder(str(make_tiny_model(tmp_path / "ff.onnx")))


def test_a_model_whose_metadata_lies_is_one_line_up_front(tmp_path):
    """A feedforward graph labelled cin: caught when the session starts, not at the first frame."""
    import json as _json

    import onnx

    path = make_tiny_model(tmp_path / "liar.onnx", "feedforward")
    m = onnx.load(str(path))
    for p in m.metadata_props:
        if p.key == "stylecam.kind":
            p.value = "cin"
        if p.key == "stylecam.styles":
            p.value = _json.dumps([{"name": "a"}, {"name": "b"}])
    onnx.save(m, str(path))
    with pytest.raises(UserError, match=r"says it is a cin model, but its graph has inputs \['image'\]"):
        OrtEngine(StyleBank([path]), "cpu")


# -- huge pictures in tiles ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["feedforward", "cin"])
def test_convnet_stand_in_runs_through_the_engine(tiny_model, kind):
    """The benchmarks' stand-in net (stylecam.testing, op="convnet") is a valid stylecam model."""
    bank = StyleBank([tiny_model(kind, op="convnet", width=8)])
    img = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    outs = [OrtEngine(bank, "cpu").stylize(img, {i: 1.0}) for i in range(len(bank))]
    assert all(o.shape == img.shape and o.std() > 0 for o in outs)
    if kind == "cin":  # the style gains still pick the colours
        assert not np.array_equal(outs[0], outs[1])


def test_frame_workers_fill_the_cores_with_whole_frames_first():
    from stylecam.realtime.session import MAX_DEFAULT_WORKERS, frame_workers

    assert frame_workers(None, None, cores=2) == (2, 1)
    assert frame_workers(None, 2, cores=2) == (1, 2)  # --threads alone: as many frames as that leaves room for
    assert frame_workers(3, None, cores=2) == (3, 1)
    assert frame_workers(1, None, cores=8) == (1, 8)  # --workers 1: one frame over every core, as before
    assert frame_workers(None, None, cores=16) == (MAX_DEFAULT_WORKERS, 16 // MAX_DEFAULT_WORKERS)
    assert frame_workers(None, None, cores=1) == (1, 1)


def test_stylize_from_several_threads_at_once_matches_one_at_a_time(bank):
    """The pipeline's frame workers share one engine: sessions start once and runs do not mix."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48 + 8 * (i % 3), 64, 3), dtype=np.uint8) for i in range(12)]
    mixes = [{i % 4: 1.0} if i % 5 else {1: 0.5, 3: 0.5} for i in range(12)]
    alone = [OrtEngine(bank, "cpu", threads=1).stylize(f, m) for f, m in zip(frames, mixes)]
    shared = OrtEngine(bank, "cpu", threads=1)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda fm: shared.stylize(*fm), zip(frames, mixes)))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))
    assert len(shared._runners) == len({bank[i].model for m in mixes for i in m})

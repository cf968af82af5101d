"""The training-time temporal loss: warps with known grids, the loss itself, and a short run that logs it."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export/ tests need the train extra (torch)")
cv2 = pytest.importorskip("cv2")

from stylecam.export import temporal_loss as TL  # noqa: E402
from stylecam.export.train import TrainConfig, Trainer  # noqa: E402


def _smooth(n: int = 2, h: int = 32, w: int = 48, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


def test_pure_translation_matches_a_pixel_shift():
    x = _smooth()
    theta = torch.tensor([[[1.0, 0.0, 3 * 2.0 / 48], [0.0, 1.0, -2 * 2.0 / 32]]]).repeat(2, 1, 1)
    grid = TL.warp_grid(theta, x.shape)
    y = TL.apply_warp(x, grid)  # y(px, py) = x(px + 3, py - 2)
    assert torch.allclose(y[:, :, 4:-4, 4:-4], x[:, :, 2:-6, 7:-1], atol=1e-5)
    m = TL.valid_mask(grid)
    assert m[0, 0, :, -3:].sum() == 0 and m[0, 0, :2].sum() == 0 and m[0, 0, 4:-4, 4:-4].all()


def test_random_affine_stays_small():
    g = torch.Generator().manual_seed(1)
    theta = TL.random_affine(16, 64, 96, max_shift=4, max_rotation=2, max_scale=0.03, generator=g)
    grid = TL.warp_grid(theta, (16, 3, 64, 96))
    ident = TL.warp_grid(torch.eye(2, 3).expand(16, 2, 3), (16, 3, 64, 96))
    px = (grid - ident) * torch.tensor([48.0, 32.0])  # displacement in pixels
    assert px.abs().max() < 4 + 0.03 * 60 + 0.035 * 60  # shift + scale + rotation at the far corner
    assert px.abs().mean() > 0.5


def test_temporal_loss_is_zero_for_an_equivariant_net_and_positive_otherwise():
    torch.manual_seed(0)
    x = _smooth(4)
    x2, grid = TL.warped_pair(x)
    identity = lambda t: t  # noqa: E731 - commutes with any warp
    pointwise = lambda t: torch.sigmoid(3 * t - 1)  # noqa: E731 - per-pixel maps commute too
    assert float(TL.temporal_loss(identity(x), identity(x2), grid)) < 1e-10
    assert float(TL.temporal_loss(pointwise(x), pointwise(x2), grid)) < 1e-4
    # a fixed screen-space pattern does not move with the picture: it flickers under motion
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(48.0), indexing="ij")
    pattern = 0.3 * torch.sin(xx * 2.1) * torch.cos(yy * 1.7)
    screen = lambda t: t + pattern  # noqa: E731
    loss = float(TL.temporal_loss(screen(x), screen(x2), grid))
    assert loss > 1e-3
    # and the loss has a gradient for the net to follow
    w = torch.zeros(1, requires_grad=True)
    TL.temporal_loss(x + w * pattern, x2 + w * pattern, grid).backward()
    assert w.grad is not None


def test_noisy_second_frame_catches_a_net_that_boils_noise_into_texture():
    """With --temporal-noise the pair's second frame gets fresh noise (same grid, in [0, 1]); the noise
    costs a net that ignores it next to nothing, and one that amplifies it a lot."""
    x = _smooth(4)
    g = torch.Generator().manual_seed(1)
    clean, grid = TL.warped_pair(x, generator=g)
    g = torch.Generator().manual_seed(1)
    noisy, grid2 = TL.warped_pair(x, generator=g, noise=0.02)
    assert torch.equal(grid, grid2) and noisy.min() >= 0 and noisy.max() <= 1
    assert 0.015 < float((noisy - clean).std()) < 0.025
    smooth = lambda t: torch.nn.functional.avg_pool2d(t, 5, 1, 2, count_include_pad=False)  # noqa: E731
    amplify = lambda t: t + 8 * (t - smooth(t))  # noqa: E731 - sharpening: noise becomes texture

    def added(net) -> float:  # what the noise adds to the loss (a 5x5 filter does not commute exactly with warps)
        return float(TL.temporal_loss(net(x), net(noisy), grid) - TL.temporal_loss(net(x), net(clean), grid))
    assert added(amplify) > 0.01 and added(amplify) > 50 * added(smooth), (added(amplify), added(smooth))


def test_grain_keeps_its_std_and_reaches_a_net_that_ignores_white_noise():
    """--temporal-noise-blur: the noise is blurred like a camera's grain and scaled back to the same std.
    A net that smooths (as trained nets learn to, against white noise) barely sees white noise and does
    see grain of the same std, which is why a still camera's real noise still boils."""
    g = torch.Generator().manual_seed(2)
    white, blurred = TL.grain((4, 3, 64, 96), 0.0, g), TL.grain((4, 3, 64, 96), 1.5, g)
    assert 0.95 < float(white.std()) < 1.05 and 0.85 < float(blurred.std()) < 1.15

    def lag1(z):  # correlation of horizontal neighbours
        return float(torch.corrcoef(torch.stack([z[..., :-1].flatten(), z[..., 1:].flatten()]))[0, 1])
    assert abs(lag1(white)) < 0.05 and lag1(blurred) > 0.7  # a Gaussian of sigma 1.5: exp(-1/9) = 0.89
    x = _smooth(4, 64, 96)
    pairs = {}
    for blur in (0.0, 2.0):
        g = torch.Generator().manual_seed(1)
        pairs[blur] = TL.warped_pair(x, generator=g, noise=0.02, noise_blur=blur)
    clean, grid = TL.warped_pair(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pairs[0.0][1], grid) and torch.equal(pairs[2.0][1], grid)  # same warp, only the noise differs
    assert 0.015 < float((pairs[2.0][0] - clean).std()) < 0.025
    smooth = lambda t: torch.nn.functional.avg_pool2d(t, 7, 1, 3, count_include_pad=False)  # noqa: E731

    def added(noisy) -> float:
        return float(TL.temporal_loss(smooth(x), smooth(noisy), grid) - TL.temporal_loss(smooth(x), smooth(clean), grid))
    assert added(pairs[2.0][0]) > 5 * added(pairs[0.0][0]) > 0, (added(pairs[2.0][0]), added(pairs[0.0][0]))
    a, b, mgrid, _ = TL.moving_sprite_pair(x, 2, 3.0, generator=torch.Generator().manual_seed(3), noise=0.02,
                                           noise_blur=2.0)
    a0, b0, mgrid0, _ = TL.moving_sprite_pair(x, 2, 3.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, a0) and torch.equal(mgrid, mgrid0) and lag1(b - b0) > 0.7  # grain on frame b only


def test_grey_share_gives_the_noise_a_cameras_luma_share_and_keeps_its_std():
    """--temporal-noise-grey: part of the noise is the same in all three channels, as a camera's is mostly
    luma (docs/training.md, "Grain": 0.73-0.84 on the clips); per-channel noise has 1/3. Off, the draws are
    the old ones, so a run resumed without the flag is unchanged."""
    def luma_share(z):  # as benchmarks/clip_grain.py measures it
        return float(z.mean(1).var() / z.var())
    for blur in (0.0, 1.0):
        plain = TL.grain((4, 3, 64, 96), blur, torch.Generator().manual_seed(5))
        assert torch.equal(plain, TL.grain((4, 3, 64, 96), blur, torch.Generator().manual_seed(5), grey=0.0))
        if blur == 0:  # the draws the noise had before the grey share: one randn of the frame's shape
            assert torch.equal(plain, torch.randn((4, 3, 64, 96), generator=torch.Generator().manual_seed(5)))
        assert 0.30 < luma_share(plain) < 0.37
        for grey in (0.6, 1.0):
            z = TL.grain((4, 3, 64, 96), blur, torch.Generator().manual_seed(5), grey=grey)
            assert 0.9 < float(z.std()) < 1.1
            want = grey + (1 - grey) / 3
            assert abs(luma_share(z) - want) < 0.03, (blur, grey, luma_share(z), want)
    x = _smooth(2, 48, 64)
    b, _ = TL.warped_pair(x, generator=torch.Generator().manual_seed(1), noise=0.02, noise_blur=0.8, noise_grey=0.6)
    clean, _ = TL.warped_pair(x, generator=torch.Generator().manual_seed(1))
    assert 0.6 < luma_share(b - clean) < 0.85


def test_pasted_sprites_catch_a_net_whose_reach_redraws_the_surroundings():
    """--temporal-sprites: patches of another picture land in the second frame and the loss skips them and
    a 2 px margin; a per-pixel net pays nothing for them, a net with a wide reach (a 15 px box filter,
    whose output changes all around a patch) pays for the halo."""
    x = _smooth(4, 64, 96)
    g = torch.Generator().manual_seed(3)
    x2, grid = TL.warped_pair(x, generator=g)
    xs, keep = TL.paste_sprites(x2, 2, generator=torch.Generator().manual_seed(4))
    assert keep.shape == (4, 1, 64, 96) and set(keep.unique().tolist()) == {0.0, 1.0}
    assert 0.02 < float(1 - keep.mean()) < 0.6  # the patches (with margin) cover some of the frame, not all
    changed = (xs != x2).any(1, keepdim=True)
    assert changed.any() and not (changed & (keep > 0)).any()  # every pasted pixel is skipped
    inner = torch.nn.functional.max_pool2d(changed.float(), 5, 1, 2) > 0  # the margin: within 2 px of a patch
    assert not (inner & (keep > 0)).any()
    pointwise = lambda t: torch.sigmoid(3 * t - 1)  # noqa: E731
    wide = lambda t: torch.nn.functional.avg_pool2d(t, 15, 1, 7, count_include_pad=False)  # noqa: E731

    def added(net) -> float:  # what the patches add on the pixels compared (a box filter does not commute with warps)
        return float(TL.temporal_loss(net(x), net(xs), grid, keep) - TL.temporal_loss(net(x), net(x2), grid, keep))
    assert abs(added(pointwise)) < 1e-7
    assert added(wide) > 5e-5, added(wide)  # about 1.7e-4 here; 0 if the skipped region hid the halo too


def test_moving_sprites_ask_texture_on_a_moving_figure_to_move_with_it():
    """--temporal-moving-sprites: the patches are in both frames and move on their own. The grid says where
    every compared pixel of b was in a, so a per-pixel linear net (which commutes with the bilinear warps)
    pays nothing, uncovered background and all; a net whose texture is glued to the screen pays once the
    patches move, and a wide one for its halo."""
    x = _smooth(4, 64, 96)
    xa, xb, grid, keep = TL.moving_sprite_pair(x, 3, 4.0, generator=torch.Generator().manual_seed(6))
    assert xa.shape == xb.shape == x.shape and grid.shape == (4, 64, 96, 2) and keep.shape == (4, 1, 64, 96)
    assert (xa != x).any() and 0.3 < float(keep.mean()) < 0.98  # patches in frame a; some pixels skipped
    pointwise = lambda t: 0.6 * t.flip(1) + 0.2  # noqa: E731
    assert TL.temporal_loss(pointwise(xa), pointwise(xb), grid, keep) < 1e-10
    assert TL.temporal_loss(pointwise(xa), pointwise(xb), grid) > 1e-4  # without keep: uncovered background counts
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(96.0), indexing="ij")
    glued = lambda t: t + 0.1 * torch.sin(1.3 * xx + 0.7 * yy)  # noqa: E731  a pattern fixed to the screen
    wide = lambda t: torch.nn.functional.avg_pool2d(t, 15, 1, 7, count_include_pad=False)  # noqa: E731
    still = dict(max_shift=0.0, max_rotation=0.0, max_scale=0.0)  # a still background isolates the patches

    def loss(net, move: float, deform: float = 0.0) -> float:
        a, b, g, k = TL.moving_sprite_pair(x, 3, move, generator=torch.Generator().manual_seed(7), deform=deform,
                                           **still)
        return float(TL.temporal_loss(net(a), net(b), g, k))
    assert loss(glued, 0.0) < 1e-10 and loss(glued, 4.0) > 1e-4
    assert loss(pointwise, 4.0) < 1e-10 and loss(wide, 4.0) > 1e-6
    # bent patches (--temporal-sprite-deform): the grid still says where each pixel came from, so the
    # pointwise net still pays nothing, while the move is no longer one translation per patch
    assert loss(pointwise, 4.0, deform=3.0) < 1e-10 and loss(glued, 0.0, deform=3.0) > 1e-4
    ident = TL.warp_grid(torch.eye(2, 3).expand(4, 2, 3), x.shape)

    def spread(deform: float) -> float:  # one patch per picture: how its pixels' moves differ (px, x)
        _, _, g, _ = TL.moving_sprite_pair(x, 1, 4.0, generator=torch.Generator().manual_seed(8), deform=deform, **still)
        d = (g - ident)[..., 0] * 96 / 2
        return max(float(d[i][d[i].abs() > 1e-4].std()) for i in range(4))
    assert spread(0.0) < 1e-3 < 0.3 < spread(3.0)  # rigid: one move per patch; bent: a field


def _photo(rng: np.random.Generator, size: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = (np.stack([xx, yy, 1 - xx * yy], -1) * 255).astype(np.uint8)
    for _ in range(3):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(3, size // 3)), c, -1)
    return img


@pytest.mark.parametrize("kind", ["feedforward", "cin"])
def test_short_training_run_logs_the_temporal_term(tmp_path, kind):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        cv2.imwrite(str(photos / f"p{i}.png"), _photo(rng))
    styles = []
    for name, period in (("a", 4), ("b", 7)):
        yy, xx = np.mgrid[0:48, 0:48]
        img = np.zeros((48, 48, 3), np.uint8)
        img[..., 0] = 255 * ((xx // period) % 2)
        img[..., 1] = 255 * ((yy // period) % 2)
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
        styles.append(str(tmp_path / f"{name}.png"))
    cfg = TrainConfig(kind=kind, content_dir=str(photos), out=str(tmp_path / "run"),
                      styles=styles[:1] if kind == "feedforward" else styles,
                      net=dict(arch="fast", widths=[4, 8], n_res=1, shuffle_out=True), image_size=32, style_size=48,
                      batch=2, steps=5, checkpoint_every=0, sample_every=0, log_every=1, holdout=0.2,
                      temporal_weight=10.0)
    trainer = Trainer(cfg, device="cpu")
    summary = trainer.run()
    assert summary["step"] == 5
    assert "temporal" in summary["last"] and summary["last"]["temporal"] > 0
    assert len(trainer.history) == 5 and all(h["temporal"] > 0 for h in trainer.history)
    trainer.cfg.temporal_weight = 0.0  # off: the loss and its parts are exactly as before
    x, idx, _ = trainer._sample_inputs()
    with torch.no_grad():
        total, parts, _ = trainer._losses(x, idx)
    assert "temporal" not in parts and set(parts) == {"content", "style", "tv", "total"}
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["last"]["temporal"] == pytest.approx(summary["last"]["temporal"])
    # the motion pair: the same warp loss without the noise, weighted on its own
    trainer.cfg.temporal_weight, trainer.cfg.temporal_noise, trainer.cfg.motion_weight = 10.0, 0.2, 1e6
    torch.manual_seed(5)
    with torch.no_grad():
        total, parts, _ = trainer._losses(x, idx)
    assert 0 < parts["motion"] < parts["temporal"]  # the noisy pair adds the noise's share
    rest = parts["content"] * trainer.cfg.content_weight + parts["style"] * trainer.cfg.style_weight \
        + parts["tv"] * trainer.cfg.tv_weight + 10.0 * parts["temporal"]
    assert total.item() == pytest.approx(rest + 1e6 * parts["motion"], rel=1e-4)
    # pasted patches in the noisy pair: the step runs and the term stays a finite, positive figure
    trainer.cfg.temporal_sprites = 2
    with torch.no_grad():
        _, parts, _ = trainer._losses(x, idx)
    assert 0 < parts["temporal"] < float("inf")
    trainer.cfg.temporal_moving_sprites = 2  # moving patches as well: a pair of its own, both frames through the net
    with torch.no_grad():
        _, parts, _ = trainer._losses(x, idx)
    assert 0 < parts["temporal"] < float("inf")
    trainer.cfg.temporal_sprites = 0  # moving patches alone
    with torch.no_grad():
        _, parts, _ = trainer._losses(x, idx)
    assert 0 < parts["temporal"] < float("inf")
    trainer.cfg.temporal_sprite_deform = 2.0  # bent as they move
    with torch.no_grad():
        _, parts, _ = trainer._losses(x, idx)
    assert 0 < parts["temporal"] < float("inf")
    trainer.cfg.temporal_sprite_deform = 0.0
    if kind == "cin":  # a style's own factor: its crops' share of the term scales by it, the others' stays
        idx_b = torch.ones_like(idx)
        for tw in ({}, {"b": 5.0}, {"a": 5.0}):
            trainer.cfg.temporal_style_weights = tw
            torch.manual_seed(11)
            with torch.no_grad():
                _, parts, _ = trainer._losses(x, idx_b)
            if not tw:
                plain = parts["temporal"]
            else:
                assert parts["temporal"] == pytest.approx(plain * (5.0 if "b" in tw else 1.0), rel=1e-4)
        trainer.cfg.temporal_style_weights = {}
    trainer.cfg.temporal_noise_blur = 1.5  # grained noise, in the moving pair and in the plain one
    trainer.cfg.temporal_noise_grey = 0.6
    for moving in (2, 0):
        trainer.cfg.temporal_moving_sprites = moving
        with torch.no_grad():
            _, parts, _ = trainer._losses(x, idx)
        assert 0 < parts["temporal"] < float("inf")


def test_temporal_weight_validation(tmp_path):
    from stylecam.export.errors import UserError

    base = dict(content_dir=str(tmp_path), out=str(tmp_path / "o"), image_size=32)
    with pytest.raises(UserError, match="temporal"):
        TrainConfig(kind="adain", style_dir=str(tmp_path), temporal_weight=1.0, **base).resolved()
    style = tmp_path / "s.png"
    style.write_bytes(b"")
    with pytest.raises(UserError, match="temporal"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_weight=-1.0, **base).resolved()
    assert TrainConfig(kind="feedforward", styles=[str(style)], **base).resolved().temporal_weight == 0.0
    with pytest.raises(UserError, match="temporal-noise"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_noise=0.5, **base).resolved()
    with pytest.raises(UserError, match="temporal-noise-blur"):  # grain of no noise is a mistake, not a no-op
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_noise_blur=1.0, **base).resolved()
    with pytest.raises(UserError, match="temporal-noise-blur"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_noise=0.05, temporal_noise_blur=5.0,
                    **base).resolved()
    with pytest.raises(UserError, match="temporal-noise-grey"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_noise_grey=0.5, **base).resolved()
    with pytest.raises(UserError, match="temporal-noise-grey"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_noise=0.05, temporal_noise_grey=1.5,
                    **base).resolved()
    with pytest.raises(UserError, match="motion-weight"):
        TrainConfig(kind="feedforward", styles=[str(style)], motion_weight=-1.0, **base).resolved()
    with pytest.raises(UserError, match="temporal-sprites"):  # a sprite pair needs the warp loss it belongs to
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_sprites=2, **base).resolved()
    with pytest.raises(UserError, match="temporal-sprites"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_weight=1.0, temporal_sprites=9, **base).resolved()
    with pytest.raises(UserError, match="motion-weight"):
        TrainConfig(kind="adain", style_dir=str(tmp_path), motion_weight=1.0, **base).resolved()
    with pytest.raises(UserError, match="temporal-moving-sprites"):  # moving patches need the warp loss too
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_moving_sprites=2, **base).resolved()
    with pytest.raises(UserError, match="temporal-sprite-motion"):
        TrainConfig(kind="feedforward", styles=[str(style)], temporal_weight=1.0, temporal_moving_sprites=2,
                    temporal_sprite_motion=20.0, **base).resolved()


def test_temporal_loss_weighs_each_sample_by_its_factor():
    rng = torch.Generator().manual_seed(3)
    y = torch.rand(2, 3, 16, 16, generator=rng)
    y2 = torch.rand(2, 3, 16, 16, generator=rng)
    grid = TL.warp_grid(TL.random_affine(2, 16, 16, generator=rng), y.shape)
    plain = TL.temporal_loss(y, y2, grid)
    assert TL.temporal_loss(y, y2, grid, weight=torch.ones(2)).item() == pytest.approx(plain.item(), rel=1e-6)
    first = TL.temporal_loss(y, y2, grid, weight=torch.tensor([1.0, 0.0]))
    second = TL.temporal_loss(y, y2, grid, weight=torch.tensor([0.0, 1.0]))
    assert 0 < first < plain and 0 < second < plain
    assert (first + second).item() == pytest.approx(plain.item(), rel=1e-5)
    assert TL.temporal_loss(y, y2, grid, weight=torch.tensor([3.0, 1.0])).item() == \
        pytest.approx((3 * first + second).item(), rel=1e-5)


def test_temporal_style_weights_validation(tmp_path):
    from stylecam.export.errors import UserError

    base = dict(content_dir=str(tmp_path), out=str(tmp_path / "o"), image_size=32)
    styles = []
    for n in ("udnie", "kiss"):
        (tmp_path / f"{n}.jpg").write_bytes(b"")
        styles.append(str(tmp_path / f"{n}.jpg"))
    ok = TrainConfig(kind="cin", styles=styles, temporal_weight=1.0, temporal_style_weights={"udnie": 3.0}, **base)
    assert ok.resolved().temporal_style_weights == {"udnie": 3.0}
    with pytest.raises(UserError, match="names udnei, not one of the styles"):
        TrainConfig(kind="cin", styles=styles, temporal_weight=1.0, temporal_style_weights={"udnei": 3.0},
                    **base).resolved()
    with pytest.raises(UserError, match="needs --temporal-weight"):
        TrainConfig(kind="cin", styles=styles, temporal_style_weights={"udnie": 3.0}, **base).resolved()
    with pytest.raises(UserError, match="for cin nets"):
        TrainConfig(kind="feedforward", styles=styles[:1], temporal_weight=1.0,
                    temporal_style_weights={"udnie": 3.0}, **base).resolved()
    with pytest.raises(UserError, match="over 0 and at most 100"):
        TrainConfig(kind="cin", styles=styles, temporal_weight=1.0, temporal_style_weights={"udnie": 0.0},
                    **base).resolved()
    with pytest.raises(UserError, match="needs --temporal-moving-sprites"):  # bending needs moving patches
        TrainConfig(kind="cin", styles=styles, temporal_weight=1.0, temporal_sprite_deform=2.0, **base).resolved()
    assert TrainConfig(kind="cin", styles=styles, temporal_weight=1.0, temporal_moving_sprites=2,
                       temporal_sprite_deform=2.0, **base).resolved().temporal_sprite_deform == 2.0


def test_cli_passes_the_flag():
    from stylecam.export.train_cli import build_parser

    args = build_parser().parse_args(["cin", "--styles", "a.jpg", "--content-dir", "d", "--temporal-weight", "50",
                                      "--temporal-noise", "0.015", "--motion-weight", "80", "--temporal-sprites", "3",
                                      "--temporal-moving-sprites", "2", "--temporal-sprite-motion", "2.5",
                                      "--temporal-noise-blur", "1.5", "--temporal-noise-grey", "0.6",
                                      "--temporal-sprite-deform", "2"])
    assert args.temporal_sprite_deform == 2.0
    assert args.temporal_weight == 50.0 and args.temporal_noise == 0.015 and args.motion_weight == 80.0
    assert args.temporal_sprites == 3 and args.temporal_moving_sprites == 2 and args.temporal_sprite_motion == 2.5
    assert args.temporal_noise_blur == 1.5 and args.temporal_noise_grey == 0.6
    args = build_parser().parse_args(["cin", "--styles", "a.jpg", "--content-dir", "d", "--temporal-weight", "50",
                                      "--temporal-style-weights", "udnie=3, the_scream=2"])
    assert args.temporal_style_weights == {"udnie": 3.0, "the_scream": 2.0}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cin", "--styles", "a.jpg", "--content-dir", "d", "--temporal-style-weights",
                                   "udnie:3"])
    args = build_parser().parse_args(["feedforward", "--style", "a.jpg", "--content-dir", "d"])
    assert args.temporal_weight == 0.0

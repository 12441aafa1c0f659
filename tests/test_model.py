import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from batches import random_batch

from cliphand.cli import main
from cliphand.hand import load_hand_model
from cliphand.hand.coarse import NUM_TOKENS
from cliphand.model import ConfigError, LossWeights, build_model, config_names, load_config
from cliphand.model.config import config_from_dict
from cliphand.model.losses import compute_losses, gaussian_heatmaps
from cliphand.model.mted import MTED


@pytest.fixture(scope="module")
def hand():
    return load_hand_model("openhand")


@pytest.mark.parametrize("name", config_names())
def test_output_shapes_for_every_config(name, hand):
    config = replace(load_config(name), image_size=64)  # shapes scale with the input; keep it fast
    model = build_model(config, hand).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out["joints"].shape == (2, 21, 3) and out["coarse_vertices"].shape == (2, 195, 3)
    assert out["vertices"].shape == (2, hand.num_vertices, 3) and out["camera"].shape == (2, 3)
    assert (out["heatmaps"] is None) == (not config.mhf)
    if config.mhf:
        assert out["heatmaps"].shape == (2, 216, 16, 16)
    assert (out["template_weights"] is None) == (not config.pj)
    assert torch.isfinite(out["vertices"]).all()


def test_parameter_counts_match_the_paper(hand):
    for name, paper in (("s12", 30.64e6), ("s24", 40.20e6)):
        model = build_model(load_config(name), hand)
        params = sum(p.numel() for p in model.parameters())
        assert abs(params - paper) / paper < 0.15, (name, params)


def test_masks_really_block_attention(hand):
    mask = torch.as_tensor(hand.coarse.attention_mask(1))  # (217, 217), True = may attend
    mted = MTED(16, 4, dims=(32,), ff_dims=(64,), heads=4, encoder_layers=1, decoder_layers=1, dropout=0.0,
                masks=mask[None]).eval()  # fmt: skip
    memory, queries = torch.randn(1, 4, 16), torch.randn(1, NUM_TOKENS, 32)
    i = 22 + 10  # a vertex token
    blocked = torch.nonzero(~mask[i]).flatten()
    allowed = [j for j in torch.nonzero(mask[i]).flatten().tolist() if j != i and j >= 22]
    assert len(blocked) > 0 and allowed
    with torch.no_grad():
        base = mted(memory, queries)
        moved = queries.clone()
        moved[0, blocked[0]] += 5.0
        assert torch.allclose(mted(memory, moved)[0, i], base[0, i], atol=1e-5)  # blocked: no effect
        moved = queries.clone()
        moved[0, allowed[0]] += 5.0
        assert not torch.allclose(mted(memory, moved)[0, i], base[0, i], atol=1e-3)  # a neighbour: effect
        moved = queries.clone()
        moved[0, 0] += 5.0  # the camera token is never masked
        assert not torch.allclose(mted(memory, moved)[0, i], base[0, i], atol=1e-3)


class _Stub(torch.nn.Module):
    """Stands in for the network where losses need it: joints of a mesh = its first 21 vertices."""

    coarse_ids = torch.arange(195)

    def regress_joints(self, vertices):
        return vertices[:, :21]


def test_total_loss_equals_a_hand_computed_value():
    gt_joints = torch.zeros(1, 21, 3)
    gt_joints[0, :, 2] = 0.5  # every joint 0.5 m in front of the camera
    gt_joints[0, 1:, 0] = 0.01  # non-root joints 1 cm to the right of the wrist
    pred = gt_joints.clone()
    pred[0, 1:, 0] = 0.03  # 2 cm too far: root-relative x error 0.02 on 20 of 21 joints
    vertices = torch.zeros(1, 200, 3)
    vertices[0, :21] = pred[0]
    vertices[0, 21:, 1] = 0.004  # mesh beyond the joints: 4 mm off in y
    gt_vertices = torch.zeros(1, 200, 3)
    gt_vertices[0, :21] = gt_joints[0]
    gt_vertices[0, 21:, 2] = 0.5
    outputs = {
        "joints": pred,
        "joints_before_pj": pred.clone(),  # as with PJ: both outputs are supervised
        "vertices": vertices,
        "camera": torch.tensor([[1.0, 0.0, 0.0]]),
        "heatmaps": None,
    }
    batch = {
        "joints_3d": gt_joints,
        "joints_2d": torch.full((1, 21, 2), 31.5),  # the centre of a 64-px crop -> (0, 0)
        "visible": torch.ones(1, 21, dtype=torch.bool),
        "K": torch.eye(3)[None],
        "vertices": gt_vertices,
        "has_vertices": torch.tensor([True]),
        "image": torch.zeros(1, 3, 64, 64),
    }
    terms = compute_losses(outputs, batch, _Stub(), LossWeights(), contrastive=torch.tensor(0.25))
    joints_l1 = 20 * 0.02 / 63  # 20 joints x one coordinate off by 0.02, mean over 21 x 3
    # Vertices: the first 21 are off like the joints, the other 179 by 0.004 (y) and 0.5 (z: gt at z=0.5
    # relative to a wrist at z=0.5 -> 0; pred at z=0 relative to 0.5 -> -0.5).
    vertices_l1 = (20 * 0.02 + 179 * (0.004 + 0.5)) / 600
    joints_2d = 20 * 0.03 / 42  # projected root-relative x = 0.03 on 20 joints; targets at 0
    assert terms["joints"].item() == pytest.approx(2 * joints_l1)  # after PJ and before
    assert terms["joints_from_vertices"].item() == pytest.approx(joints_l1)
    assert terms["vertices"].item() == pytest.approx(vertices_l1)
    assert terms["joints_2d"].item() == pytest.approx(joints_2d)
    expected = 1000 * vertices_l1 + 1000 * (2 * joints_l1 + joints_l1) + 100 * joints_2d + 10 * 0.25
    assert terms["total"].item() == pytest.approx(expected, rel=1e-5)


def test_non_finite_loss_is_named():
    outputs = {"joints": torch.full((1, 21, 3), float("nan")), "vertices": torch.zeros(1, 30, 3),
               "camera": torch.zeros(1, 3), "heatmaps": None}  # fmt: skip
    batch = {"joints_3d": torch.zeros(1, 21, 3), "joints_2d": torch.zeros(1, 21, 2), "visible": torch.ones(1, 21),
             "K": torch.eye(3)[None], "vertices": torch.zeros(1, 30, 3), "has_vertices": torch.tensor([False]),
             "image": torch.zeros(1, 3, 32, 32)}  # fmt: skip
    with pytest.raises(FloatingPointError, match="non-finite loss term.*joints"):
        compute_losses(outputs, batch, _Stub(), LossWeights())


def test_heatmap_targets_peak_at_the_points():
    maps = gaussian_heatmaps(torch.tensor([[[10.0, 30.0]]]), size=64, out=16, sigma=1.0)
    assert maps.sum().item() == pytest.approx(1.0)
    y, x = divmod(int(maps[0, 0].argmax()), 16)
    assert (x, y) == (round((10 + 0.5) / 4 - 0.5), round((30 + 0.5) / 4 - 0.5))


def test_training_step_reaches_every_parameter(hand):
    config = load_config("tiny")
    model = build_model(config, hand)
    batch = random_batch(2, hand.num_vertices, config.image_size)
    outputs = model(batch["image"])
    compute_losses(outputs, batch, model, config.loss_weights)["total"].backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("name", ["mobile", "tiny"])
def test_channels_last_computes_what_the_default_layout_does(name, hand):
    """The trainer keeps the network in channels_last; reshapes that assume NCHW would change the result."""
    config = replace(load_config(name), image_size=64)
    torch.manual_seed(0)
    model = build_model(config, hand).train()
    for m in model.modules():  # batch statistics of 2 tiny images amplify rounding differences
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    with torch.no_grad():  # PAT's layer scales start at 1e-5, which would hide its token mixer
        for param_name, p in model.named_parameters():
            if param_name.endswith(("scale1", "scale2")):
                p.fill_(0.5)
    batch = random_batch(2, hand.num_vertices, 64)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        model.to(memory_format=layout).zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        outputs = model(batch["image"].contiguous(memory_format=layout))
        loss = compute_losses(outputs, batch, model, config.loss_weights)["total"]
        loss.backward()
        results.append((outputs["vertices"].detach(), loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (v0, l0, g0), (v1, l1, g1) = results
    assert torch.allclose(v0, v1, atol=1e-6) and torch.allclose(l0, l1, rtol=1e-5)
    # The floor: some biases' gradients are zero in exact arithmetic, so rounding noise here.
    floor = 1e-7 * torch.cat([g.flatten() for g in g0]).norm()
    assert all((a - b).norm() <= 1e-3 * a.norm() + floor for a, b in zip(g0, g1, strict=True))


@pytest.mark.parametrize("name", [n for n in config_names() if n.startswith("table5_")])
def test_every_table5_row_takes_a_training_step(name, hand):
    config = replace(load_config(name), image_size=64, cm=False)  # CM's own step: tests/test_cm.py
    model = build_model(config, hand)
    batch = random_batch(2, hand.num_vertices, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = model(batch["image"])["joints"].detach()
    loss = compute_losses(model(batch["image"]), batch, model, config.loss_weights)["total"]
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.allclose(model(batch["image"])["joints"], before)  # the step changed the prediction


def test_query_tokens_are_distinct_at_start(hand):
    """Each query token carries a learned identity, so joint tokens are not one global average."""
    torch.manual_seed(0)
    model = build_model(load_config("tiny"), hand).eval()
    features = model.features(torch.rand(2, 3, 128, 128))
    queries, _ = model.mhf(model.hfa(features), features[-1].mean((2, 3)))
    joints = torch.nn.functional.normalize(queries[:, 1:22], dim=-1)
    cosine = joints @ joints.transpose(1, 2)
    off_diagonal = cosine[:, ~torch.eye(21, dtype=torch.bool)]
    assert off_diagonal.mean() < 0.5, float(off_diagonal.mean())


@pytest.mark.parametrize("name", ["tiny", "mobile"])
def test_heatmap_gradient_is_comparable_to_the_3d_terms(name, hand):
    """At the start of training the heatmap term's gradient on the joint-heatmap convolution is
    within 30x of the geometric terms' (with the paper's weight of 1 it was about 5,500x weaker)."""
    torch.manual_seed(0)
    config = load_config(name)
    model = build_model(config, hand)
    batch = random_batch(4, hand.num_vertices, config.image_size)
    terms = compute_losses(model(batch["image"]), batch, model, config.loss_weights)
    w = config.loss_weights
    conv = model.mhf.joint_maps[1].weight
    geometric = w.vertices * terms["vertices"] + w.joints * (terms["joints"] + terms["joints_from_vertices"])
    geometric = geometric + w.joints_2d * terms["joints_2d"]
    g_heatmap = torch.autograd.grad(w.heatmap * terms["heatmap"], conv, retain_graph=True)[0].norm()
    g_geometric = torch.autograd.grad(geometric, conv)[0].norm()
    assert 1 / 30 < float(g_geometric / g_heatmap) < 30


def test_camera_and_heads_start_in_the_datas_range(hand):
    """The weak-perspective scale starts inside the range of FreiHAND-like crops (6.7-12.3), and
    the heads start at a hand of the right size, not at a random point cloud."""
    torch.manual_seed(0)
    model = build_model(load_config("tiny"), hand).eval()
    with torch.no_grad():
        out = model(torch.rand(4, 3, 128, 128))
    assert ((out["camera"][:, 0] > 6.7) & (out["camera"][:, 0] < 12.3)).all()
    length = (out["joints"][:, 12] - out["joints"][:, 0]).norm(dim=-1)  # wrist to middle tip
    assert ((length > 0.12) & (length < 0.25)).all(), length


def test_inference_needs_no_clip_packages():
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "sys.modules['sentence_transformers'] = None\n"
        "import torch\n"
        "from cliphand.model import build_model, load_config\n"
        "model = build_model(load_config('tiny')).eval()\n"
        "out = model(torch.rand(1, 3, 128, 128))\n"
        "assert out['joints'].shape == (1, 21, 3)\n"
        "assert 'cliphand.model.cm' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"hfa_typo": True}, "unknown key(s) hfa_typo"),
        ({"backbone": "resnet50"}, "unknown backbone 'resnet50'"),
        ({"mted_dims": [512], "mted_ff_dims": [2048, 512]}, "same, non-zero length"),
        ({"mted_dims": [500, 128]}, "divide by mted_heads"),
        ({"loss_weights": {"vertex": 1.0}}, "unknown loss weight(s) vertex"),
        ({"image_size": 200}, "multiple of 32"),
    ],
)
def test_bad_configs_are_named(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(raw, "test.yaml")


def test_projected_stages_keep_hfas_output_and_cut_its_work(hand):
    """hfa_stage_dim brings each stage to one width before HFA concatenates them: the same
    (B, D, H/4, W/4) map comes out, from a PAT block that mixes 4 x stage_dim channels, the
    projections learn, and the network costs fewer FLOPs than with the paper's concatenation."""
    from torch.utils.flop_counter import FlopCounterMode

    paper = replace(load_config("mobile"), image_size=64)
    projected = replace(paper, hfa_stage_dim=32)
    flops = []
    for config in (paper, projected):
        model = build_model(config, hand)
        features = model.features(torch.rand(2, 3, 64, 64))
        out = model.hfa(features)
        assert out.shape == (2, config.hfa_dim, 16, 16)
        with FlopCounterMode(display=False) as counter:
            model(torch.rand(1, 3, 64, 64))
        flops.append(counter.get_total_flops())
    assert model.hfa.compress.norm1.num_channels == 4 * 32
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.hfa.project.parameters())
    assert flops[1] < 0.9 * flops[0], flops  # 0.85 at these widths


def test_pat_rejects_channels_not_divisible_by_32():
    from cliphand.model.pat import PoolAttention

    with pytest.raises(ValueError, match="divisible by 32"):
        PoolAttention(48)


def test_summary_cli(capsys, tmp_path):
    assert main(["model", "summary", "--config", "tiny", "--json", "--runs", "2", "--no-cm"]) == 0
    import json

    summary = json.loads(capsys.readouterr().out)
    for key in ("params", "params_by_module", "gflops", "latency_ms"):
        assert key in summary
    assert summary["params"] == sum(summary["params_by_module"].values())
    assert summary["gflops"] > 0 and summary["output_shapes"]["joints"] == [1, 21, 3]
    bad = tmp_path / "bad.yaml"
    bad.write_text("backbone: pat_s12\nuse_magic: true\n")
    assert main(["model", "summary", "--config", str(bad)]) == 2
    assert "unknown key(s) use_magic" in capsys.readouterr().err

"""The papers' equations, computed here from their closed forms on small tensors, against the
pipelines' own code: Live-Sketch's displacement field, global affine, learning-rate schedule and SDS
gradient; FlipSketch's composed attention. Nothing here calls the code it checks to get the expected
value, so a later drift in either pipeline shows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from diffusers.models.attention_processor import Attention

from inkmotion.pipelines.flipsketch import ComposedSelfAttention, Composition
from inkmotion.pipelines.live_sketch import (
    DisplacementField,
    LiveSketchConfig,
    LiveSketchPipeline,
    affine_matrices,
    apply_affine,
    lr_multiplier,
    sds_gradient,
    sds_loss,
)

# -- Live-Sketch: the global path (Sec. 4.3) ---------------------------------------------------


def test_global_affine_is_rotation_times_shear_times_scale_plus_translation():
    g = torch.Generator().manual_seed(0)
    frames = 5
    scale = 1 + 0.2 * torch.randn(frames, 2, generator=g)
    shear = 0.3 * torch.randn(frames, 2, generator=g)
    theta = torch.randn(frames, generator=g)
    shift = 5 * torch.randn(frames, 2, generator=g)
    got = affine_matrices(scale, shear, theta, shift)
    for f in range(frames):
        c, s = math.cos(theta[f]), math.sin(theta[f])
        rotation = torch.tensor([[c, -s], [s, c]])
        shearing = torch.tensor([[1.0, shear[f, 1]], [shear[f, 0], 1.0]])  # x' = x + hy y, y' = hx x + y
        scaling = torch.diag(scale[f])
        torch.testing.assert_close(got[f, :, :2], rotation @ shearing @ scaling, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got[f, :, 2], shift[f])
    points = torch.randn(7, 2, generator=g)
    moved = apply_affine(got, points)
    torch.testing.assert_close(moved, torch.einsum("fij,pj->fpi", got[:, :, :2], points) + got[:, None, :, 2])


def test_control_points_are_the_affine_of_the_rest_pose_plus_the_local_offsets(tiny_dir, vector_sketches):
    # x_f = A_f (p - c) + t_f + d_f + c for every real control point p (the two paths of Sec. 4.3).
    from inkmotion import models
    from inkmotion.codec.svg import read_svg

    pipeline = LiveSketchPipeline.from_model(models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu"))
    config = LiveSketchConfig(frames=3)
    state = pipeline.prepare_sketch(read_svg(vector_sketches[0]), config)
    torch.manual_seed(1)
    field = DisplacementField(int(state.mask.sum()), 3, config)
    rest = state.control[state.mask] - state.centre
    with torch.no_grad():
        offsets, matrices = field(rest)
        got = pipeline.control_points(field, state, config, local=True, global_=True)[:, state.mask]
    expected = torch.stack([rest @ matrices[f, :, :2].T + matrices[f, :, 2] + offsets[f] for f in range(3)]) + state.centre
    torch.testing.assert_close(got, expected)


# -- Live-Sketch: the displacement field's positional code and its sensitivity ------------------


def _sinusoid(count: int, dim: int) -> torch.Tensor:
    """PE(i, 2k) = sin(i / 10000^(2k/d)), PE(i, 2k+1) = cos(i / 10000^(2k/d))."""
    table = torch.empty(count, dim, dtype=torch.float64)
    for i in range(count):
        for k in range(dim // 2):
            angle = i / 10000 ** (2 * k / dim)
            table[i, 2 * k], table[i, 2 * k + 1] = math.sin(angle), math.cos(angle)
    return table.float()


def test_the_positional_code_is_the_sinusoid_alone_with_dropout_only_while_optimising():
    config = LiveSketchConfig(frames=2, hidden=16)
    field = DisplacementField(points=6, frames=2, config=config)
    points = torch.randn(6, 2) * 30
    with torch.no_grad():
        projected = field.project(points)
        code = field.code(points).reshape(6, 16)
        torch.testing.assert_close(code - projected, _sinusoid(6, 16), rtol=0, atol=1e-5)
        # While optimising (a generator given): each entry dropped with p = 0.1, the rest scaled by 1/0.9.
        dropped = field.code(points, torch.Generator().manual_seed(0)).reshape(6, 16) - projected
    kept = dropped.abs() > 1e-6
    torch.testing.assert_close(dropped[kept], (_sinusoid(6, 16) / 0.9)[kept], rtol=0, atol=1e-5)
    assert 0 < (~kept).sum() < 6 * 16 * 0.3
    assert not any("embedding" in type(m).__name__.lower() for m in field.modules()), "no learnable index embedding"


def test_the_translation_head_has_three_hidden_blocks_and_the_others_one():
    # (Linear, LayerNorm, LeakyReLU) x 3, then the output Linear, as the reference's.
    field = DisplacementField(points=4, frames=2, config=LiveSketchConfig(frames=2, hidden=8))

    def blocks(head):
        kinds = [type(m).__name__ for m in head.modules() if not isinstance(m, torch.nn.Sequential)]
        assert kinds[-1] == "Linear"
        hidden = kinds[:-1]
        assert hidden == ["Linear", "LayerNorm", "LeakyReLU"] * (len(hidden) // 3)
        return len(hidden) // 3

    assert blocks(field.translation) == 3
    assert blocks(field.rotation) == blocks(field.shear) == blocks(field.scale) == 1


def _reference_trunk(points: int, frames: int, h: int, embedding_scale: float = 0.0):
    """The reference design's global trunk input, built from its description: F copies of the
    points, each point i of copy f coded by the sinusoid at index f*P + i (and, for the contrast,
    optionally plus a learnable embedding times `embedding_scale`), flattened into one Linear."""
    project = torch.nn.Sequential(torch.nn.Linear(2, h), torch.nn.LayerNorm(h), torch.nn.LeakyReLU(), torch.nn.Linear(h, h))
    position = _sinusoid(frames * points, h)
    embedding = torch.nn.Embedding(frames * points, h)
    trunk = torch.nn.Sequential(torch.nn.Linear(frames * points * h, h), torch.nn.LayerNorm(h), torch.nn.LeakyReLU(),
                                torch.nn.Linear(h, h), torch.nn.LayerNorm(h), torch.nn.LeakyReLU())

    def features(x):
        code = project(x).repeat(frames, 1) + position + embedding.weight * embedding_scale
        return trunk(code.reshape(1, -1))

    return features


def _sensitivity(features, x: torch.Tensor) -> float:
    jacobian = torch.autograd.functional.jacobian(features, x)
    return float(jacobian.norm())


def test_field_sensitivity_to_the_points_at_initialisation_matches_the_reference_design():
    # The global trunk's features are what every global head reads: their Jacobian with respect to
    # the control points, averaged over initialisations, within 2x of the reference layout's. The
    # contrast (the index embedding x sqrt(h) added for real) must fall outside that band, so this
    # measure can tell the two apart.
    points, frames, h = 12, 4, 128
    ours, reference, embedded = [], [], []
    for seed in range(4):
        x = torch.randn(points, 2, generator=torch.Generator().manual_seed(100 + seed)) * 60
        torch.manual_seed(seed)
        field = DisplacementField(points, frames, LiveSketchConfig(frames=frames, hidden=h))
        ours.append(_sensitivity(lambda p: field.global_trunk(field.code(p)), x))
        torch.manual_seed(seed)
        reference.append(_sensitivity(_reference_trunk(points, frames, h), x))
        torch.manual_seed(seed)
        embedded.append(_sensitivity(_reference_trunk(points, frames, h, math.sqrt(h)), x))
    ratio = sum(ours) / sum(reference)
    assert 0.5 < ratio < 2.0, f"ours / reference sensitivity = {ratio:.2f}"
    assert sum(embedded) / sum(reference) < 0.5, "the measure could not see the embedding's damping"


# -- Live-Sketch: learning-rate schedule (VectorFusion's) ---------------------------------------


@pytest.mark.parametrize("step", [0, 1, 37, 100, 250, 999, 1000])
def test_learning_rate_is_the_delayed_log_linear_decay(step):
    config = LiveSketchConfig(steps=1000)
    m, d, a, b = config.lr_delay_mult, config.lr_delay_steps, config.lr_init, config.lr_final
    delay = m + (1 - m) * math.sin(math.pi / 2 * min(step / d, 1))
    t = step / 1000
    expected = delay * a ** (1 - t) * b ** t / a
    assert lr_multiplier(step, config) == pytest.approx(expected, rel=1e-12)


# -- Live-Sketch: score distillation (Eq. 2) ----------------------------------------------------


class LinearDenoiser:
    """A denoiser with a known answer: eps_u = a * z_t, eps_c = b * z_t + c."""

    def __init__(self, a=0.3, b=-0.7, c=0.05):
        self.a, self.b, self.c = a, b, c
        self.timesteps: list[int] = []

    def __call__(self, z, t, encoder_hidden_states):
        self.timesteps.extend(t.tolist())
        uncond, cond = z.chunk(2)
        return SimpleNamespace(sample=torch.cat([self.a * uncond, self.b * cond + self.c]))


def test_sds_gradient_is_eq2():
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 3, 5, 5, generator=g)
    noise = torch.randn(latents.shape, generator=g)
    alphas_cumprod = torch.linspace(0.999, 0.01, 1000)
    unet = LinearDenoiser()
    grad = sds_gradient(unet, latents, torch.zeros(2, 7, 8), torch.tensor([437]), noise, alphas_cumprod, guidance=30.0)
    ab = alphas_cumprod[437]
    z_t = ab.sqrt() * latents + (1 - ab).sqrt() * noise  # q(z_t | z_0)
    eps_u, eps_c = unet.a * z_t, unet.b * z_t + unet.c
    expected = (1 - ab) * (eps_u + 30.0 * (eps_c - eps_u) - noise)  # w(t) (eps_hat - eps)
    torch.testing.assert_close(grad, expected)
    assert unet.timesteps == [437, 437], "conditional and unconditional share the timestep"


def test_sds_loss_pushes_exactly_the_gradient():
    latents = torch.randn(1, 4, 2, 3, 3, requires_grad=True)
    grad = torch.randn(1, 4, 2, 3, 3)
    sds_loss(latents, grad).backward()
    torch.testing.assert_close(latents.grad, grad)


def test_sds_timesteps_are_drawn_below_the_exclusive_high_end(tiny_dir):
    # The reference draws randint(50, 949): 50..948. The range's high end is exclusive here too:
    # with (947, 949) only 947 and 948 may appear.
    from inkmotion import models

    assert LiveSketchConfig().timestep_range == (50, 949)
    t2v = models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu")
    unet = LinearDenoiser()
    pipeline = LiveSketchPipeline(unet, t2v.vae, t2v.text_encoder, t2v.tokenizer, t2v.scheduler, device="cpu",
                                  dtype=torch.float32)
    config = LiveSketchConfig(timestep_range=(947, 949))
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.zeros(2, 7, 8)
    for _ in range(24):
        ink = torch.zeros(2, 32, 32, requires_grad=True)
        pipeline.sds_backward(ink * 1.0, embeddings, 30.0, generator, config)
    assert set(unet.timesteps) == {947, 948}


# -- FlipSketch: dual attention composition (Sec. 4.3) ------------------------------------------


def _attention(dim=8, heads=2) -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=dim, heads=heads, dim_head=dim // heads, bias=True).eval()


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    rows, length, inner = x.shape
    return x.view(rows, length, heads, inner // heads).transpose(1, 2)


def _attend(attn: Attention, q, k, v, heads: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head, then the output projection."""
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)
    return attn.to_out[0](out)


@torch.no_grad()
def _composed(attn: Attention, state: Composition, temporal: bool, reference, generated) -> torch.Tensor:
    """Our processor's output for the generation pass, after a reference pass saved its q and k."""
    processor = ComposedSelfAttention("layer", temporal, state)
    state.mode = "save"
    processor(attn, reference)
    state.mode = "compose"
    return processor(attn, generated)


def test_spatial_composition_is_the_reference_query_against_the_frames_own_keys():
    # A_spat = C^S(q^g k^g^T, q^r k^g^T) / sqrt(d): the first N frames of every video take the
    # reference's N queries; the others keep their own. Rows are (video, frame), tokens are pixels.
    attn, heads = _attention(), 2
    videos, frames, copies, pixels = 2, 4, 2, 5
    g = torch.Generator().manual_seed(1)
    reference = torch.randn(copies, pixels, 8, generator=g)  # the reference pass: N frames
    generated = torch.randn(videos * frames, pixels, 8, generator=g)
    got = _composed(attn, Composition(frames=frames, batch=videos, copies=copies), False, reference, generated)
    with torch.no_grad():
        q_ref = _heads(attn.to_q(reference), heads)
        q, k, v = (_heads(f(generated), heads) for f in (attn.to_q, attn.to_k, attn.to_v))
        q = q.view(videos, frames, *q.shape[1:]).clone()
        q[:, :copies] = q_ref  # the same reference queries for every video
        expected = _attend(attn, q.view(videos * frames, *q.shape[2:]), k, v, heads)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_temporal_composition_scores_the_first_frame_by_the_reference_key(lam):
    # A_temp = C^T(q^g k^g^T, q^g k^r^T) / sqrt(d): the logit of query frame i against key frame 0
    # uses the reference's frame-0 key, scaled by (1 + lambda * 2e-2 * i); every other logit is plain.
    attn, heads = _attention(), 2
    videos, pixels, frames = 2, 3, 5
    g = torch.Generator().manual_seed(2)
    reference = torch.randn(pixels, 2, 8, generator=g)  # rows are pixels, the sequence is frames
    generated = torch.randn(videos * pixels, frames, 8, generator=g)
    got = _composed(attn, Composition(frames=frames, batch=videos, lambda_fidelity=lam), True, reference, generated)
    with torch.no_grad():
        k_ref = _heads(attn.to_k(reference), heads)[:, :, :1].repeat(videos, 1, 1, 1)
        q, k, v = (_heads(f(generated), heads) for f in (attn.to_q, attn.to_k, attn.to_v))
        d = q.shape[-1]
        logits = q @ k.transpose(-1, -2) / math.sqrt(d)
        for i in range(frames):
            logits[:, :, i, 0] = (q[:, :, i] * k_ref[:, :, 0]).sum(-1) / math.sqrt(d) * (1 + lam * 2e-2 * i)
        out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(videos * pixels, frames, -1)
        expected = attn.to_out[0](out)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_plain_and_saving_passes_are_ordinary_self_attention():
    attn, heads = _attention(), 2
    x = torch.randn(3, 6, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        q, k, v = (_heads(f(x), heads) for f in (attn.to_q, attn.to_k, attn.to_v))
        expected = _attend(attn, q, k, v, heads)
        for mode in ("plain", "save"):
            state = Composition(frames=3, mode=mode)
            torch.testing.assert_close(ComposedSelfAttention("layer", False, state)(attn, x), expected,
                                       rtol=1e-5, atol=1e-6)

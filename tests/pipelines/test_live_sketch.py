"""Live-Sketch on the CPU: SDS as in Eq. (2), exact affine global motion, gradients that reach the
control points and the field, cancellation, and real runs with tiny random models."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from inkmotion.pipelines.live_sketch import (
    DisplacementField,
    LiveSketchConfig,
    affine_matrices,
    apply_affine,
    lr_multiplier,
    random_view,
    sds_gradient,
    sds_loss,
    warp,
)


class StubUNet:
    """A denoiser with a known answer: eps_u = a * z_t, eps_c = b * z_t + c."""

    def __init__(self, a=0.3, b=-0.7, c=0.05):
        self.a, self.b, self.c = a, b, c
        self.calls = []

    def __call__(self, z, t, encoder_hidden_states):
        self.calls.append((z.shape, t.tolist(), encoder_hidden_states.shape))
        uncond, cond = z.chunk(2)
        return SimpleNamespace(sample=torch.cat([self.a * uncond, self.b * cond + self.c]))


def test_sds_gradient_is_eq2():
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 3, 5, 5)
    noise = torch.randn_like(latents)
    alphas_cumprod = torch.linspace(0.999, 0.01, 1000)
    t = torch.tensor([437])
    unet = StubUNet()
    grad = sds_gradient(unet, latents, torch.zeros(2, 7, 8), t, noise, alphas_cumprod, guidance=30.0)

    ab = alphas_cumprod[437]
    z_t = ab.sqrt() * latents + (1 - ab).sqrt() * noise
    eps_u, eps_c = unet.a * z_t, unet.b * z_t + unet.c
    expected = (1 - ab) * (eps_u + 30.0 * (eps_c - eps_u) - noise)
    torch.testing.assert_close(grad, expected)
    assert unet.calls[0][1] == [437, 437], "conditional and unconditional share the timestep"


def test_sds_loss_pushes_exactly_the_gradient():
    latents = torch.randn(1, 4, 2, 3, 3, requires_grad=True)
    grad = torch.randn(1, 4, 2, 3, 3)
    sds_loss(latents, grad).backward()
    torch.testing.assert_close(latents.grad, grad)


def test_global_transform_is_exactly_affine_and_identity_at_rest():
    frames = 4
    scale = torch.tensor([[1.1, 0.9]] * frames)
    shear = torch.tensor([[0.1, -0.05]] * frames)
    theta = torch.full((frames,), 0.3)
    shift = torch.tensor([[2.0, -3.0]] * frames)
    m = affine_matrices(scale, shear, theta, shift)
    pts = torch.randn(10, 2)
    moved = apply_affine(m, pts)
    # an affine map preserves ratios along lines: midpoints map to midpoints
    mid = apply_affine(m, (pts[:5] + pts[5:]) / 2)
    torch.testing.assert_close(mid, (moved[:, :5] + moved[:, 5:]) / 2)
    rest = affine_matrices(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1), torch.zeros(1, 2))
    torch.testing.assert_close(rest[0], torch.eye(2, 3))


def test_lr_schedule_follows_the_reference():
    config = LiveSketchConfig(steps=1000)
    assert lr_multiplier(0, config) == pytest.approx(0.1)
    assert lr_multiplier(100, config) == pytest.approx(math.exp(math.log(0.002) * 0.9 + math.log(0.0008) * 0.1) / 0.002)
    assert lr_multiplier(1000, config) == pytest.approx(0.4)


def test_field_starts_near_rest_and_its_weights_get_gradients():
    config = LiveSketchConfig(frames=3, hidden=16)
    field = DisplacementField(points=8, frames=3, config=config)
    rest = torch.randn(8, 2) * 20
    offsets, matrices = field(rest)
    assert offsets.abs().max() < 1.0
    assert (matrices - torch.eye(2, 3)).abs().max() < 0.05
    (offsets.square().sum() + (matrices * torch.randn_like(matrices)).sum()).backward()
    for name, p in field.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_augmentation_is_the_same_for_every_frame_and_keeps_ink_in_range():
    gen = torch.Generator().manual_seed(3)
    h = random_view(gen, "cpu")
    ink = torch.zeros(2, 32, 32)
    ink[:, 10:20, 12:14] = 1.0
    out = warp(ink, h)
    torch.testing.assert_close(out[0], out[1])
    assert 0 <= out.min() and out.max() <= 1 and out.sum() > 0
    identity = warp(ink, torch.eye(3))
    torch.testing.assert_close(identity, ink, atol=1e-5, rtol=0)


# -- with a tiny random text-to-video model, through the real loader ---------------------------

from inkmotion import models  # noqa: E402
from inkmotion.codec.svg import read_svg  # noqa: E402
from inkmotion.errors import Cancelled  # noqa: E402
from inkmotion.pipelines.base import Progress  # noqa: E402
from inkmotion.pipelines.live_sketch import LiveSketchPipeline  # noqa: E402

FAST = dict(frames=3, steps=2, augment=True, seed=1)


@pytest.fixture(scope="module")
def pipeline(tiny_dir):
    return LiveSketchPipeline.from_model(models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu"))


@pytest.fixture(scope="module")
def sketch(vector_sketches):
    return read_svg(vector_sketches[3])


def _affine_residual(src: np.ndarray, dst: np.ndarray) -> float:
    design = np.hstack([src, np.ones((len(src), 1))]).astype(np.float64)
    solution, *_ = np.linalg.lstsq(design, dst.astype(np.float64), rcond=None)
    return float(np.abs(design @ solution - dst).max())


def test_gradients_reach_the_control_points_and_the_field(pipeline, sketch):
    config = LiveSketchConfig(**FAST)
    state = pipeline.prepare_sketch(sketch, config)
    points = int(state.mask.sum())
    field = DisplacementField(points, config.frames, config)
    control = pipeline.control_points(field, state, config, local=True, global_=True)
    control.retain_grad()
    ink = pipeline.render(control, state, config)
    latents = pipeline.encode_frames(ink, torch.randn(pipeline.latent_noise_shape(3, ink.shape[-1])))
    embeddings = pipeline.encode_prompt("a cat stretches")
    grad = sds_gradient(pipeline.unet, latents, embeddings, torch.tensor([500]), torch.randn_like(latents),
                        pipeline.scheduler.alphas_cumprod, 30.0)
    sds_loss(latents, grad).backward()
    assert control.grad is not None and control.grad[:, state.mask].abs().sum() > 0
    assert control.grad[:, ~state.mask].abs().sum() == 0, "padding does not move"
    for name, p in field.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reached {name}"


def test_chunked_vae_backward_gives_the_whole_video_gradient(pipeline):
    # The memory saver (re-encoding chunks of frames with grad) must not change the update.
    ink = torch.rand(5, 256, 256, generator=torch.Generator().manual_seed(4))
    embeddings = pipeline.encode_prompt("a cat stretches")
    grads = []
    for chunk in (0, 2):
        leaf = ink.clone().requires_grad_()
        config = LiveSketchConfig(vae_chunk=chunk)
        pipeline.sds_backward(leaf * 1.0, embeddings, 30.0, torch.Generator().manual_seed(7), config)
        grads.append(leaf.grad)
    assert grads[0].abs().sum() > 0
    # equal up to float32 summation order (convolutions batch differently)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-4 * grads[0].abs().max().item())


def test_with_the_local_path_off_every_frame_is_an_exact_affine_transform(pipeline, sketch):
    frames = pipeline(sketch, "a cat jumps", LiveSketchConfig(**FAST, local_motion=False, motion_strength=40.0))
    src = np.concatenate([s.points for s in sketch.strokes])
    moved = 0.0
    for frame in frames:
        dst = np.concatenate([s.points for s in frame.strokes])
        assert _affine_residual(src, dst) < 1e-3
        moved = max(moved, float(np.abs(dst - src).max()))
    assert moved > 1e-3, "the global path moved nothing"


def test_output_keeps_every_stroke_and_its_attributes(pipeline, sketch):
    frames = pipeline(sketch, "a cat waves", LiveSketchConfig(**FAST))
    assert len(frames) == 3
    for frame in frames:
        assert len(frame.strokes) == len(sketch.strokes)
        for got, want in zip(frame.strokes, sketch.strokes):
            assert got.points.shape == want.points.shape and np.isfinite(got.points).all()
            np.testing.assert_array_equal(got.radii, want.radii)
            np.testing.assert_array_equal(got.opacities, want.opacities)
            np.testing.assert_array_equal(got.color, want.color)


def test_cancelling_stops_within_one_step(pipeline, sketch):
    seen = []

    def on_progress(p: Progress):
        seen.append(p.step)
        if p.step == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        pipeline(sketch, "a cat", LiveSketchConfig(frames=2, steps=50, seed=0), on_progress)
    assert seen == [0, 0, 1, 2]  # two phases (prompt, sketch) before the steps


def test_the_same_seed_gives_the_same_animation(pipeline, sketch):
    a = pipeline(sketch, "a cat", LiveSketchConfig(**FAST))
    b = pipeline(sketch, "a cat", LiveSketchConfig(**FAST))
    for fa, fb in zip(a, b):
        for sa, sb in zip(fa.strokes, fb.strokes):
            np.testing.assert_array_equal(sa.points, sb.points)

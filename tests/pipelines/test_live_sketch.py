"""Live-Sketch on the CPU: exact affine global motion, the augmentation's direction and order,
gradients that reach the control points and the field, cancellation, and real runs with tiny random
models. (The equations themselves: test_equations.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import assert_same_attributes
from inkmotion.pipelines.live_sketch import (
    DisplacementField,
    LiveSketchConfig,
    affine_matrices,
    apply_affine,
    random_crop,
    random_perspective,
    random_view,
    sds_gradient,
    sds_loss,
    warp,
)


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


def test_field_starts_near_rest_and_its_weights_get_gradients():
    # Default initialisation, as the reference: small random motion, scaled by the path weights.
    config = LiveSketchConfig(frames=3)
    torch.manual_seed(0)
    field = DisplacementField(points=8, frames=3, config=config)
    rest = torch.randn(8, 2) * 20
    offsets, matrices = field(rest)
    assert offsets.std() < 1.0, "local offsets start under a pixel"
    assert (matrices[:, :, :2] - torch.eye(2)).abs().max() < 0.3
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


def _centroid(ink: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(ink.shape[0]), torch.arange(ink.shape[1]), indexing="ij")
    return torch.stack([(xs * ink).sum(), (ys * ink).sum()]) / ink.sum()


def test_the_perspective_shrinks_the_drawing_toward_the_centre_on_white_paper():
    # As torchvision's RandomPerspective(fill=1): the corners move inward. A page full of ink
    # keeps ink in the middle and shows white paper (no ink) at every corner; a mark near a
    # corner moves toward the centre. Over many draws, never the other way.
    size, centre = 64, torch.tensor([31.5, 31.5])
    full = torch.ones(1, size, size)
    mark = torch.zeros(1, size, size)
    mark[0, 4:10, 52:58] = 1.0  # top right
    gen = torch.Generator().manual_seed(0)
    white_corners = 0
    for _ in range(50):
        h = random_perspective(gen)
        page = warp(full, h)[0]
        assert page[24:40, 24:40].min() > 0.99, "the middle of the drawing is kept"
        corners = torch.stack([page[0, 0], page[0, -1], page[-1, 0], page[-1, -1]])
        assert corners.max() < 0.5, "the corners are paper"
        white_corners += int((corners < 0.01).sum())
        moved = warp(mark, h)[0]
        assert moved.sum() > 0
        before, after = (_centroid(mark[0]) - centre).norm(), (_centroid(moved) - centre).norm()
        assert after < before, "the mark moved away from the centre"
    assert white_corners > 150


def test_the_crop_comes_after_the_perspective():
    # One view = the perspective, then a square crop of its result stretched back to the frame:
    # warping twice (perspective, then crop) gives the frame of the composed view, and the other
    # order does not. (Soft blobs, so that interpolating twice costs little.)
    ys, xs = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    ink = sum(torch.exp(-((xs - a) ** 2 + (ys - b) ** 2) / 98) for a, b in [(30, 20), (70, 40), (40, 75), (60, 60)])[None]
    for seed in range(8):
        view = random_view(torch.Generator().manual_seed(seed), "cpu")
        gen = torch.Generator().manual_seed(seed)
        perspective, crop = random_perspective(gen), random_crop(gen)
        once = warp(ink, view)
        assert (warp(warp(ink, perspective), crop) - once).abs().mean() < 0.002
        assert (warp(warp(ink, crop), perspective) - once).abs().mean() > 0.01


def test_the_crop_is_square_and_keeps_40_to_100_percent_of_the_area():
    gen = torch.Generator().manual_seed(1)
    for _ in range(100):
        crop = random_crop(gen)
        side, cx, cy = float(crop[0, 0]), float(crop[0, 2]), float(crop[1, 2])
        assert crop[1, 1] == crop[0, 0] and crop[0, 1] == crop[1, 0] == 0
        assert 0.4 - 1e-6 <= side * side <= 1.0 + 1e-6
        assert abs(cx) <= 1 - side + 1e-6 and abs(cy) <= 1 - side + 1e-6, "the window stays inside the frame"


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
    assert_same_attributes(frames, sketch)


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

"""FlipSketch on the CPU with tiny random models: exact DDIM inversion, attention processors that
provably run (and stop), lambda, chaining, binarisation, cancellation."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler

from inkmotion import models
from inkmotion.codec.preview import read_raster
from inkmotion.errors import Cancelled
from inkmotion.pipelines import flipsketch
from inkmotion.pipelines.base import Progress
from inkmotion.pipelines.flipsketch import (
    FlipSketchConfig,
    FlipSketchPipeline,
    back_to_canvas,
    ddim_move,
    gray_to_raster,
    noise_levels,
    pad_to_square,
    self_attention_layers,
)
from inkmotion.strokes.lineart import ink_darkness, otsu_threshold

FAST = dict(frames=4, steps=4, inversion_steps=4, tau1=1, tau2=2, align_iterations=2, size=64, seed=3)


@pytest.fixture(scope="module")
def pipeline(tiny_dir):
    return FlipSketchPipeline.from_model(models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu"))


@pytest.fixture(scope="module")
def sketch(raster_sketches):
    return read_raster(raster_sketches[0])


class ZeroNoise(torch.nn.Module):
    """A UNet that predicts no noise: DDIM then only rescales, so inversion must round-trip exactly."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, sample, t, encoder_hidden_states):
        return SimpleNamespace(sample=torch.zeros_like(sample))


def test_inversion_round_trips_exactly_when_the_unet_predicts_zero_noise(pipeline):
    zero = FlipSketchPipeline(ZeroNoise(), pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                              DDIMScheduler.from_config(pipeline.scheduler.config))
    clean = torch.randn(1, 4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    null = zero.encode_prompt("")
    noisy = zero.invert(clean, null, 25)
    assert (noisy - clean).abs().max() > 0.5, "inversion moved the latents to the noise level"
    timesteps, levels = noise_levels(zero.scheduler, 25)
    x = noisy
    for (alpha_t, alpha_prev), t in zip(levels, timesteps):
        x = ddim_move(x, torch.zeros_like(x), alpha_t, alpha_prev)
    torch.testing.assert_close(x, clean, rtol=1e-5, atol=1e-5)
    # ... and the same through the scheduler's own step (our levels are its levels)
    y = noisy
    for t in timesteps:
        y = zero.scheduler.step(torch.zeros_like(y), t, y).prev_sample
    torch.testing.assert_close(y, clean, rtol=1e-5, atol=1e-5)


def test_composed_processors_run_in_every_self_attention_layer_while_t_above_tau2_and_never_after(
        pipeline, sketch, monkeypatch):
    layers = self_attention_layers(pipeline.unet)
    assert any(temporal for _, temporal in layers.values()) and not all(temporal for _, temporal in layers.values())
    calls: Counter = Counter()  # (step, layer) -> invocations of our processor
    step = [0]
    real_call = flipsketch.ComposedSelfAttention.__call__

    def counting(self, attn, hidden_states, *args, **kwargs):
        calls[step[0], self.name] += 1
        return real_call(self, attn, hidden_states, *args, **kwargs)

    monkeypatch.setattr(flipsketch.ComposedSelfAttention, "__call__", counting)

    def on_progress(p: Progress):
        step[0] = p.step

    config = FlipSketchConfig(**{**FAST, "steps": 5, "tau2": 3, "align_iterations": 0})
    pipeline(sketch, "a cat walks", config, on_progress)
    for s in range(config.steps):
        for name in layers:
            # while t >= tau2: the reference pass saves, the generation pass composes
            expected = 2 if s < config.tau2 else 0
            assert calls[s, name] == expected, f"step {s}, {name}: {calls[s, name]} calls"
    for name, (module, _) in self_attention_layers(pipeline.unet).items():
        assert type(module.processor).__name__ == "AttnProcessor2_0", f"{name} kept a composed processor"


def test_lambda_trades_motion_for_fidelity(pipeline, sketch):
    runs = {}
    for lam in (0.0, 1.0):
        config = FlipSketchConfig(**{**FAST, "lambda_fidelity": lam, "binarize": False})
        runs[lam] = np.stack([ink_darkness(r) for r in pipeline(sketch, "a cat jumps", config)])
    assert np.abs(runs[0.0] - runs[1.0]).max() > 1e-4, "lambda changed nothing"


def test_output_is_binarised_ink_on_transparency(pipeline, sketch):
    frames = pipeline(sketch, "a cat", FlipSketchConfig(**FAST))
    assert len(frames) == 4
    for frame in frames:
        assert frame.rgba.shape == (sketch.height, sketch.width, 4), "frames come back on the sketch's canvas"
        assert set(np.unique(frame.rgba[..., 3])) <= {0, 255}
        assert (frame.rgba[..., :3] == 0).all()


def test_chained_clips_join_continuously(pipeline, sketch, monkeypatch):
    # Clips of 3 frames chained into 5: the second clip starts from the first clip's last frame.
    inputs = []
    real = pipeline.clip

    def recording(current, *args, **kwargs):
        inputs.append(current)
        return real(current, *args, **kwargs)

    monkeypatch.setattr(pipeline, "clip", recording)
    frames = pipeline(sketch, "a cat", FlipSketchConfig(**{**FAST, "frames": 5, "clip_frames": 3}))
    assert len(frames) == 5 and len(inputs) == 2
    np.testing.assert_array_equal(inputs[1].rgba, frames[2].rgba)


def test_several_seeds_run_as_one_batch_give_different_candidates_and_the_best_scored_is_kept(
        pipeline, sketch, tiny_clip, monkeypatch):
    chooser = FlipSketchPipeline(pipeline.unet, pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                                 pipeline.scheduler, clip_model=tiny_clip[0], clip_processor=tiny_clip[1])
    clips, scored = [], []
    run_clip, score = chooser.clip, chooser.scores
    monkeypatch.setattr(chooser, "clip", lambda *a, **k: clips.append(run_clip(*a, **k)) or clips[-1])
    monkeypatch.setattr(chooser, "scores", lambda *a: scored.append(score(*a)) or scored[-1])
    config = FlipSketchConfig(**{**FAST, "seeds": 3})
    frames = chooser(sketch, "a cat", config)
    assert len(frames) == 4 and len(clips) == 1
    candidates = clips[0]
    assert candidates.shape[0] == 3  # one batch, one candidate a seed
    for i in range(3):
        for j in range(i):
            assert (candidates[i] - candidates[j]).abs().max() > 1e-3, f"seeds {i} and {j} gave the same frames"
    kept = int(scored[0].argmax())
    assert all(scored[0][kept] >= s for s in scored[0])
    # What came back is the kept candidate's frames, and no other candidate's.
    as_output = [[gray_to_raster(back_to_canvas(g, sketch.width, sketch.height), config.binarize).rgba
                  for g in candidates[k].numpy()] for k in range(3)]
    matches = [k for k in range(3) if all(np.array_equal(a, f.rgba) for a, f in zip(as_output[k], frames))]
    assert matches == [kept]


def test_cancelling_stops_within_one_step(pipeline, sketch):
    steps = []

    def on_progress(p: Progress):
        steps.append(p.step)
        if p.step == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        pipeline(sketch, "a cat", FlipSketchConfig(**{**FAST, "steps": 10}), on_progress)
    assert steps == [0, 0, 1, 2]  # two phases (prompt, inversion) before the steps
    for name, (module, _) in self_attention_layers(pipeline.unet).items():
        assert type(module.processor).__name__ == "AttnProcessor2_0", f"{name} kept a composed processor"


def test_a_wide_sketch_is_padded_to_a_square_and_cropped_back():
    ink = np.zeros((20, 60), np.float32)
    ink[5:15, 10:50] = 1
    square = pad_to_square(ink)
    assert square.shape == (60, 60) and square.sum() == ink.sum() and square[:20].sum() == 0
    back = back_to_canvas(1 - square, 60, 20)
    assert back.shape == (20, 60)
    np.testing.assert_allclose(1 - back, ink, atol=1e-6)


def test_otsu_splits_two_populations():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.2, 0.03, 5000), rng.normal(0.8, 0.03, 500)]).clip(0, 1)
    assert 0.3 < otsu_threshold(values) < 0.7
    raster = gray_to_raster(np.where(np.arange(16)[None] < 8, 0.1, 0.95).repeat(4, 0))
    assert (raster.rgba[:, :8, 3] == 255).all() and (raster.rgba[:, 8:, 3] == 0).all()


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_dir):
    """The tiny random CLIP, loaded the way a configured `clip = "..."` model is."""
    return models.load_clip(str(tiny_clip_dir), "cpu")


def test_clip_keeps_the_seed_closest_to_the_sketch(pipeline, tiny_clip):
    chooser = FlipSketchPipeline(pipeline.unet, pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                                 pipeline.scheduler, clip_model=tiny_clip[0], clip_processor=tiny_clip[1])
    rng = np.random.default_rng(1)
    sketch = np.ones((32, 32), np.float32)
    sketch[8:24, 15:17] = 0
    frames = torch.from_numpy(rng.uniform(0, 1, (3, 2, 32, 32)).astype(np.float32))
    frames[2] = torch.from_numpy(sketch)  # seed 2 reproduces the sketch in every frame
    assert chooser.choose(frames, sketch) == 2
    assert pipeline.choose(frames, sketch) == 0, "without CLIP the first seed is kept"


def test_lambda_strengthens_the_reference_key_in_temporal_attention():
    # The mechanism behind fidelity-vs-motion (public implementation's schedule): for query frame i
    # the reference key's logit is scaled by 1 + lambda * 0.02 * i. With queries that agree with the
    # reference key, a higher lambda puts more of every later frame's attention on it; frame 0 keeps
    # its own. (With random tiny weights the logits are ~0, so whole-pipeline fidelity cannot show it.)
    g = torch.Generator().manual_seed(0)
    rows, heads, frames, dim = 6, 2, 5, 8
    ref_key = torch.randn(rows, heads, 1, dim, generator=g)
    query = ref_key.expand(-1, -1, frames, -1) * 3 + 0.1 * torch.randn(rows, heads, frames, dim, generator=g)
    key = torch.randn(rows, heads, frames, dim, generator=g)
    value = torch.zeros(rows, heads, frames, frames)
    value[..., torch.arange(frames), torch.arange(frames)] = 1  # output = the attention weights themselves
    weights = {}
    for lam in (0.0, 1.0):
        state = flipsketch.Composition(frames=frames, batch=1, lambda_fidelity=lam)
        state.saved["layer"] = (None, torch.cat([ref_key, ref_key.expand(-1, -1, 2, -1)], 2))
        weights[lam] = flipsketch.ComposedSelfAttention("layer", True, state)._temporal(query, key, value)[..., 0]
    torch.testing.assert_close(weights[1.0][..., 0], weights[0.0][..., 0])  # frame 0: unscaled
    assert (weights[1.0][..., 1:] > weights[0.0][..., 1:]).all()
    assert (weights[1.0][..., -1] - weights[0.0][..., -1]).mean() > (weights[1.0][..., 1] - weights[0.0][..., 1]).mean()


# -- frame alignment (Sec. 4.2) with a denoiser whose answer is known ---------------------------


class MixingDenoiser(torch.nn.Module):
    """eps = a * x + b * (x averaged over frames) + c * mean(text): every frame's prediction
    depends on all frames (as temporal attention makes it), in a way the test can compute. Records
    each call: its input, whether the text was the null prompt, and whether grad was on."""

    def __init__(self, null: torch.Tensor, a=0.4, b=0.5, c=2.0):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.null, self.a, self.b, self.c = null, a, b, c
        self.calls: list[tuple[torch.Tensor, bool, bool]] = []

    def eps(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.a * x + self.b * x.mean(2, keepdim=True) + self.c * text.float().mean()

    def forward(self, sample, t, encoder_hidden_states):
        null = torch.equal(encoder_hidden_states[0], self.null[0])
        self.calls.append((sample.detach().clone(), null, torch.is_grad_enabled()))
        return SimpleNamespace(sample=self.eps(sample, encoder_hidden_states[:1]))


def test_frame_alignment_holds_the_reference_trajectory_in_frame_one_and_aligns_to_its_null_prediction(
        pipeline, sketch):
    null = pipeline.encode_prompt("")
    unet = MixingDenoiser(null)
    stub = FlipSketchPipeline(unet, pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                              DDIMScheduler.from_config(pipeline.scheduler.config))
    config = FlipSketchConfig(frames=3, steps=5, inversion_steps=5, tau1=3, tau2=0, align_iterations=3,
                              align_lr=1e-2, size=64, seeds=2, binarize=False)
    prompt = stub.encode_prompt("a cat jumps")
    bounds: list[int] = []  # calls made by the end of the inversion, then by the end of each step
    invert = stub.invert
    stub.invert = lambda *args: (invert(*args), bounds.append(len(unet.calls)))[0]
    stub.clip(sketch, prompt, null, config, torch.Generator().manual_seed(0), lambda step, _: bounds.append(len(unet.calls)))
    del stub.invert

    # x_t^r: the inverted sketch, walked down with the null prompt (diffusers' own DDIM step).
    x_r = stub.reference_noise(sketch, null, config, torch.Generator().manual_seed(0))
    scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    scheduler.set_timesteps(config.steps)
    trajectory = []
    for t in scheduler.timesteps:
        trajectory.append(x_r)
        x_r = scheduler.step(unet.eps(x_r, null), t, x_r).prev_sample

    per_step = [unet.calls[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    assert len(per_step) == config.steps
    for i, calls in enumerate(per_step[: config.tau1]):
        x_t_r = trajectory[i]
        target_input, null_target, _ = calls[0]  # eta_1 = eps(x_t^r, t, P_null): x_t^r alone
        assert null_target and target_input.shape[2] == 1
        torch.testing.assert_close(target_input, x_t_r)
        joint = [c for c in calls if c[2]]  # the optimisation's joint denoising, with grad
        assert len(joint) == config.align_iterations
        for x, is_null, _ in joint:
            assert not is_null and x.shape[2] == config.clip_frames
            torch.testing.assert_close(x[:, :, :1], x_t_r.expand(2, -1, -1, -1, -1))  # [x_t^r, f_t^train]
        generation = [x for x, is_null, grad in calls if not is_null and not grad]
        torch.testing.assert_close(generation[0][:, :, :1], x_t_r.expand(2, -1, -1, -1, -1))
        # L_align = mean (eta_1' - eta_1)^2 compares against eta_1: its gradient for every other frame
        # is g = 2 / N * (eta_1' - eta_1) * b / M, and Adam's first step is -lr * g / (|g| + 1e-8).
        first, second = joint[0][0], joint[1][0]
        residual = unet.eps(first, prompt)[:, :, 0] - unet.eps(x_t_r, null)[:, :, 0]
        g = 2 / residual.numel() * residual * unet.b / config.clip_frames
        expected = -config.align_lr * g / (g.abs() + 1e-8)
        moved = (second - first)[:, :, 1:]
        for f in range(moved.shape[2]):
            torch.testing.assert_close(moved[:, :, f], expected, rtol=0, atol=1e-4)
    # After tau1, frame 1 follows the video's own trajectory.
    generation = [x for x, is_null, grad in per_step[config.tau1] if not is_null and not grad]
    assert (generation[0][:, :, :1] - trajectory[config.tau1]).abs().max() > 1e-3


# -- the sketch's encoding (Sec. 4.1, and what the published LoRA saw) ----------------------------


def _recording_encoder(vae, monkeypatch) -> list[torch.Tensor]:
    seen = []
    real = vae.encode

    def encode(x, *args, **kwargs):
        seen.append(x.detach().clone())
        return real(x, *args, **kwargs)

    monkeypatch.setattr(vae, "encode", encode)
    return seen


@pytest.mark.parametrize("encoding", ["ours", "public"])
def test_the_sketch_reaches_the_vae_as_each_encoding_says(pipeline, sketch, monkeypatch, encoding):
    zero = FlipSketchPipeline(ZeroNoise(), pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                              DDIMScheduler.from_config(pipeline.scheduler.config), sketch_encoding=encoding)
    seen = _recording_encoder(pipeline.vae, monkeypatch)
    config = FlipSketchConfig(size=64, inversion_steps=5)
    null = zero.encode_prompt("")
    reference = zero.reference_noise(sketch, null, config, torch.Generator().manual_seed(0))
    (image,) = seen
    paper = zero.sketch_image(sketch, 64)
    if encoding == "public":  # five identical frames in [0, 1]
        assert image.shape == (5, 3, 64, 64)
        torch.testing.assert_close(image, paper.expand(5, 3, -1, -1))
    else:  # one frame in [-1, 1], the posterior mean
        assert image.shape == (1, 3, 64, 64)
        torch.testing.assert_close(image, (paper * 2 - 1).expand(1, 3, -1, -1))
        with torch.no_grad():
            mean = pipeline.vae.encode(image).latent_dist.mean * pipeline.vae.config.scaling_factor
        # With zero predicted noise, DDIM inversion only rescales: x_T = x_0 sqrt(a_T / a_final).
        timesteps, levels = noise_levels(zero.scheduler, 5)
        gain = (levels[0][0] / levels[-1][1]).sqrt()
        torch.testing.assert_close(reference[:, :, 0], mean * gain, rtol=1e-4, atol=1e-5)
    assert reference.shape[2] == 1


def test_public_encoding_averages_five_posterior_samples(pipeline, sketch):
    # Two seeds' references differ by the posterior noise averaged over five frames: its RMS, in
    # units of the posterior's std, is sqrt(2 / 5) (one sample: sqrt(2); the mean: 0).
    zero = FlipSketchPipeline(ZeroNoise(), pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                              DDIMScheduler.from_config(pipeline.scheduler.config), sketch_encoding="public")
    config = FlipSketchConfig(size=64, inversion_steps=5)
    null = zero.encode_prompt("")
    a, b = (zero.reference_noise(sketch, null, config, torch.Generator().manual_seed(s)) for s in (1, 2))
    with torch.no_grad():
        std = pipeline.vae.encode(zero.sketch_image(sketch, 64).expand(1, 3, -1, -1)).latent_dist.std
    timesteps, levels = noise_levels(zero.scheduler, 5)
    gain = (levels[0][0] / levels[-1][1]).sqrt() * pipeline.vae.config.scaling_factor
    rms = float(((a - b)[:, :, 0] / (gain * std)).square().mean().sqrt())
    assert rms == pytest.approx(math.sqrt(2 / 5), rel=0.15)
    ours = FlipSketchPipeline(ZeroNoise(), pipeline.vae, pipeline.text_encoder, pipeline.tokenizer,
                              DDIMScheduler.from_config(pipeline.scheduler.config))
    c, d = (ours.reference_noise(sketch, null, config, torch.Generator().manual_seed(s)) for s in (1, 2))
    torch.testing.assert_close(c, d)  # ours: the posterior mean, whatever the seed


def test_an_unknown_sketch_encoding_is_refused(pipeline, sketch):
    from inkmotion.errors import InvalidInput

    with pytest.raises(InvalidInput, match="sketch_encoding"):
        pipeline(sketch, "a cat", FlipSketchConfig(**FAST, sketch_encoding="raw"))

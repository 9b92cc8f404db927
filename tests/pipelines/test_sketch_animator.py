"""SketchAnimator on the CPU with a tiny random text-to-video model, through the real loader: each
LoRA stage adapts exactly the layers it should and lowers its loss, the video prior is Eq. 9, the
shared UNet comes back as it was (also after a cancellation, also with a LoRA of its own), the cache
reuses a clip's motion LoRA for another sketch, and the output keeps the artist's strokes."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from harness import assert_same_attributes
from inkmotion import models
from inkmotion.codec.drawing import Raster
from inkmotion.codec.svg import read_svg
from inkmotion.errors import Cancelled, InvalidInput
from inkmotion.models import lora
from inkmotion.models.lora_cache import (
    CACHE_ENV,
    AdapterSession,
    LoraCache,
    clear_cache,
    content_key,
    default_cache_dir,
    names_matching,
)
from inkmotion.pipelines.base import Progress
from inkmotion.pipelines.sketch_animator import (
    APPEARANCE,
    APPEARANCE_VIDEO,
    MOTION,
    SPATIAL_ATTENTION,
    TEMPORAL_ATTENTION,
    SketchAnimatorConfig,
    SketchAnimatorPipeline,
    denoising_loss,
)

# Small and quick: 64 px (8x8 latents), 3 frames, a rank-4 LoRA at a learning rate the tiny model
# answers to within ten steps.
TINY = dict(frames=3, size=64, rank=4, seed=0)
FAST = dict(TINY, appearance_steps=2, motion_steps=2, steps=2)
LEARN = dict(TINY, appearance_steps=10, motion_steps=10, lora_lr=1e-2)


@pytest.fixture(scope="module")
def model(tiny_dir):
    return models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu")


@pytest.fixture(scope="module")
def pipeline(model):
    return SketchAnimatorPipeline.from_model(model)


def _with_point_attributes(drawing):
    """The drawing with radii, opacities and colours that change along every stroke."""
    strokes = []
    for i, stroke in enumerate(drawing.strokes):
        n = len(stroke.points)
        ramp = np.linspace(0, 1, n, dtype=np.float32)
        colours = np.stack([ramp, 1 - ramp, np.full(n, 0.2 * (i % 5), np.float32), np.ones(n, np.float32)], 1)
        strokes.append(stroke.copy(radii=(0.5 + 2 * ramp).astype(np.float32), opacities=(1 - 0.5 * ramp).astype(np.float32),
                                   point_colors=colours.astype(np.float32)))
    return drawing.copy(strokes=strokes)


@pytest.fixture(scope="module")
def sketch(vector_sketches):
    return _with_point_attributes(read_svg(vector_sketches[3]))


@pytest.fixture(scope="module")
def other_sketch(vector_sketches):
    return read_svg(vector_sketches[5])


def moving_square(frames: int = 3, step: int = 12, colour=(200, 30, 30)) -> list[Raster]:
    """A clip of a square crossing a landscape frame (not square, so the padding is exercised)."""
    clip = []
    for i in range(frames):
        rgba = np.full((48, 64, 4), 255, np.uint8)
        rgba[10:26, 8 + step * i : 24 + step * i, :3] = colour
        clip.append(Raster(rgba))
    return clip


def _snapshot(unet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in unet.state_dict().items()}


def assert_unet_as_before(unet, before: dict[str, torch.Tensor], modules_before: dict | None = None):
    from peft.tuners.tuners_utils import BaseTunerLayer

    after = unet.state_dict()
    assert set(after) == set(before)
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    assert not any(isinstance(m, BaseTunerLayer) for m in unet.modules())
    assert not hasattr(unet, "peft_config")
    assert not any(p.requires_grad for p in unet.parameters())
    if modules_before is not None:
        for name, module in unet.named_modules():
            assert module is modules_before[name], f"{name} is another module than before"


def _held_out(pipeline, latents, text, seed=123):
    """A fixed set of (t, eps) draws, and the mean loss on them (Eqs. 5-7 without sampling noise)."""
    g = torch.Generator().manual_seed(seed)
    draws = [(torch.tensor([t]), torch.randn(latents.shape, generator=g)) for t in (100, 300, 500, 700, 900)]

    def loss() -> float:
        with torch.no_grad():
            return float(np.mean([denoising_loss(pipeline.unet, pipeline.scheduler, latents, text, t, n).item()
                                  for t, n in draws]))

    return loss


def _nonzero_b(adapters: AdapterSession, name: str) -> dict[str, bool]:
    return {layer_name: bool(layer.lora_B[name].weight.abs().sum() > 0) for layer_name, layer in adapters.layers(name).items()}


def test_the_target_patterns_split_the_unet_into_spatial_and_temporal_attention(model):
    spatial = names_matching(model.unet, SPATIAL_ATTENTION)
    temporal = names_matching(model.unet, TEMPORAL_ATTENTION)
    assert spatial and temporal and not set(spatial) & set(temporal)
    assert all(".attentions." in n and "temp_attentions" not in n for n in spatial)
    assert all("temp_attentions" in n or n.startswith("transformer_in.") for n in temporal)
    for names in (spatial, temporal):
        assert {n.rsplit(".", 2)[-2] if n.endswith("to_out.0") else n.rsplit(".", 1)[-1] for n in names} == {
            "to_q", "to_k", "to_v", "to_out"}
        assert any(".attn1." in n for n in names) and any(".attn2." in n for n in names)
    for part in ("down_blocks", "mid_block", "up_blocks"):
        assert any(n.startswith(part) for n in spatial) and any(n.startswith(part) for n in temporal)
    assert any(n.startswith("transformer_in.") for n in temporal)
    # every attention projection of the UNet is one or the other; nothing else is
    every = [n for n, _ in model.unet.named_modules() if re.search(r"\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$", n)]
    assert sorted(every) == sorted(spatial + temporal)


def test_appearance_learning_adapts_only_spatial_attention_and_lowers_its_loss(pipeline, sketch):
    config = SketchAnimatorConfig(**LEARN)
    state = pipeline.live.prepare_sketch(sketch, pipeline.live_config(config))
    latents = pipeline.sketch_latents(pipeline.sketch_image(state, config))
    assert latents.shape[2] == 1, "the sketch is a one-frame video"
    text = pipeline.encode_text("A bird.")
    held_out = _held_out(pipeline, latents, text)
    before = _snapshot(pipeline.unet)
    base = {name: m.weight.detach().clone() for name, m in pipeline.unet.named_modules() if isinstance(m, torch.nn.Linear)}
    steps = []
    with AdapterSession(pipeline.unet) as adapters:
        first = held_out()
        pipeline.learn_appearance(adapters, latents, text, config, steps.append)
        assert steps == list(range(1, 11))
        assert adapters.names == [APPEARANCE]
        assert sorted(adapters.layers(APPEARANCE)) == sorted(names_matching(pipeline.unet, SPATIAL_ATTENTION))
        assert all(_nonzero_b(adapters, APPEARANCE).values()), "every spatial LoRA learned"
        for name in names_matching(pipeline.unet, TEMPORAL_ATTENTION):
            assert isinstance(pipeline.unet.get_submodule(name), torch.nn.Linear), f"{name} got an adapter"
        for name, weight in base.items():  # no base weight moved, spatial or temporal
            layer = pipeline.unet.get_submodule(name)
            assert torch.equal(getattr(layer, "base_layer", layer).weight, weight), name
        adapters.activate({APPEARANCE: 1.0})
        last = held_out()
    assert last < first * 0.99, f"held-out loss {first:.4f} -> {last:.4f}"
    assert_unet_as_before(pipeline.unet, before)


def test_motion_learning_puts_m_on_temporal_and_a_prime_on_spatial_attention(pipeline):
    config = SketchAnimatorConfig(**LEARN)
    latents = pipeline.clip_latents(pipeline.clip_pixels(moving_square(), config.size))
    assert latents.shape == (1, 4, 3, 8, 8)
    text = pipeline.encode_text("a square slides right")
    held_out = _held_out(pipeline, latents, text)
    before = _snapshot(pipeline.unet)
    with AdapterSession(pipeline.unet) as adapters:
        first = held_out()
        pipeline.learn_motion(adapters, latents, text, config)
        assert sorted(adapters.names) == sorted([APPEARANCE_VIDEO, MOTION])
        assert sorted(adapters.layers(MOTION)) == sorted(names_matching(pipeline.unet, TEMPORAL_ATTENTION))
        assert sorted(adapters.layers(APPEARANCE_VIDEO)) == sorted(names_matching(pipeline.unet, SPATIAL_ATTENTION))
        assert all(_nonzero_b(adapters, MOTION).values()) and all(_nonzero_b(adapters, APPEARANCE_VIDEO).values())
        adapters.activate({APPEARANCE_VIDEO: 1.0, MOTION: 1.0})
        last = held_out()
    assert last < first * 0.99, f"held-out loss {first:.4f} -> {last:.4f}"
    assert_unet_as_before(pipeline.unet, before)


def test_the_video_prior_is_w0_plus_half_dw_a_plus_dw_m_and_the_unet_comes_back(pipeline, sketch):
    config = SketchAnimatorConfig(**LEARN)
    state = pipeline.live.prepare_sketch(sketch, pipeline.live_config(config))
    image = pipeline.sketch_latents(pipeline.sketch_image(state, config))
    clip = pipeline.clip_latents(pipeline.clip_pixels(moving_square(), config.size))
    text = pipeline.encode_text("a bird")
    unet = pipeline.unet
    before, modules = _snapshot(unet), dict(unet.named_modules())
    reference = copy.deepcopy(unet)
    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    t = torch.tensor([400])
    with AdapterSession(unet) as adapters:
        pipeline.learn_appearance(adapters, image, text, config)
        pipeline.learn_motion(adapters, clip, text, config)
        adapters.remove(APPEARANCE_VIDEO)  # A' is not part of the prior
        pipeline.use_video_prior(adapters, config)
        a, m = adapters.state(APPEARANCE), adapters.state(MOTION)
        deltas = adapters.delta_weights()
        assert sorted(deltas) == sorted(names_matching(unet, SPATIAL_ATTENTION) + names_matching(unet, TEMPORAL_ATTENTION))
        # Eq. (9), layer by layer: alpha = rank, so a LoRA at full strength adds B A
        for name, delta in deltas.items():
            weights, weight = (a, 0.5) if name in adapters.layers(APPEARANCE) else (m, 1.0)
            expected = weight * weights[f"{name}.lora_B.weight"] @ weights[f"{name}.lora_A.weight"]
            torch.testing.assert_close(delta, expected)
            with torch.no_grad():
                reference.get_submodule(name).weight += expected
        assert max(float(d.abs().max()) for d in deltas.values()) > 1e-3, "the LoRAs learned something"
        with torch.no_grad():
            customised = unet(x, t, encoder_hidden_states=text).sample
            merged = reference(x, t, encoder_hidden_states=text).sample
        torch.testing.assert_close(customised, merged, rtol=1e-4, atol=1e-5)
    assert_unet_as_before(unet, before, modules)


def _run(pipeline, sketch, clip, config, prompt="a bird"):
    events: list[Progress] = []
    frames = pipeline(sketch, clip, prompt, config, events.append)
    return frames, events


def _messages(events: list[Progress]) -> list[str]:
    return [e.message for e in events]


def test_the_same_clip_with_another_sketch_reuses_the_motion_lora(pipeline, sketch, other_sketch, tmp_path):
    config = SketchAnimatorConfig(**FAST, cache_dir=str(tmp_path))
    cache = LoraCache(tmp_path)
    first, events = _run(pipeline, sketch, moving_square(), config)
    assert "appearance learning" in _messages(events) and "motion learning" in _messages(events)
    entries = cache.entries()
    assert [e.name.split("-")[0] for e in entries] == ["appearance", "motion"]
    motion_entry = entries[1]
    motion_bytes = (motion_entry / "adapter_model.safetensors").read_bytes()

    # another sketch (of another subject), the same clip: appearance is learned, motion comes from the cache
    _, events = _run(pipeline, other_sketch, moving_square(), config, prompt="a fish")
    messages = _messages(events)
    assert messages.count("appearance learning") == 2 and "motion learning" not in messages
    (hit,) = [e for e in events if e.message == "motion LoRA from the cache"]
    assert (hit.step, hit.total) == (4, 6), "the cached stage is reported as done, in one step"
    assert sorted(e.name.split("-")[0] for e in cache.entries()) == ["appearance", "appearance", "motion"]
    assert (motion_entry / "adapter_model.safetensors").read_bytes() == motion_bytes

    # the same sketch, another clip: appearance from the cache, motion learned again
    _, events = _run(pipeline, other_sketch, moving_square(step=-8, colour=(20, 90, 200)), config, prompt="a fish")
    messages = _messages(events)
    assert "appearance LoRA from the cache" in messages and "appearance learning" not in messages
    assert messages.count("motion learning") == 2
    assert sorted(e.name.split("-")[0] for e in cache.entries()) == ["appearance", "appearance", "motion", "motion"]

    # both from the cache: the same animation as when they were learned
    again, events = _run(pipeline, sketch, moving_square(), config)
    assert {"appearance learning", "motion learning"}.isdisjoint(_messages(events))
    for a, b in zip(first, again):
        for sa, sb in zip(a.strokes, b.strokes):
            np.testing.assert_array_equal(sa.points, sb.points)


def test_cache_keys_follow_the_content(pipeline, sketch, other_sketch):
    config = SketchAnimatorConfig(**FAST)
    state = pipeline.live.prepare_sketch(sketch, pipeline.live_config(config))
    ink = pipeline.sketch_image(state, config)
    key = pipeline.appearance_key(ink, "a bird", config)
    assert key == pipeline.appearance_key(ink.clone(), "a bird", config)
    assert key != pipeline.appearance_key(ink, "a fish", config)
    assert key != pipeline.appearance_key(ink, "a bird", SketchAnimatorConfig(**{**FAST, "appearance_steps": 3}))
    other = pipeline.live.prepare_sketch(other_sketch, pipeline.live_config(config))
    assert key != pipeline.appearance_key(pipeline.sketch_image(other, config), "a bird", config)
    clip = moving_square()
    motion = pipeline.motion_key(clip, "a bird", config)
    assert motion == pipeline.motion_key(moving_square(), "a bird", config)
    assert motion != pipeline.motion_key(moving_square(step=11), "a bird", config)
    assert motion != pipeline.motion_key(clip, "a bird", SketchAnimatorConfig(**{**FAST, "rank": 8}))
    assert motion != pipeline.motion_key(clip, "a bird", SketchAnimatorConfig(**{**FAST, "seed": 1}))
    assert len(key) == len(motion) == 64 and content_key({"a": np.zeros(2)}) != content_key({"a": np.ones(2)})


def test_the_output_keeps_every_stroke_and_its_point_attributes(pipeline, sketch, tmp_path):
    before = _snapshot(pipeline.unet)
    frames, events = _run(pipeline, sketch, moving_square(), SketchAnimatorConfig(**FAST, cache_dir=str(tmp_path),
                                                                                  preview_every=1))
    assert len(frames) == 3
    assert all((frame.width, frame.height) == (sketch.width, sketch.height) for frame in frames)
    assert_same_attributes(frames, sketch)
    moved = max(float(np.abs(got.points - want.points).max()) for frame in frames
                for got, want in zip(frame.strokes, sketch.strokes))
    assert moved > 1e-3, "score distillation moved nothing"
    # one job: phases, then every step of the three stages counted on one total
    assert [(e.step, e.total) for e in events] == [(0, 0), (0, 0)] + [(s, 6) for s in range(1, 7)]
    assert _messages(events)[2:] == ["appearance learning"] * 2 + ["motion learning"] * 2 + ["score distillation"] * 2
    previews = [e.preview for e in events if e.preview is not None]
    assert len(previews) == 2 and len(previews[0].content.strokes) == len(sketch.strokes)
    assert_unet_as_before(pipeline.unet, before)


def test_with_no_motion_a_frame_is_exactly_the_sketch(pipeline, sketch, tmp_path):
    # steps=0: the control points never move, and neither does any of the artist's points
    frames, events = _run(pipeline, sketch, moving_square(), SketchAnimatorConfig(**{**FAST, "steps": 0},
                                                                                  cache_dir=str(tmp_path)))
    for frame in frames:
        for got, want in zip(frame.strokes, sketch.strokes):
            np.testing.assert_array_equal(got.points, want.points)
    assert events[-1].step == events[-1].total == 4


def test_a_stage_with_no_steps_trains_no_lora(pipeline, sketch, tmp_path):
    # The paper's ablations: no A-LoRAs, or no M-LoRAs (then the clip is not needed at all).
    _, events = _run(pipeline, sketch, moving_square(), SketchAnimatorConfig(**{**FAST, "appearance_steps": 0},
                                                                             cache_dir=str(tmp_path)))
    assert "appearance learning" not in _messages(events) and [e.total for e in events[2:]] == [4] * 4
    frames, events = _run(pipeline, sketch, [], SketchAnimatorConfig(**{**FAST, "motion_steps": 0}, cache_dir=str(tmp_path)))
    assert "motion learning" not in _messages(events) and len(frames) == 3
    assert [e.name.split("-")[0] for e in LoraCache(tmp_path).entries()] == ["appearance", "motion"], "one of each"


@pytest.mark.parametrize("stop_at", [1, 3, 5], ids=["appearance", "motion", "distillation"])
def test_cancelling_stops_within_one_step_in_every_stage(pipeline, sketch, tmp_path, stop_at):
    before, modules = _snapshot(pipeline.unet), dict(pipeline.unet.named_modules())
    seen = []

    def on_progress(p: Progress):
        seen.append(p.step)
        if p.step == stop_at:
            raise Cancelled()

    config = SketchAnimatorConfig(**{**TINY, "appearance_steps": 2, "motion_steps": 2, "steps": 20},
                                  cache_dir=str(tmp_path))
    with pytest.raises(Cancelled):
        pipeline(sketch, moving_square(), "a bird", config, on_progress)
    assert seen == [0, 0] + list(range(1, stop_at + 1)), "no step ran after the cancelling one"
    assert_unet_as_before(pipeline.unet, before, modules)
    stages = [e.name.split("-")[0] for e in LoraCache(tmp_path).entries()]
    assert stages == {1: [], 3: ["appearance"], 5: ["appearance", "motion"]}[stop_at], "a cancelled stage caches nothing"


def test_a_unet_loaded_with_a_lora_of_its_own_keeps_it(tiny_dir, sketch, tmp_path):
    model = models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu")
    own = lora.inject_trainable(model.unet, rank=2, alpha=2)
    with torch.no_grad():
        for p in own:
            p.normal_(0, 0.1)
    model.unet.requires_grad_(False)
    before = _snapshot(model.unet)
    from peft.tuners.tuners_utils import BaseTunerLayer

    active = {n: list(m.active_adapters) for n, m in model.unet.named_modules() if isinstance(m, BaseTunerLayer)}
    pipeline = SketchAnimatorPipeline.from_model(model)
    frames, _ = _run(pipeline, sketch, moving_square(), SketchAnimatorConfig(**FAST, cache_dir=str(tmp_path)))
    assert len(frames) == 3
    after = model.unet.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], v) for k, v in before.items())
    assert {n: list(m.active_adapters) for n, m in model.unet.named_modules() if isinstance(m, BaseTunerLayer)} == active
    assert list(model.unet.peft_config) == [lora.ADAPTER_NAME]
    assert not any(p.requires_grad for p in model.unet.parameters())


def test_the_clip_must_have_the_frame_count(pipeline, sketch):
    with pytest.raises(InvalidInput) as error:
        pipeline(sketch, moving_square(2), "a bird", SketchAnimatorConfig(**FAST))
    assert error.value.field == "clip" and "2 frames" in str(error.value)
    with pytest.raises(InvalidInput) as error:
        pipeline(sketch, moving_square(), "a bird", SketchAnimatorConfig(**{**FAST, "frames": 1}))
    assert error.value.field == "frames"


def test_where_the_cache_lives_and_clearing_it(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "inkmotion" / "loras"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "inkmotion" / "loras"

    cache = LoraCache(tmp_path / "loras")
    assert cache.get("motion", "k") is None

    def write(folder):
        (folder / "adapter_config.json").write_text("{}")
        (folder / "adapter_model.safetensors").write_bytes(b"weights")

    entry = cache.put("motion", "k", write)
    assert cache.get("motion", "k") == entry and entry.name == "motion-k"
    assert [p.name for p in (tmp_path / "loras").iterdir()] == ["motion-k"], "no temporary folder left behind"

    def fail(folder):
        (folder / "adapter_config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        cache.put("appearance", "k", fail)
    assert cache.get("appearance", "k") is None and len(list((tmp_path / "loras").iterdir())) == 1
    assert clear_cache(tmp_path / "loras") == 1 and cache.entries() == []

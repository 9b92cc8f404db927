"""The sketch LoRA: trained by scripts/train_flipsketch_lora.py on vector animations, saved in our
layout, loaded through the model registry in ours and in the public FlipSketch checkpoint layout."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from diffusers import UNet3DConditionModel

from inkmotion import models
from inkmotion.models import lora
from inkmotion.codec.drawing import Animation, Keyframe
from inkmotion.codec.preview import read_raster, write_animation
from inkmotion.codec.svg import read_svg
from inkmotion.errors import ModelUnavailable
from inkmotion.pipelines.flipsketch import FlipSketchConfig, FlipSketchPipeline
from inkmotion.pipelines.inbetween import inbetween
from inkmotion.strokes.lineart import ink_darkness

from conftest import REPO

spec = importlib.util.spec_from_file_location("train_flipsketch_lora", REPO / "scripts" / "train_flipsketch_lora.py")
trainer = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = trainer  # dataclasses look their module up
spec.loader.exec_module(trainer)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, vector_sketches):
    """Two text-animation pairs from our own vector inbetweening, written as `inkmotion animate` would."""
    root = tmp_path_factory.mktemp("clips")
    for i, (a, b, text) in enumerate([(0, 1, "a ballerina turns into a cyclist"), (5, 6, "a dolphin swims")]):
        start, end = read_svg(vector_sketches[a]), read_svg(vector_sketches[b])
        drawings = inbetween(start, end, 6)
        folder = root / f"clip{i}"
        write_animation(Animation(start.width, start.height, [Keyframe(k + 1, d) for k, d in enumerate(drawings)]),
                        f"{folder}/")
        (folder / "prompt.txt").write_text(text)
    return root


@pytest.fixture(scope="module")
def trained(clips, tiny_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "sketch-lora"
    result = trainer.train(str(tiny_dir), clips, out, steps=40, lr=3e-3, rank=4, frames=4, size=64,
                           log=lambda *_: None, save_every=0)
    return result


def _registry(tmp_path, tiny_dir, lora_source) -> models.ModelSpec:
    config = tmp_path / "models.toml"
    config.write_text(f'[models.flip]\nsource = "{tiny_dir}"\ntasks = ["raster_text_motion"]\nlora = "{lora_source}"\n')
    return models.resolve("flip", config=config)


def _unet_output(unet) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    latents = torch.randn(1, 4, 3, 8, 8, generator=g)
    text = torch.randn(1, 77, unet.config.cross_attention_dim, generator=g)
    with torch.no_grad():
        return unet(latents, 500, encoder_hidden_states=text).sample


def test_training_lowers_the_held_out_loss_and_writes_our_layout(trained):
    assert trained["held_out_after"] < trained["held_out_before"] * 0.95, trained
    out = trained["out"]
    assert (out / lora.ADAPTER_CONFIG).is_file() and (out / lora.ADAPTER_WEIGHTS).is_file()
    assert lora.layout(out) == "adapter"
    assert not list(out.glob("*.bin"))


def test_our_layout_loads_through_the_registry_and_round_trips(trained, tiny_dir, tmp_path):
    from safetensors.torch import load_file

    spec = _registry(tmp_path, tiny_dir, trained["out"])
    assert models.availability(spec, task="raster_text_motion")[0]
    base = models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu")
    tuned = models.load_text_to_video(spec, "cpu")
    assert not torch.allclose(_unet_output(tuned.unet), _unet_output(base.unet), atol=1e-5), "the LoRA changed nothing"
    saved = load_file(str(trained["out"] / lora.ADAPTER_WEIGHTS))
    from peft import get_peft_model_state_dict

    loaded = get_peft_model_state_dict(tuned.unet, adapter_name=lora.ADAPTER_NAME)
    assert set(loaded) == set(saved)
    for name, value in saved.items():
        torch.testing.assert_close(loaded[name].float(), value)
    # Our LoRAs learn from clips encoded the VAE's own way, and their sketches are encoded so.
    assert tuned.lora_layout == "adapter" and FlipSketchPipeline.from_model(tuned).sketch_encoding == "ours"
    assert FlipSketchPipeline.from_model(base).sketch_encoding == "ours"


def test_the_lora_changes_flipsketch_frames(trained, tiny_dir, tmp_path, raster_sketches):
    sketch = read_raster(raster_sketches[2])
    config = FlipSketchConfig(frames=3, steps=3, inversion_steps=3, tau1=1, tau2=2, align_iterations=1, size=64,
                              binarize=False)
    frames = {}
    for name, spec in (("base", models.resolve(str(tiny_dir))), ("lora", _registry(tmp_path, tiny_dir, trained["out"]))):
        pipe = FlipSketchPipeline.from_model(models.load_text_to_video(spec, "cpu"))
        frames[name] = np.stack([ink_darkness(r) for r in pipe(sketch, "a cat walks", config)])
    assert np.abs(frames["base"] - frames["lora"]).max() > 1e-3


def test_the_public_checkpoint_layout_replaces_the_unet(tiny_dir, tmp_path):
    # FlipSketch's published checkpoint is a diffusers folder whose unet/ is the fine-tuned UNet.
    unet = UNet3DConditionModel.from_pretrained(tiny_dir, subfolder="unet", use_safetensors=True)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    checkpoint = tmp_path / "checkpoint-2500"
    unet.save_pretrained(checkpoint / "unet", safe_serialization=True)
    assert lora.layout(checkpoint) == "unet"
    tuned = models.load_text_to_video(_registry(tmp_path, tiny_dir, checkpoint), "cpu")
    torch.testing.assert_close(_unet_output(tuned.unet), _unet_output(unet.eval()))
    # ... and sketches go to it as the published LoRA saw them (FlipSketchPipeline.reference_noise).
    assert tuned.lora_layout == "unet" and FlipSketchPipeline.from_model(tuned).sketch_encoding == "public"


def test_flipsketch_on_the_plain_prior_says_how_to_set_its_lora(tiny_dir, tmp_path):
    ok, why = models.availability(models.BUILTIN[models.FLIPSKETCH], task="raster_text_motion")
    assert not ok and "lora = FOLDER or HUB_ID" in why and "[models.flipsketch]" in why
    # A folder of its own (the public checkpoint, the LoRA merged in) is taken as it is.
    config = tmp_path / "models.toml"
    config.write_text(f'[models.flip]\nsource = "{tiny_dir}"\ntasks = ["raster_text_motion"]\n')
    assert models.availability(models.resolve("flip", config=config), task="raster_text_motion")[0]


def test_pickled_adapters_and_strangers_are_refused(tmp_path):
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / lora.ADAPTER_CONFIG).write_text("{}")
    (tmp_path / "pickled" / "adapter_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelUnavailable, match="pickle"):
        lora.layout(tmp_path / "pickled")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="not a LoRA"):
        lora.layout(tmp_path / "empty")
    with pytest.raises(ModelUnavailable, match="does not exist"):
        lora.locate(str(tmp_path / "nowhere"))

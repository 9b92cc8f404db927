"""inkmotion.models: the registry, the hub, the loader and the cache, on a tiny random model.

The tiny model is written by scripts/make_tiny_models.py in ModelScope's exact layout and loaded
through the same code as the real weights; nothing here downloads anything.
"""

from __future__ import annotations

import fnmatch
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest

import torch  # noqa: E402

from inkmotion import models  # noqa: E402
from inkmotion.errors import InvalidInput, ModelUnavailable  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODELSCOPE = models.BUILTIN[models.MODELSCOPE_1_7B]

# The files of damo-vilab/text-to-video-ms-1.7b on the hub (its "Files" page).
MODELSCOPE_FILES = [
    ".gitattributes", "README.md", "model_index.json", "scheduler/scheduler_config.json",
    "text_encoder/config.json", "text_encoder/model.fp16.safetensors", "text_encoder/model.safetensors",
    "text_encoder/pytorch_model.bin", "text_encoder/pytorch_model.fp16.bin",
    "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
    "unet/config.json", "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.bin",
    "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
    "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors",
]


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """A person's own models.toml or download setting must not change what these tests see."""
    monkeypatch.delenv(models.CONFIG_ENV, raising=False)
    monkeypatch.delenv(models.ALLOW_DOWNLOAD_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(scope="session")
def tiny(tiny_dir) -> models.TextToVideo:
    return models.load_text_to_video(models.resolve(str(tiny_dir)), "cpu")


def _copy_as_hub_snapshot(tiny_dir: Path, cache: Path, spec: models.ModelSpec) -> Path:
    """Lay the tiny model out as the Hugging Face cache holds a downloaded repo (fp16 file names)."""
    repo = cache / ("models--" + spec.source.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(tiny_dir, snapshot)
    for component, stem in models.WEIGHTS.items():
        (snapshot / component / f"{stem}.safetensors").rename(snapshot / component / f"{stem}.{spec.variant}.safetensors")
    (repo / "refs").mkdir()
    (repo / "refs" / spec.revision).write_text(commit)
    return snapshot


# -- the tiny model ----------------------------------------------------------------------------

def test_tiny_model_has_modelscope_layout_and_is_small(tiny_dir):
    files = {p.relative_to(tiny_dir).as_posix() for p in tiny_dir.rglob("*") if p.is_file()}
    for needed in ("model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
                   "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                   "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                   "text_encoder/config.json", "text_encoder/model.safetensors"):
        assert needed in files
    assert not [f for f in files if f.endswith(models.PICKLE_SUFFIXES)]
    size = sum((tiny_dir / f).stat().st_size for f in files)
    assert size < 5_000_000, f"tiny model is {size} bytes"
    index = __import__("json").loads((tiny_dir / "model_index.json").read_text())
    assert index["_class_name"] == "TextToVideoSDPipeline"
    assert index["unet"] == ["diffusers", "UNet3DConditionModel"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]


def test_folder_loads_all_five_components(tiny_dir, tiny):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from diffusers.models.attention_processor import AttnProcessor2_0
    from transformers import CLIPTextModel, CLIPTokenizer

    spec = models.resolve(str(tiny_dir))
    assert spec.is_local and spec.source == str(tiny_dir.resolve()) and spec.variant is None
    assert isinstance(tiny.unet, UNet3DConditionModel)
    assert isinstance(tiny.vae, AutoencoderKL)
    assert isinstance(tiny.text_encoder, CLIPTextModel)
    assert isinstance(tiny.tokenizer, CLIPTokenizer)
    assert isinstance(tiny.scheduler, DDIMScheduler)
    assert tiny.device == torch.device("cpu") and tiny.dtype == torch.float32
    for module in (tiny.unet, tiny.vae, tiny.text_encoder):
        assert not module.training
        assert not any(p.requires_grad for p in module.parameters())
        assert next(module.parameters()).dtype == torch.float32
    processors = list(tiny.unet.attn_processors.values()) + list(tiny.vae.attn_processors.values())
    assert processors and all(isinstance(p, AttnProcessor2_0) for p in processors)


def test_unet_denoises_a_latent_video_with_text_embeddings(tiny):
    embeddings = tiny.encode_prompt(["a cat"])
    assert embeddings.shape == (1, 77, tiny.text_encoder.config.hidden_size)
    assert not embeddings.requires_grad and torch.isfinite(embeddings).all()
    # Different prompts give different embeddings (the tokenizer is not collapsing everything to unk).
    assert not torch.allclose(embeddings, tiny.encode_prompt(["a dog jumps over 3 fences!"]))

    latents = torch.randn(1, tiny.latent_channels, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        noise = tiny.unet(latents, torch.tensor([500]), encoder_hidden_states=embeddings).sample
    assert noise.shape == (1, 4, 2, 8, 8)
    assert torch.isfinite(noise).all()


def test_vae_round_trip_shapes(tiny):
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        latents = tiny.vae.encode(images).latent_dist.sample()
        decoded = tiny.vae.decode(latents).sample
    side = 32 // tiny.vae_scale_factor
    assert latents.shape == (2, tiny.latent_channels, side, side)
    assert decoded.shape == images.shape and torch.isfinite(decoded).all()
    assert tiny.scaling_factor == pytest.approx(0.18215)


def test_scheduler_is_ddim_with_modelscope_settings(tiny):
    config = tiny.scheduler.config
    assert type(tiny.scheduler).__name__ == "DDIMScheduler"
    assert config.beta_schedule == "scaled_linear"
    assert config.beta_start == pytest.approx(0.00085) and config.beta_end == pytest.approx(0.012)
    assert config.clip_sample is False and config.set_alpha_to_one is False
    assert config.steps_offset == 1 and config.prediction_type == "epsilon" and config.num_train_timesteps == 1000
    # A job's own scheduler: stepping it leaves the shared one untouched.
    mine = tiny.fresh_scheduler()
    assert mine is not tiny.scheduler and dict(mine.config) == dict(config)
    before = tiny.scheduler.timesteps.clone()
    mine.set_timesteps(25)
    assert len(mine.timesteps) == 25 and torch.equal(tiny.scheduler.timesteps, before)


def test_model_cache_loads_once_and_shares(tiny_dir):
    cache = models.ModelCache()
    spec = models.resolve(str(tiny_dir))
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(spec, "cpu"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(m is got[0] for m in got)
    assert cache.get(spec, "cpu", dtype="float32") is got[0]  # the CPU default is float32: same key
    assert cache.loads == 1 and len(cache) == 1
    cache.clear()
    assert len(cache) == 0
    again = cache.get(spec, "cpu")
    assert again is not got[0] and cache.loads == 2


def test_model_cache_says_what_it_holds_by_every_name_it_was_asked_for(tiny_dir):
    """What a worker reports for model affinity: two registry names for one folder share one load,
    and both are held; most recently used first; per device."""
    import dataclasses

    cache = models.ModelCache()
    spec = models.resolve(str(tiny_dir))
    assert cache.loaded() == []
    cache.get(dataclasses.replace(spec, name="tiny-a"), "cpu")
    cache.get(dataclasses.replace(spec, name="tiny-b"), "cpu")
    assert cache.loads == 1 and cache.loaded("cpu") == ["tiny-b", "tiny-a"]
    cache.get(dataclasses.replace(spec, name="tiny-a"), "cpu")
    assert cache.loaded() == ["tiny-a", "tiny-b"] and cache.loaded("cuda") == []


# -- refusals and errors -----------------------------------------------------------------------

def test_pickle_only_weights_are_refused(tiny_dir, tmp_path):
    folder = shutil.copytree(tiny_dir, tmp_path / "pickled")
    from safetensors.torch import load_file

    unet = folder / "unet"
    state = load_file(unet / "diffusion_pytorch_model.safetensors")
    torch.save(state, unet / "diffusion_pytorch_model.bin")
    (unet / "diffusion_pytorch_model.safetensors").unlink()

    spec = models.resolve(str(folder))
    with pytest.raises(ModelUnavailable, match="safetensors only") as caught:
        models.load_text_to_video(spec)
    assert "diffusion_pytorch_model.bin" in str(caught.value)
    ok, why = models.availability(spec)
    assert not ok and "safetensors" in why


def test_unknown_name_or_missing_folder_lists_known_models(tmp_path):
    for name in ("no-such-model", str(tmp_path / "missing")):
        with pytest.raises(InvalidInput, match=models.MODELSCOPE_1_7B) as caught:
            models.resolve(name)
        assert caught.value.field == "model"
    with pytest.raises(InvalidInput, match="model_index.json"):
        models.resolve(str(tmp_path))  # a folder, but not a model


def test_missing_hub_weights_say_how_to_pull(tmp_path):
    empty_cache = tmp_path / "hub"
    empty_cache.mkdir()
    ok, why = models.availability(MODELSCOPE, cache_dir=empty_cache)
    assert not ok and "inkmotion models pull modelscope-1.7b" in why
    with pytest.raises(ModelUnavailable, match="inkmotion models pull modelscope-1.7b") as caught:
        models.load_text_to_video(MODELSCOPE, cache_dir=empty_cache)
    assert models.ALLOW_DOWNLOAD_ENV in str(caught.value)


def test_hub_id_loads_from_the_hub_cache(tiny_dir, tmp_path):
    """The real hub code path (repo id, revision, fp16 variant, local_files_only) on a cache that holds the tiny model."""
    cache = tmp_path / "hub"
    _copy_as_hub_snapshot(tiny_dir, cache, MODELSCOPE)
    ok, where = models.availability(MODELSCOPE, cache_dir=cache)
    assert ok, where
    loaded = models.load_text_to_video(MODELSCOPE, cache_dir=cache)
    from safetensors.torch import load_file

    saved = load_file(tiny_dir / "unet" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(loaded.unet.state_dict()["conv_in.weight"], saved["conv_in.weight"])
    assert loaded.dtype == torch.float32  # the CPU gets float32 even from the fp16 files


def test_default_model_and_dtypes():
    spec = models.resolve(models.DEFAULT_FOR_TASK["text_motion"])
    assert spec.source == "damo-vilab/text-to-video-ms-1.7b" and spec.variant == "fp16" and not spec.is_local
    assert models.choose_dtype(spec, "cpu") == torch.float32
    assert models.choose_dtype(spec, "cuda") == torch.float16
    assert models.choose_dtype(spec, "cuda", "bfloat16") == torch.bfloat16
    with pytest.raises(InvalidInput, match="float8"):
        models.choose_dtype(spec, "cuda", "float8")


# -- the config file ---------------------------------------------------------------------------

# TOML reads an unquoted [models.modelscope-1.7b] as modelscope-1 -> 7b: both spellings must work.
@pytest.mark.parametrize("header", ["[models.modelscope-1.7b]", '[models."modelscope-1.7b"]'])
def test_config_adds_and_overrides_models(tiny_dir, tmp_path, monkeypatch, header):
    config = tmp_path / "studio" / "models.toml"
    config.parent.mkdir()
    shutil.copytree(tiny_dir, config.parent / "weights" / "tiny")
    config.write_text(
        header + '\nrevision = "abc123"\ndtype = "bfloat16"\n\n'
        '[models.tiny]\nsource = "weights/tiny"\ndescription = "the test model"\ntasks = ["text_motion", "raster_text_motion"]\n\n'
        '[models.other]\nsource = "some-org/some-t2v"\nvariant = "fp16"\nkind = "text-to-video"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(models.CONFIG_ENV, str(config))
    specs = models.registry()
    overridden = specs["modelscope-1.7b"]
    assert (overridden.source, overridden.revision, overridden.dtype, overridden.variant) == (
        MODELSCOPE.source, "abc123", "bfloat16", "fp16")
    tiny = models.resolve("tiny")
    assert tiny.source == str((config.parent / "weights" / "tiny").resolve()) and tiny.is_local
    assert tiny.variant is None and tiny.tasks == ("text_motion", "raster_text_motion")
    assert models.availability(tiny)[0]
    assert specs["other"].source == "some-org/some-t2v" and specs["other"].revision == "main"


def test_user_config_is_read_from_xdg_config_home(tmp_path):
    config = tmp_path / "config" / "inkmotion" / "models.toml"  # XDG_CONFIG_HOME is tmp_path/config here
    config.parent.mkdir(parents=True)
    config.write_text('[models.mine]\nsource = "me/my-model"\n', encoding="utf-8")
    assert models.config_path() == config
    assert models.resolve("mine").source == "me/my-model"


@pytest.mark.parametrize(
    "text, model, key, problem",
    [
        ('[models.x\nsource = "a/b"\n', "", "", "not valid TOML"),
        ('[models.x]\nsource = "a/b"\ncolour = "red"\n', "models.x", "colour", "unknown key"),
        ('[models.x]\nsource = "a/b"\ndtype = "float8"\n', "models.x", "dtype", "float8"),
        ('[models.x]\nsource = "a/b"\nkind = "video-to-cake"\n', "models.x", "kind", "video-to-cake"),
        ('[models.x]\nrevision = "main"\n', "models.x", "source", "missing"),
        ('[models.x]\nsource = "not a hub id"\n', "models.x", "source", "neither a hub id"),
        ('[models.x]\nsource = "a/b"\ntasks = "text_motion"\n', "models.x", "tasks", "not a list"),
        ('[models.x]\nsource = 3\n', "models.x", "source", "not a string"),
        ('[models]\nx = "a/b"\n', "models.x", "", "must be a table"),
        ('[model.x]\nsource = "a/b"\n', "model", "", "unknown section"),
    ],
)
def test_bad_config_names_file_model_and_key(tmp_path, monkeypatch, text, model, key, problem):
    config = tmp_path / "models.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv(models.CONFIG_ENV, str(config))
    with pytest.raises(InvalidInput) as caught:
        models.resolve("x")
    message = str(caught.value)
    assert str(config) in message and problem in message
    assert f"{model}.{key}" in message if key else model in message


def test_config_named_by_env_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv(models.CONFIG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(InvalidInput, match=models.CONFIG_ENV):
        models.resolve("modelscope-1.7b")


# -- pull ----------------------------------------------------------------------------------------

def _selected(files: list[str], variant: str | None) -> set[str]:
    from huggingface_hub.utils import filter_repo_objects  # the filter snapshot_download applies

    allow, ignore = models.download_patterns(variant)
    return set(filter_repo_objects(files, allow_patterns=allow, ignore_patterns=ignore or None))


def test_pull_patterns_take_only_the_variants_safetensors():
    chosen = _selected(MODELSCOPE_FILES, "fp16")
    assert chosen == {
        "model_index.json", "scheduler/scheduler_config.json",
        "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
        "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
        "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors",
    }
    plain = _selected(MODELSCOPE_FILES, None)
    weights = {f for f in plain if not fnmatch.fnmatch(f, "*.json") and not f.startswith("tokenizer/")}
    assert weights == {"text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                       "vae/diffusion_pytorch_model.safetensors"}


def test_pull_passes_the_repo_revision_and_patterns(tiny_dir, tmp_path, monkeypatch):
    """Nothing can be downloaded here, so snapshot_download is replaced, ONLY to see the arguments
    pull passes; the stand-in fills the cache as the real one would, and pull's own check of the
    result runs for real."""
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(_copy_as_hub_snapshot(tiny_dir, Path(kwargs["cache_dir"]), replace(MODELSCOPE, revision=kwargs["revision"])))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    path = models.pull("modelscope-1.7b", cache_dir=tmp_path / "hub")
    assert path.is_dir() and (path / "model_index.json").is_file()
    (repo_id, kwargs), = calls
    assert repo_id == "damo-vilab/text-to-video-ms-1.7b" and kwargs["revision"] == "main"
    assert kwargs["allow_patterns"] == models.download_patterns("fp16")[0]
    assert "*.fp16.safetensors" in kwargs["allow_patterns"] and "*.safetensors" not in kwargs["allow_patterns"]


def test_pull_refuses_local_and_unknown_models(tiny_dir):
    with pytest.raises(InvalidInput, match="already local"):
        models.pull(str(tiny_dir))
    with pytest.raises(InvalidInput, match="known models"):
        models.pull("no-such-model")


# -- adapters (SketchAnimator, FlipSketch) -------------------------------------------------------

def test_peft_lora_injects_into_the_unet3d(tiny_dir):
    from diffusers import UNet3DConditionModel
    from peft import LoraConfig, inject_adapter_in_model

    # diffusers 0.42's UNet3D has no add_adapter (REFERENCE.md): adapters go in through peft directly.
    assert not hasattr(UNet3DConditionModel, "add_adapter")
    unet = UNet3DConditionModel.from_pretrained(tiny_dir, subfolder="unet", use_safetensors=True)
    unet.eval().requires_grad_(False)
    latents = torch.randn(1, 4, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    text = torch.randn(1, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = unet(latents, 10, encoder_hidden_states=text).sample

    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    unet = inject_adapter_in_model(config, unet, adapter_name="sketch")
    trainable = [name for name, p in unet.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert any("temp_attentions" in name for name in trainable) and any(".attentions." in name for name in trainable)
    with torch.no_grad():
        assert torch.allclose(unet(latents, 10, encoder_hidden_states=text).sample, before)  # B starts at zero
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
        after = unet(latents, 10, encoder_hidden_states=text).sample
    assert not torch.allclose(after, before)


# -- CUDA (runs where there is a GPU) ------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
def test_cuda_load_is_half_precision_with_memory_savers(tiny_dir):
    model = models.load_text_to_video(models.resolve(str(tiny_dir)), "cuda")
    assert model.dtype == torch.float16 and model.vae.use_slicing
    assert next(model.unet.parameters()).device.type == "cuda"
    embeddings = model.encode_prompt(["a cat"])
    latents = torch.randn(1, 4, 2, 8, 8, device="cuda", dtype=torch.float16)
    with torch.no_grad():
        noise = model.unet(latents, 10, encoder_hidden_states=embeddings).sample
    assert noise.dtype == torch.float16 and torch.isfinite(noise).all()


@cuda
def test_cuda_offload_moves_one_module_at_a_time(tiny_dir):
    model = models.load_text_to_video(models.resolve(str(tiny_dir)), "cuda", offload=True)
    assert next(model.text_encoder.parameters()).device.type == "cpu"
    embeddings = model.encode_prompt(["a cat"])
    assert embeddings.device.type == "cuda" and embeddings.dtype == torch.float16
    latents = torch.randn(1, 4, 2, 8, 8, device="cuda", dtype=torch.float16)
    with torch.no_grad():
        model.unet(latents, 10, encoder_hidden_states=embeddings)
        assert next(model.unet.parameters()).device.type == "cuda"
        model.vae.decode(latents[:, :, 0]).sample
    assert next(model.vae.parameters()).device.type == "cuda"
    assert next(model.unet.parameters()).device.type == "cpu"

#!/usr/bin/env python3
"""Write a tiny, randomly initialised text-to-video model in ModelScope's on-disk layout.

    python scripts/make_tiny_models.py DIR [--seed N]

DIR gets what `diffusers.TextToVideoSDPipeline.save_pretrained` writes for
`damo-vilab/text-to-video-ms-1.7b`: model_index.json, unet/ (UNet3DConditionModel), vae/
(AutoencoderKL), text_encoder/ (CLIPTextModel), tokenizer/ (CLIPTokenizer: vocab.json + merges.txt)
and scheduler/ (DDIMScheduler with ModelScope's settings), weights as safetensors only.
`--model DIR` then loads it through the same code path as the real weights (inkmotion.models).
It is for tests and CPU demos: its output is noise, but every shape and every setting is real.

Importable: `make_tiny_models(path, seed=0) -> Path`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Sizes: small enough to build in a second or two and to stay well under 5 MB on disk, large
# enough that every block type of the real model is present (cross-attention down/up blocks,
# temporal convolutions and temporal attention).
CROSS_ATTENTION_DIM = 32
BLOCK_OUT_CHANNELS = (16, 32)
# The VAE keeps ModelScope's four levels (3 downsamplings: 256 px -> 32 latents), so latents,
# the UNet's sample size and the attention lengths match the real model's at every resolution.
VAE_BLOCK_OUT_CHANNELS = (8, 8, 16, 16)
NORM_NUM_GROUPS = 8
MAX_TOKENS = 77  # CLIP's context: the pipeline pads every prompt to this many tokens
TEXT_VOCAB_SIZE = 1000

# ModelScope's scheduler_config.json (damo-vilab/text-to-video-ms-1.7b).
MODELSCOPE_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="epsilon",
)
VAE_SCALING_FACTOR = 0.18215  # ModelScope's vae/config.json

# A handful of merges so the tokenizer does real BPE work; every other word falls back to one
# token per byte, which the vocabulary always covers.
_MERGES = [
    ("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>"), ("t", "h"), ("th", "e</w>"),
    ("a", "n"), ("an", "d</w>"), ("i", "n"), ("in", "g</w>"), ("r", "u"), ("ru", "n"),
    ("w", "a"), ("wa", "l"), ("j", "u"), ("ju", "m"), ("p", "s</w>"), ("b", "i"), ("bi", "r"),
    ("bir", "d</w>"), ("f", "l"), ("fl", "y</w>"), ("s", "w"), ("sw", "i"), ("swi", "m</w>"),
]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (the byte-level BPE alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def tiny_vocab() -> tuple[dict[str, int], list[str]]:
    """CLIP's vocabulary layout in miniature: bytes, bytes ending a word, merges, then the specials."""
    alphabet = list(_bytes_to_unicode().values())
    tokens = alphabet + [c + "</w>" for c in alphabet] + [a + b for a, b in _MERGES]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    merges = ["#version: 0.2"] + [f"{a} {b}" for a, b in _MERGES]
    assert len(vocab) <= TEXT_VOCAB_SIZE
    return vocab, merges


def _write_tokenizer(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_vocab()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("\n".join(merges) + "\n", encoding="utf-8")
    # As ModelScope's tokenizer folder has them (its pad token is "!", id 0, like SD 2's).
    specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "!"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials, indent=2), encoding="utf-8")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS, "do_lower_case": True,
              "errors": "replace", "add_prefix_space": False, **specials}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def make_tiny_models(path: str | Path, seed: int = 0) -> Path:
    """Write the tiny model into `path` (created if missing) and return it."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)

    unet = UNet3DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=NORM_NUM_GROUPS,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        attention_head_dim=4,  # diffusers' UNet3D reads this as the number of heads (as ModelScope's config does)
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_BLOCK_OUT_CHANNELS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_BLOCK_OUT_CHANNELS),
        block_out_channels=VAE_BLOCK_OUT_CHANNELS,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=NORM_NUM_GROUPS,
        sample_size=256,
        scaling_factor=VAE_SCALING_FACTOR,
    )
    _write_tokenizer(root / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer")
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=TEXT_VOCAB_SIZE,
        hidden_size=CROSS_ATTENTION_DIM,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=MAX_TOKENS,
        hidden_act="gelu",  # ModelScope's OpenCLIP ViT-H text tower
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    scheduler = DDIMScheduler(**MODELSCOPE_SCHEDULER)

    for name, component in (("unet", unet), ("vae", vae), ("text_encoder", text_encoder)):
        component.save_pretrained(root / name, safe_serialization=True)
    scheduler.save_pretrained(root / "scheduler")
    _write_model_index(root)
    return root


def _write_model_index(root: Path) -> None:
    """model_index.json as TextToVideoSDPipeline.save_pretrained writes it."""
    import diffusers

    index = {
        "_class_name": "TextToVideoSDPipeline",
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet3DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (root / "model_index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    root = make_tiny_models(args.dir, seed=args.seed)
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    print(f"wrote {root} ({size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s; use it with --model {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

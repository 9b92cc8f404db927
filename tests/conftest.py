"""Shared fixtures: the test sketches, and the tiny model.

`vector_sketches` and `raster_sketches` are the project's own (tests/fixtures: procedural drawings,
Hershey lettering, a few drawn by hand, line art painted from them), written once per session.
`shared_vector_sketches` and `shared_raster_sketches` are drawings by other people, which the
repository does not hold: they are read from the folder INKMOTION_TESTDATA names (with
vector_sketches/*.svg and raster_sketches/*.png; CI sets it in .ci/run). Where it is unset the tests
that use them are skipped, and the run's summary says how many and why; where it is set to a folder
without the sketches, those tests fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fixtures

REPO = Path(__file__).resolve().parents[1]
TESTDATA_VARIABLE = "INKMOTION_TESTDATA"
SHARED_SKIP = f"the shared sketches by others are not in the repository and {TESTDATA_VARIABLE} is unset"


@pytest.fixture(scope="session")
def vector_sketches(tmp_path_factory) -> list[Path]:
    """The project's own SVG sketches, in tests/fixtures' order (neighbours make pairs of keys)."""
    return fixtures.write_vector_sketches(tmp_path_factory.mktemp("sketches") / "vector")


@pytest.fixture(scope="session")
def raster_sketches(tmp_path_factory) -> list[Path]:
    """The project's own PNG line art, in tests/fixtures' order."""
    return fixtures.write_raster_sketches(tmp_path_factory.mktemp("sketches") / "raster")


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    folder = os.environ.get(TESTDATA_VARIABLE)
    if not folder:
        pytest.skip(SHARED_SKIP)
    path = Path(folder)
    if not path.is_dir():
        pytest.fail(f"{TESTDATA_VARIABLE}={folder}: no such folder", pytrace=False)
    return path


def _shared(folder: Path, pattern: str) -> list[Path]:
    found = sorted(folder.glob(pattern))
    if not found:
        pytest.fail(f"{TESTDATA_VARIABLE}={folder}: no {pattern} in it", pytrace=False)
    return found


@pytest.fixture(scope="session")
def shared_vector_sketches(shared_testdata) -> list[Path]:
    return _shared(shared_testdata, "vector_sketches/*.svg")


@pytest.fixture(scope="session")
def shared_raster_sketches(shared_testdata) -> list[Path]:
    return _shared(shared_testdata, "raster_sketches/*.png")


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if SHARED_SKIP in str(r.longrepr)]
    if skipped:
        tests = "test" if len(skipped) == 1 else "tests"
        terminalreporter.write_line(
            f"{len(skipped)} {tests} using the shared sketches did not run because {TESTDATA_VARIABLE} is unset "
            "(set it to the folder holding vector_sketches/ and raster_sketches/ to run them)")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random text-to-video model in ModelScope's layout (scripts/make_tiny_models.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tiny_models", REPO / "scripts" / "make_tiny_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_models(tmp_path_factory.mktemp("tiny") / "t2v", seed=0)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A tiny random CLIP saved as a configured `clip = "..."` model is (safetensors + its processor)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("clip")
    config = CLIPConfig(
        text_config=dict(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder

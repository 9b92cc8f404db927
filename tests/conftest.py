"""Shared fixtures: where the real test inputs are."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TESTDATA = SHARED / "testdata"
VECTOR_SKETCHES = sorted((TESTDATA / "vector_sketches").glob("*.svg"))
RASTER_SKETCHES = sorted((TESTDATA / "raster_sketches").glob("*.png"))


def pytest_configure(config):
    if not VECTOR_SKETCHES or not RASTER_SKETCHES:
        raise pytest.UsageError(f"test inputs missing: expected ../shared/testdata beside the checkout ({TESTDATA})")


@pytest.fixture(scope="session")
def vector_sketches() -> list[Path]:
    return VECTOR_SKETCHES


@pytest.fixture(scope="session")
def raster_sketches() -> list[Path]:
    return RASTER_SKETCHES


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random text-to-video model in ModelScope's layout (scripts/make_tiny_models.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_tiny_models", REPO / "scripts" / "make_tiny_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_models(tmp_path_factory.mktemp("tiny") / "t2v", seed=0)

"""scripts/eval_inbetween.py on a tiny case: every method scored with finite figures, and a new
sketch-flow model (exactly the cross-dissolve) scored as the cross-dissolve is, frame for frame."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import eval_inbetween as ev  # noqa: E402
from inkmotion.pipelines import sketch_flow as sf  # noqa: E402


def test_every_method_is_scored_and_a_new_model_scores_as_the_cross_dissolve():
    torch.manual_seed(0)
    model = sf.SketchFlow(sf.SketchFlowConfig(size=32, channels=8, levels=2, motion_dim=8))
    result = ev.evaluate(clips=2, frames=5, size=64, model=model, testdata=None, pairs=(), log=lambda *a: None)
    clips = result["groups"]["clips"]
    for method in ("sketch-flow", "stroke-match", "cross-dissolve", "global warp"):
        assert method in clips, list(clips)
        assert all(math.isfinite(clips[method][k]) for k in ("chamfer", "psnr", "ssim")), clips[method]
    for k in ("chamfer", "psnr", "ssim"):
        assert clips["sketch-flow"][k] == pytest.approx(clips["cross-dissolve"][k], rel=1e-4, abs=1e-4), k
    assert clips["cross-dissolve"]["chamfer"] > clips["global warp"]["chamfer"] or \
        clips["cross-dissolve"]["psnr"] < clips["global warp"]["psnr"], "two keys apart are not their blend"


def test_chamfer_is_the_distance_a_line_moved():
    import numpy as np

    a = np.zeros((40, 40), np.float32)
    a[10:30, 10] = 1.0
    b = np.roll(a, 3, axis=1)
    assert ev.chamfer(a, a) == 0.0
    assert ev.chamfer(a, b) == pytest.approx(3.0, abs=0.01)

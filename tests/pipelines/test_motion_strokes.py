"""The motion-strokes model (inkmotion.pipelines.motion_strokes) and its trainer
(scripts/train_motion_strokes.py) on tiny sizes: the stroke images of Eq. (1), the rollout with the
predicted state fed back, a few training steps lowering the loss, safetensors in and out through
the registry, the canvas <-> window mapping; and the shipped weights against the rigid baseline
on a fixed held-out set."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import script  # noqa: E402
from inkmotion import models  # noqa: E402
from inkmotion.codec.drawing import Raster  # noqa: E402
from inkmotion.errors import InvalidInput, ModelUnavailable  # noqa: E402
from inkmotion.pipelines import motion_strokes as ms  # noqa: E402

TINY = ms.MotionStrokesConfig(size=64, channels=4, state_channels=8, motion_channels=4, dense_blocks=1,
                              dense_layers=2, growth=4, critic_channels=4)


@pytest.fixture(scope="module")
def trainer():
    return script("train_motion_strokes")


@pytest.fixture(scope="module")
def clips(trainer):
    return trainer.data.make_dataset(7, 24, 64, 5)


def tiny(seed: int = 0):
    torch.manual_seed(seed)
    return ms.build(TINY).eval()


# -- the stroke images S and S_t (Eq. 1's inputs) -----------------------------------------------

def test_the_whole_stroke_fades_from_the_first_keypoint_to_the_last():
    keys = torch.tensor([[[10.5, 10.5], [30.5, 20.5], [50.5, 40.5]]])
    whole, step = ms.stroke_images(keys, 64)
    assert whole.shape == (1, 1, 64, 64) and step.shape == (1, 2, 1, 64, 64)
    at = lambda image, x, y: float(image[..., int(y), int(x)])  # noqa: E731
    assert at(whole[0, 0], 10, 10) == pytest.approx(1.0, abs=1e-3)
    assert at(whole[0, 0], 30, 20) == pytest.approx((1 + ms.FADE) / 2, abs=1e-3)
    assert at(whole[0, 0], 50, 40) == pytest.approx(ms.FADE, abs=1e-3)
    assert at(whole[0, 0], 5, 60) < 1e-6, "nothing away from the keypoints"


def test_each_step_is_its_segment_brightening_towards_where_it_goes():
    keys = torch.tensor([[[10.5, 32.5], [50.5, 32.5], [50.5, 32.5]]])
    _, step = ms.stroke_images(keys, 64)
    first = step[0, 0, 0]
    row = first[32]
    assert row[10] == pytest.approx(0.5, abs=0.02) and row[50] == pytest.approx(1.0, abs=0.02)
    assert bool((row[11:50].diff() > 0).all()), "brighter towards k_1: the direction is seen"
    assert float(first[5:25, :].max()) < 1e-3, "only along the segment"
    still = step[0, 1, 0]  # k_1 == k_2: a dot where the step has no length
    assert float(still[32, 50]) == pytest.approx(0.5, abs=0.02) and float(still[32, 40]) < 1e-3


# -- the rollout ----------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [2, 5, 13])
def test_a_rollout_has_any_number_of_frames_the_first_the_input(clips, frames):
    model = tiny()
    first = torch.from_numpy(clips["clips"][:3, 0].astype(np.float32) / 255)[:, None]
    keys = torch.linspace(20, 40, frames)[None, :, None].repeat(3, 1, 2)
    seen = []
    with torch.no_grad():
        out = model.rollout(first, keys, on_step=seen.append)
    assert out.shape == (3, frames, 1, 64, 64)
    assert torch.equal(out[:, 0], first)
    assert seen == list(range(1, frames)), "one step per predicted frame"
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_the_generator_draws_on_the_first_frame_carried_to_the_keypoint():
    model = tiny()
    for p in model.generator.out[-1].parameters():  # G's change drawn as nothing: the carried frame shows
        torch.nn.init.zeros_(p)
    first = torch.zeros(1, 1, 64, 64)
    first[..., 20:24, 10:14] = 1.0
    keys = torch.tensor([[[12.0, 22.0], [20.0, 22.0], [20.0, 30.0]]])
    with torch.no_grad():
        out = model.rollout(first, keys)
    assert torch.allclose(out, ms.rigid_shift(first, keys), atol=1e-5)
    assert float(out[0, 2, 0, 28:32, 18:22].min()) > 0.99, "moved by (8, 8) px"


def test_the_rigid_baseline_moves_the_first_frame_by_whole_pixels_exactly():
    first = torch.rand(2, 1, 64, 64)
    keys = torch.tensor([[[30.0, 30.0], [33.0, 28.0]], [[10.0, 10.0], [10.0, 10.0]]])
    moved = ms.rigid_shift(first, keys)
    assert torch.allclose(moved[0, 1, 0, 10:50, 10:50], first[0, 0, 12:52, 7:47], atol=1e-5)
    assert torch.allclose(moved[1, 1], first[1, 0], atol=1e-5)


def test_a_config_outside_the_model_is_refused_naming_the_field():
    with pytest.raises(InvalidInput, match=r"motion_strokes.size.*96 is not one of 64, 128"):
        ms.build(ms.MotionStrokesConfig(size=96))
    with pytest.raises(InvalidInput, match=r"motion_strokes.growth.*0 is under the minimum of 1"):
        ms.build(ms.MotionStrokesConfig(growth=0))


def test_a_128_px_model_runs_too():
    model = ms.build(ms.MotionStrokesConfig(size=128, channels=2, state_channels=4, motion_channels=2,
                                            dense_blocks=1, dense_layers=1, growth=2)).eval()
    with torch.no_grad():
        out = model.rollout(torch.zeros(1, 1, 128, 128), torch.full((1, 3, 2), 64.0))
    assert out.shape == (1, 3, 1, 128, 128)


# -- training (single-step truncated back-propagation, Eq. 8) --------------------------------------

def _training(trainer, seed: int = 0):
    torch.manual_seed(seed)
    model = ms.build(TINY).train()
    critics = ms.build_critics(TINY)
    adam = {"lr": 2e-3, "betas": (0.5, 0.999)}
    optimisers = (torch.optim.Adam(model.parameters(), **adam),
                  torch.optim.Adam([p for c in critics for p in c.parameters()], **adam))
    return model, critics, trainer.Phi(), optimisers


def test_a_few_training_steps_lower_the_loss(trainer, clips):
    """From a start away from the rigid baseline (a new model is exactly it: G's last layer starts at
    zero), 25 steps on one batch bring the reconstruction loss down."""
    model, critics, phi, optimisers = _training(trainer)
    assert torch.count_nonzero(model.generator.out[-1].weight) == 0
    with torch.no_grad():
        model.generator.out[-1].weight.normal_(0.0, 0.5)
    rng = np.random.default_rng(0)
    frames, keys = trainer.batch_of(clips["clips"], clips["keypoints"], np.arange(8), rng)
    losses = [trainer.train_step(model, critics, phi, optimisers, frames, keys, use_gan=False)["rec1"]
              for _ in range(25)]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3]), losses
    terms = trainer.train_step(model, critics, phi, optimisers, frames, keys, use_gan=True)
    assert {"rec1", "rec2", "vgg", "gan1", "gan2", "d", "total"} <= set(terms)
    assert all(np.isfinite(v) for v in terms.values())


def test_training_feeds_back_the_predicted_state_detached(trainer, clips):
    model, critics, phi, optimisers = _training(trainer)
    calls = []
    model.predictor.register_forward_hook(lambda module, args, out: calls.append((args, out)))
    frames, keys = trainer.batch_of(clips["clips"], clips["keypoints"], np.arange(4), np.random.default_rng(1))
    trainer.train_step(model, critics, phi, optimisers, frames, keys, use_gan=False)
    steps = frames.shape[1] - 1
    assert len(calls) == steps
    (h0, h, _), _ = calls[0]
    assert torch.equal(h0, h), "h_1 = P(h_0, h_0, x_0)"
    for t in range(1, steps):
        (_, fed, _), _ = calls[t]
        previous = calls[t - 1][1]
        assert torch.equal(fed, previous), f"step {t} takes the state predicted at step {t - 1}"
        assert not fed.requires_grad, "single-step truncation: no gradient through the fed-back state"
        assert calls[t][1].requires_grad


def test_evaluation_scores_the_model_the_rigid_baseline_and_blank_per_kind(trainer, clips):
    scores = trainer.evaluate(tiny(), clips["clips"], clips["keypoints"], clips["kinds"])
    assert {"model", "rigid", "blank"} <= set(scores)
    assert {f"rigid/{k}" for k in set(clips["kinds"])} <= set(scores)
    assert scores["rigid"] < scores["blank"], "the subject pasted along its path beats an empty frame"


# -- weights --------------------------------------------------------------------------------------

def test_saved_weights_load_through_the_registry_and_predict_the_same(tmp_path):
    model = tiny(3)
    folder = ms.save(model, tmp_path / "ms", {"seed": 3})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    spec = models.resolve(str(folder))
    assert spec.kind == models.MOTION_STROKES and "path_motion" in spec.tasks
    loaded = models.CACHE.get(spec, "cpu")
    assert loaded.config == TINY and not any(p.requires_grad for p in loaded.parameters())
    first, keys = torch.rand(1, 1, 64, 64), torch.tensor([[[30.0, 30.0], [34.0, 31.0], [38.0, 33.0]]])
    with torch.no_grad():
        assert torch.equal(model.rollout(first, keys), loaded.rollout(first, keys))


def test_pickle_weights_or_a_foreign_config_are_refused(tmp_path):
    folder = ms.save(tiny(), tmp_path / "ms")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelUnavailable, match="safetensors only"):
        ms.load(folder)
    (folder / "config.json").write_text('{"model_type": "bert"}', encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="model_type is 'bert', not 'motion-strokes'"):
        ms.load(folder)


def test_weights_that_do_not_fit_their_config_say_so(tmp_path):
    folder = ms.save(tiny(), tmp_path / "ms")
    config = (folder / "config.json").read_text(encoding="utf-8").replace('"channels": 4', '"channels": 6')
    (folder / "config.json").write_text(config, encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="does not fit its config.json"):
        ms.load(folder)


# -- an artist's canvas <-> the model's window ------------------------------------------------------

def _house(width: int = 300, height: int = 200) -> Raster:
    rgba = np.full((height, width, 4), 255, np.uint8)
    rgba[60:64, 40:80, :3] = 20
    rgba[60:100, 40:44, :3] = 20
    rgba[96:100, 40:80, :3] = 20
    return Raster(rgba)


def test_the_window_holds_the_subject_at_every_keypoint():
    box = (40.0, 60.0, 80.0, 100.0)
    keys = np.array([[60.0, 80.0], [150.0, 90.0], [250.0, 150.0]])
    window = ms.Window.around(box, keys, 64)
    inside = window.to_window(keys)
    half = 20 * window.scale
    assert (inside - half >= 0).all() and (inside + half <= 64).all()
    assert 40 / window.side <= ms.SUBJECT_FRACTION + 1e-9


def test_animate_keeps_frame_zero_and_carries_the_ink_to_the_path_end():
    raster = _house()
    path = np.array([[60.0, 80.0], [150.0, 60.0], [240.0, 140.0]])
    model = tiny()
    for p in model.generator.out[-1].parameters():  # the carried subject as it is: where does it land?
        torch.nn.init.zeros_(p)
    seen = []
    frames = ms.animate(model, raster, path, 6, easing="linear", on_progress=seen.append)
    assert len(frames) == 6 and frames[0] is raster
    assert all((f.width, f.height) == (300, 200) for f in frames)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]
    ink = 255.0 - frames[-1].rgba[..., 0].astype(np.float64)
    x0, y0, x1, y1 = ms.ink_box(ink / 255)
    assert np.linalg.norm(((x0 + x1) / 2 - path[-1][0], (y0 + y1) / 2 - path[-1][1])) < 2.0, "the box's centre is the keypoint"
    given = 255.0 - raster.rgba[..., 0]
    assert ink.sum() == pytest.approx(given.sum(), rel=0.2), "the ink is resampled, not lost"


def test_a_blank_subject_is_refused():
    with pytest.raises(InvalidInput, match="path_motion.raster.*has no ink"):
        ms.animate(tiny(), Raster(np.full((64, 64, 4), 255, np.uint8)), np.array([[0.0, 0.0], [10.0, 10.0]]), 3)


# -- the shipped model ------------------------------------------------------------------------------

def test_the_shipped_weights_beat_the_rigid_baseline_on_articulated_held_out_clips(trainer):
    """scripts/eval_motion_strokes.py's fixed held-out set (seed 5000, which no training run sees):
    walking and running figures, whose limbs pasting cannot move. The shipped weights must beat
    the rigid baseline there in MSE (by 5 %) and in PSNR over the frames that move; it fails if the
    weights get no better than pasting the subject along its path. (On rigid glyphs they do not
    beat it: the card says so.)"""
    spec = models.resolve(models.DEFAULT_FOR_TASK["path_motion"])
    available, why = models.availability(spec, task="path_motion")
    assert available, why
    assert (models.PACKAGE_WEIGHTS / "motion-strokes" / "model.safetensors").stat().st_size < 20 * 2**20
    evaluation = script("eval_motion_strokes")
    table, _ = evaluation.held_out(models.CACHE.get(spec, "cpu"), 64, 8)
    for kind in ("stick", "quadruped"):
        model, rigid = table[kind]["model"], table[kind]["rigid"]
        assert model["mse"] < 0.95 * rigid["mse"], (kind, model, rigid)
        assert model["psnr_moving"] > rigid["psnr_moving"], (kind, model, rigid)


def test_a_hub_id_loads_from_the_hub_cache_and_says_how_to_pull_when_missing(tmp_path):
    """The hub code path (repo id, revision, local_files_only) on a cache laid out as the Hugging
    Face cache holds a downloaded repository of the model's two files."""
    from dataclasses import replace

    spec = replace(models.BUILTIN[models.MOTION_STROKES], name="ms-hub", source="inkmotion/motion-strokes-test",
                   revision="main")
    cache = tmp_path / "hub"
    cache.mkdir()
    ok, why = models.availability(spec, cache_dir=cache)
    assert not ok and "inkmotion models pull ms-hub" in why
    with pytest.raises(ModelUnavailable, match="inkmotion models pull ms-hub"):
        models.load_trained(spec, cache_dir=cache)
    repo = cache / "models--inkmotion--motion-strokes-test"
    commit = "0123456789abcdef0123456789abcdef01234567"
    model = tiny(5)
    ms.save(model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    ok, where = models.availability(spec, cache_dir=cache)
    assert ok, where
    loaded = models.load_trained(spec, cache_dir=cache)
    first, keys = torch.rand(1, 1, 64, 64), torch.tensor([[[30.0, 30.0], [36.0, 30.0]]])
    with torch.no_grad():
        assert torch.equal(model.rollout(first, keys), loaded.rollout(first, keys))

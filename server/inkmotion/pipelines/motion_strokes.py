"""Motion strokes: a raster subject travels a drawn path, frame by frame, with a learned recurrent model.

Paper: Hu, Bińkowski, ..., Favaro, "Learning to Take Directions One Step at a Time"
(../shared/papers/motion-strokes-one-step.txt). Its public code is a TensorFlow 1 training demo
without weights; this is our PyTorch model of its Section III, trained here on procedural data
(scripts/train_motion_strokes.py, scripts/motion_strokes_data.py).

The model works on ink images (1 = ink, 0 = paper) of `size` x `size` px (64 or 128) holding the
subject and its path. The path is a sequence of keypoints, one per frame: k_0 is where the subject
is (the centre of its ink's bounding box), k_t where it is at frame t, so their spacing is the
speed.

- E1 (`ImageEncoder`): conv layers (with two coordinate channels) from a frame I to a state
  h = E1(I), a `state_channels` x 8 x 8 feature map.
- E2 (`StrokeEncoder`), Eq. (1): the instant motion x_t = E2(S, S_t), from the whole stroke image S
  (a dot per keypoint, intensity falling from 1 to `FADE` over time as in the paper's figures) and
  the current step S_t (the segment k_t -> k_{t+1}, brightening towards k_{t+1} so the direction is
  seen), see `stroke_images`.
- P (`Predictor`), Eq. (2): h_{t+1} = P(h_0, h_t, x_t), dense blocks (DenseNet) on the concatenation;
  h_1 = P(h_0, h_0, x_0). Our choice: P predicts a change, h_{t+1} = h_t + dense(...), so that
  "stay" is easy to learn.
- G (`Generator`): transposed convs from a state to a frame, I_{t+1} = G(h_{t+1}) (linear ink,
  clamped to [0, 1] for the frames out). Ours: G also sees C_{t+1}, the first frame carried
  rigidly to k_{t+1}, and draws the change from it (I_{t+1} = C_{t+1} + G'(h_{t+1}, C_{t+1})).
- D1 (`FrameCritic`), for Eq. (5): a spectral-norm PatchGAN on the frame, conditioned on the step
  (the frame concatenated with S_t); D2 (`PairCritic`), for Eq. (6): on consecutive pairs
  q_t = (I_t, I_{t+1}).

At test time (`MotionStrokesModel.rollout`) the predicted state is fed back: h_0 = E1(I_0), then
h_{t+1} = P(h_0, h_t, x_t) for t = 0 .. T-2, any number of frames. Training (losses of Eq. (3)-(8),
single-step truncated back-propagation) is in scripts/train_motion_strokes.py; the modules here
are what inference needs.

`animate` maps an artist's canvas to the model's window and back: a square window around the
subject and the path (the subject about `SUBJECT_FRACTION` of it, as in training), the ink
resampled into it, the keypoints from `path_follow.keypoints` (easing and timing as the vector
engine). What comes back is the subject carried at the canvas's own resolution plus the change the
model draws beyond its carried frame, resampled from the window (the lines stay as crisp as drawn;
only what the model moves is at its 64 px), painted in the subject's ink colour on its paper. Frame 0
is the input exactly.

Weights: `save` / `load` a folder of config.json (model_type "motion-strokes") and
model.safetensors (safetensors only); the registry's built-in `motion-strokes` is the folder that
ships in the package (inkmotion/weights/motion-strokes).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inkmotion.codec.drawing import Raster
from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.models.specs import MOTION_STROKES as MODEL_TYPE
from inkmotion.models.specs import MOTION_STROKES_CONFIG as CONFIG_FILE
from inkmotion.models.specs import MOTION_STROKES_WEIGHTS as WEIGHTS_FILE
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress

if TYPE_CHECKING:
    import torch

SIZES = (64, 128)
STATE_SIZE = 8  # the state's spatial size: E1 halves the image down to 8 x 8
FADE = 0.35  # the last keypoint's dot intensity in S (the first is 1)
DOT_SIGMA = 1.0  # px at 64: the dots and segments of the stroke images (scaled with the size)
SUBJECT_FRACTION = 0.38  # the subject's extent in the model's window at most (training: 0.3-0.45)
WINDOW_MARGIN = 1.15  # the window is this much larger than the subject and its path together


@dataclass(frozen=True)
class MotionStrokesConfig:
    """The model's shape. The defaults are the shipped model's."""

    size: int = 64  # frames are size x size (64 or 128)
    channels: int = 32  # the first conv layer's width; it doubles at every halving
    state_channels: int = 64  # h: state_channels x 8 x 8
    motion_channels: int = 32  # x_t: motion_channels x 8 x 8
    dense_blocks: int = 2  # P: dense blocks ...
    dense_layers: int = 4  # ... of this many 3x3 conv layers ...
    growth: int = 32  # ... each adding this many channels
    critic_channels: int = 32  # D1 and D2's first layer

    @property
    def halvings(self) -> int:
        return int(round(math.log2(self.size // STATE_SIZE)))

    def check(self) -> "MotionStrokesConfig":
        if self.size not in SIZES:
            raise InvalidInput("motion_strokes.size", f"{self.size} is not one of {', '.join(map(str, SIZES))}")
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise InvalidInput(f"motion_strokes.{f.name}", f"{getattr(self, f.name)} is under the minimum of 1")
        return self


# -- the stroke images S and S_t (the inputs of E2, Eq. 1) -------------------------------------


def stroke_images(keypoints: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(S [B, 1, H, W], S_t [B, T-1, 1, H, W]) from keypoints [B, T, 2] (x, y) in window px.

    S: a Gaussian dot per keypoint, intensity 1 at k_0 falling linearly to FADE at k_{T-1} (the
    paper's figures: "the intensity of the dots goes from black to light grey with increasing
    time"); overlapping dots take the brightest. S_t: the segment k_t -> k_{t+1}, its intensity
    rising from 0.5 to 1 towards k_{t+1} (the direction), a dot where it has no length."""
    import torch

    batch, steps = keypoints.shape[:2]
    sigma = DOT_SIGMA * size / 64
    centres = torch.arange(size, dtype=keypoints.dtype, device=keypoints.device) + 0.5
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="xy"), dim=-1)  # [H, W, 2] (x, y)
    fade = torch.linspace(1.0, FADE, steps, dtype=keypoints.dtype, device=keypoints.device)
    gap = ((grid[None, None] - keypoints[:, :, None, None]) ** 2).sum(-1)  # [B, T, H, W]
    dots = torch.exp(-gap / (2 * sigma**2)) * fade[None, :, None, None]
    whole = dots.amax(dim=1, keepdim=True)

    a, b = keypoints[:, :-1, None, None], keypoints[:, 1:, None, None]  # [B, T-1, 1, 1, 2]
    ab = b - a
    span = (ab**2).sum(-1).clamp_min(1e-6)
    w = (((grid[None, None] - a) * ab).sum(-1) / span).clamp(0.0, 1.0)  # [B, T-1, H, W]
    near = a + w[..., None] * ab
    gap = ((grid[None, None] - near) ** 2).sum(-1)
    step = torch.exp(-gap / (2 * sigma**2)) * (0.5 + 0.5 * w)
    return whole, step[:, :, None]


def _coords(x: torch.Tensor) -> torch.Tensor:
    """x with two coordinate channels (CoordConv) in [-1, 1]: where things are matters here."""
    import torch

    batch, _, height, width = x.shape
    ys = torch.linspace(-1.0, 1.0, height, dtype=x.dtype, device=x.device)
    xs = torch.linspace(-1.0, 1.0, width, dtype=x.dtype, device=x.device)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.cat([x, xx.expand(batch, 1, -1, -1), yy.expand(batch, 1, -1, -1)], dim=1)


# -- the networks ------------------------------------------------------------------------------


def _modules():
    """The torch modules, built on first use (torch is imported only when a model is)."""
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    def act():
        return nn.LeakyReLU(0.2, inplace=True)

    class Encoder(nn.Module):
        """Conv layers halving `halvings` times (with coordinate channels) to a `out` x 8 x 8 map."""

        def __init__(self, inputs: int, out: int, config: MotionStrokesConfig):
            super().__init__()
            width = config.channels
            layers = [nn.Conv2d(inputs + 2, width, 3, padding=1), act()]
            for _ in range(config.halvings):
                layers += [nn.Conv2d(width, width * 2, 4, stride=2, padding=1), act()]
                width *= 2
            layers += [nn.Conv2d(width, out, 3, padding=1)]
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(_coords(x))

    class ImageEncoder(Encoder):
        """E1: a frame [B, 1, H, W] -> its state h [B, state_channels, 8, 8]."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__(1, config.state_channels, config)

    class StrokeEncoder(Encoder):
        """E2, Eq. (1): x_t = E2(S, S_t), from [B, 1, H, W] each to [B, motion_channels, 8, 8]."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__(2, config.motion_channels, config)

        def forward(self, whole, step):
            return super().forward(torch.cat([whole, step], dim=1))

    class DenseBlock(nn.Module):
        """Huang et al.'s dense block: every layer sees every earlier layer's output."""

        def __init__(self, inputs: int, layers: int, growth: int):
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Sequential(nn.Conv2d(inputs + i * growth, growth, 3, padding=1), act()) for i in range(layers))
            self.out = inputs + layers * growth

        def forward(self, x):
            for layer in self.layers:
                x = torch.cat([x, layer(x)], dim=1)
            return x

    class Predictor(nn.Module):
        """P, Eq. (2): h_{t+1} = P(h_0, h_t, x_t) = h_t + dense blocks(h_0, h_t, x_t)."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__()
            width = 2 * config.state_channels + config.motion_channels
            blocks = []
            for _ in range(config.dense_blocks):
                block = DenseBlock(width, config.dense_layers, config.growth)
                blocks += [block, nn.Conv2d(block.out, width, 1), act()]  # a transition back to `width`
            self.blocks = nn.Sequential(*blocks)
            self.out = nn.Conv2d(width, config.state_channels, 3, padding=1)

        def forward(self, h0, h, x):
            return h + self.out(self.blocks(torch.cat([h0, h, x], dim=1)))

    class Generator(nn.Module):
        """G: a state [B, state_channels, 8, 8] and the carried frame [B, 1, H, W] -> a frame.

        Ours: besides the state, G sees the first frame carried rigidly to this frame's keypoint
        (`rigid_shift`) at full resolution and draws the change from it, I = C + G'(h, C). The
        state alone (8 x 8) cannot place thin lines to a pixel; with the carried frame the model
        starts from the rigid baseline and learns what moves on top of it (limbs, the gait)."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__()
            width = config.channels * 2**config.halvings
            layers = [nn.Conv2d(config.state_channels, width, 3, padding=1), act()]
            for _ in range(config.halvings):
                layers += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), act()]
                width //= 2
            self.up = nn.Sequential(*layers)
            # at full resolution, dilated (1, 2, 4, 1): each pixel sees 17 px of the carried frame,
            # a limb and what it hangs from
            self.out = nn.Sequential(nn.Conv2d(width + 1, width, 3, padding=1), act(),
                                     nn.Conv2d(width, width, 3, padding=2, dilation=2), act(),
                                     nn.Conv2d(width, width, 3, padding=4, dilation=4), act(),
                                     nn.Conv2d(width, 1, 3, padding=1))
            nn.init.zeros_(self.out[-1].weight)  # a new model is the rigid baseline exactly; it learns the change
            nn.init.zeros_(self.out[-1].bias)

        def forward(self, h, carried):
            """The frame's ink, not clamped: training takes the L2 losses on it as it is (a sigmoid
            there starves the thin ink of gradient once the paper saturates); `Model.frame`
            clamps it to [0, 1]."""
            return carried + self.out(torch.cat([self.up(h), carried], dim=1))

    class Critic(nn.Module):
        """A PatchGAN with spectral normalisation (the paper's only normalisation): logits per patch."""

        def __init__(self, inputs: int, config: MotionStrokesConfig):
            super().__init__()
            width = config.critic_channels
            layers = [spectral_norm(nn.Conv2d(inputs, width, 4, stride=2, padding=1)), act()]
            for _ in range(2):
                layers += [spectral_norm(nn.Conv2d(width, width * 2, 4, stride=2, padding=1)), act()]
                width *= 2
            layers += [spectral_norm(nn.Conv2d(width, 1, 3, padding=1))]
            self.net = nn.Sequential(*layers)

        def forward(self, *images):
            return self.net(torch.cat(images, dim=1))

    class FrameCritic(Critic):
        """D1 of Eq. (5): a frame, conditioned on its step S_t (concatenated)."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__(2, config)

    class PairCritic(Critic):
        """D2 of Eq. (6): a pair of consecutive frames q_t = (I_t, I_{t+1})."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__(2, config)

    class Model(nn.Module):
        """E1, E2, P and G: everything inference needs (the critics live with the trainer)."""

        def __init__(self, config: MotionStrokesConfig):
            super().__init__()
            self.config = config.check()
            self.image_encoder = ImageEncoder(config)
            self.stroke_encoder = StrokeEncoder(config)
            self.predictor = Predictor(config)
            self.generator = Generator(config)

        def frame(self, h, carried):
            """I = G(h, C), clamped to ink in [0, 1]."""
            return self.generator(h, carried).clamp(0.0, 1.0)

        def steps(self, keypoints):
            """The instant motions x_t = E2(S, S_t) (Eq. 1), [B, T-1, C, 8, 8]."""
            whole, step = stroke_images(keypoints, self.config.size)
            count = step.shape[1]
            encoded = self.stroke_encoder(whole.repeat_interleave(count, 0), step.flatten(0, 1))
            return encoded.unflatten(0, (keypoints.shape[0], count))

        def rollout(self, first, keypoints, on_step=None):
            """Frames [B, T, 1, H, W] from the first frame [B, 1, H, W] and keypoints [B, T, 2]:
            frame 0 is `first`, the others G(h_{t+1}), with h_{t+1} = P(h_0, h_t, x_t) and the
            predicted state fed back (the paper's test time), C_{t+1} the first frame carried to
            k_{t+1}. `on_step(t)` after each frame."""
            h0 = self.image_encoder(first)
            x = self.steps(keypoints)
            carried = rigid_shift(first, keypoints)
            h, frames = h0, [first]
            for t in range(x.shape[1]):
                h = self.predictor(h0, h, x[:, t])
                frames.append(self.frame(h, carried[:, t + 1]))
                if on_step is not None:
                    on_step(t + 1)
            return torch.stack(frames, dim=1)

    return {"Model": Model, "FrameCritic": FrameCritic, "PairCritic": PairCritic}


_MODULES: dict | None = None


def _classes() -> dict:
    global _MODULES
    if _MODULES is None:
        _MODULES = _modules()
    return _MODULES


def build(config: MotionStrokesConfig = MotionStrokesConfig()):
    """A new model (E1, E2, P, G) with random weights."""
    return _classes()["Model"](config)


def build_critics(config: MotionStrokesConfig = MotionStrokesConfig()):
    """(D1, D2), new, for training."""
    classes = _classes()
    return classes["FrameCritic"](config.check()), classes["PairCritic"](config)


def shifted(image: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """image [N, 1, H, W] moved by shift [N, 2] (dx, dy) px, bilinear, paper (0) coming in."""
    import torch
    import torch.nn.functional as F

    count, _, height, width = image.shape
    theta = torch.zeros(count, 2, 3, dtype=image.dtype, device=image.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2 * shift[:, 0] / width  # sample from x - dx
    theta[:, 1, 2] = -2 * shift[:, 1] / height
    grid = F.affine_grid(theta, [count, 1, height, width], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rigid_shift(first: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """The rigid baseline [B, T, 1, H, W]: the first frame [B, 1, H, W] pasted at every keypoint
    (shifted by k_t - k_0, bilinear), what the model is measured against, and the frame its
    generator draws on."""
    batch, steps = keypoints.shape[:2]
    shift = (keypoints - keypoints[:, :1]).flatten(0, 1).to(first.dtype)  # [B T, 2] px
    return shifted(first.repeat_interleave(steps, 0), shift).unflatten(0, (batch, steps))


# -- weights -----------------------------------------------------------------------------------


def save(model, folder: str | Path, extra: dict | None = None) -> Path:
    """config.json + model.safetensors (float32) in `folder`; `extra` goes into the config (how it
    was trained)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": MODEL_TYPE, **asdict(model.config), **({"training": extra} if extra else {})}
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"model_type": MODEL_TYPE})
    return folder


def read_config(folder: str | Path) -> MotionStrokesConfig:
    """The config of a weights folder; ModelUnavailable says what is missing or wrong."""
    path = Path(folder) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelUnavailable(f"{path} is missing: not a motion-strokes model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or data.get("model_type") != MODEL_TYPE:
        found = data.get("model_type") if isinstance(data, dict) else None
        raise ModelUnavailable(f"{path}: model_type is {found!r}, not {MODEL_TYPE!r}")
    known = {f.name for f in fields(MotionStrokesConfig)}
    try:
        return MotionStrokesConfig(**{k: int(v) for k, v in data.items() if k in known}).check()
    except (TypeError, ValueError, InvalidInput) as exc:
        raise ModelUnavailable(f"{path}: {exc}") from None


def load(folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    """The model of a weights folder on `device`, read-only (eval, no gradients): safetensors only.
    dtype: float32 on the CPU; on CUDA the caller's (float16 or bfloat16 run it too)."""
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelUnavailable(f"{weights} is missing (safetensors only: a .bin or .pt is not loaded)")
    model = build(config)
    try:
        model.load_state_dict(load_file(str(weights)))
    except (RuntimeError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0]
        raise ModelUnavailable(f"{weights} does not fit its config.json: {detail}") from None
    device = torch.device(device)
    dtype = dtype or torch.float32
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


# -- an artist's canvas <-> the model's window -------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A square of the canvas, `side` px from (x0, y0), seen by the model at `size` px."""

    x0: float
    y0: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    def to_window(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) - (self.x0, self.y0)) * self.scale

    @classmethod
    def around(cls, box: tuple[float, float, float, float], keypoints: np.ndarray, size: int) -> "Window":
        """The window holding the subject's ink box (x0, y0, x1, y1) at every keypoint (its centre
        moved there), the subject at most SUBJECT_FRACTION of it."""
        x0, y0, x1, y1 = box
        half = np.array([x1 - x0, y1 - y0]) / 2
        lo = (keypoints - half).min(axis=0)
        hi = (keypoints + half).max(axis=0)
        side = max(float((hi - lo).max()) * WINDOW_MARGIN, float(2 * half.max()) / SUBJECT_FRACTION, 8.0)
        centre = (lo + hi) / 2
        return cls(float(centre[0] - side / 2), float(centre[1] - side / 2), side, size)


def ink_box(ink: np.ndarray, level: float = 0.1) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) of the pixels holding more than `level` ink, or None."""
    ys, xs = np.nonzero(ink > level)
    if len(xs) == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _sample(image: torch.Tensor, matrix: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """image [B, 1, h, w] resampled to `size` (H, W) through the affine map `matrix` (2 x 3) from
    output px to input px, bilinear, zero outside; shrinking more than 2x is prefiltered."""
    import torch
    import torch.nn.functional as F

    height, width = size
    in_h, in_w = image.shape[-2:]
    shrink = float(np.hypot(*matrix[:, 0]))  # input px per output px
    if shrink > 2.0:  # blur first so thin lines do not alias away
        factor = int(shrink // 1.5)
        image = F.avg_pool2d(image, factor, factor, ceil_mode=True)
        matrix = matrix / factor
        in_h, in_w = image.shape[-2:]
    # px coordinates c (pixel i covers [i, i + 1)) <-> grid_sample's u = 2 c / W - 1 (align_corners=False)
    to_out = np.array([[width / 2, 0, width / 2], [0, height / 2, height / 2], [0, 0, 1]])
    to_in = np.array([[2 / in_w, 0, -1], [0, 2 / in_h, -1], [0, 0, 1]])
    full = to_in @ np.vstack([matrix, [0, 0, 1]]) @ to_out
    theta = torch.tensor(full[:2], dtype=image.dtype, device=image.device)[None].expand(image.shape[0], -1, -1)
    grid = F.affine_grid(theta, [image.shape[0], 1, height, width], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def subject_keypoints(path: np.ndarray, anchor: np.ndarray, frames: int, easing: str, timing: str) -> np.ndarray:
    """Where the subject's ink centre is at each frame, [frames, 2]: the path's points at the frames'
    times (`path_follow.keypoints`, the vector engine's easing and timing), shifted so the first is
    the subject's centre, the shift closing as the subject travels (the vector engine's rule: the
    last is the path's end)."""
    from inkmotion.pipelines.path_follow import keypoints
    from inkmotion.strokes.geometry import cumulative_length

    points = keypoints(path, frames, easing, timing)
    travelled = cumulative_length(points)
    share = travelled / travelled[-1] if travelled[-1] > 1e-9 else np.linspace(0.0, 1.0, frames)
    return points + (1.0 - share)[:, None] * (np.asarray(anchor, np.float64) - points[0])


def animate(model, raster: Raster, path: np.ndarray, frames: int, *, easing: str = "ease-in-out",
            timing: str = "even", on_progress: ProgressCallback = no_progress) -> list[Raster]:
    """The subject (`raster`, line art) travelling `path` over `frames` frames, frame 0 the input.

    Each step is one predictor step on the model's device; `on_progress` may raise Cancelled."""
    import torch

    from inkmotion.strokes.lineart import ink_darkness, paint_ink, paper_and_ink_colour

    ink = ink_darkness(raster)
    box = ink_box(ink)
    if box is None:
        raise InvalidInput("path_motion.raster", "has no ink: nothing to move")
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    keys = subject_keypoints(path, centre, frames, easing, timing)
    size = model.config.size
    window = Window.around(box, keys, size)
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype

    canvas = torch.from_numpy(ink).to(device=device, dtype=torch.float32)[None, None]
    # output px -> input px: x_canvas = x0 + x_window / scale
    into = np.array([[1 / window.scale, 0, window.x0], [0, 1 / window.scale, window.y0]])
    first = _sample(canvas, into, (size, size))
    keypoints = torch.from_numpy(window.to_window(keys)).to(device=device, dtype=torch.float32)[None]
    total = frames - 1

    def step(t: int) -> None:
        on_progress(Progress(t, total, f"frame {t + 1} of {frames}"))

    with torch.inference_mode():
        predicted = model.rollout(first.to(dtype), keypoints.to(dtype), on_step=step)[0, 1:].float()
        change = predicted - rigid_shift(first, keypoints)[0, 1:]  # what the model moves beyond the carry
        back = np.array([[window.scale, 0, -window.x0 * window.scale], [0, window.scale, -window.y0 * window.scale]])
        shifts = torch.from_numpy(keys - keys[0]).to(device=device, dtype=torch.float32)
        out = []
        for t in range(total):  # one canvas-sized frame at a time: the carry at full resolution + the change
            moved = shifted(canvas, shifts[t + 1 : t + 2]) + _sample(change[t : t + 1], back, ink.shape)
            out.append(moved.clamp(0.0, 1.0)[0, 0].cpu().numpy())
    paper, colour = paper_and_ink_colour(raster, ink)
    return [raster] + [paint_ink(frame, paper, colour) for frame in out]

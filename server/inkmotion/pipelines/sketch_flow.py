"""sketch-flow: two line-art keys -> the frames between them, by learned bidirectional flows.

Stage II of the two-sketch Sketch-to-Video paper (two rough sketches -> a video: FRP, then TMP / FB /
OFM; ../shared/papers/two-sketch-inbetweening.txt, Sec. 3.3-3.5), for line art. Its Stage I (face-part retrieval into a portrait) is specific to faces;
here the features f_s, f_e of the two keys are learned from the sketches themselves (`KeyEncoder`).

- Temporal motion projection (TMP, Eq. 2): a cVAE encoder over the training clip v and the keys
  s_s, s_e gives the mean and log-variance of a motion variable f_m (MLPs); KL to N(0, 1). At test
  time f_m = z ~ N(0, 1): a seed picks z, several seeds give alternatives.
- Feature blending (FB, Eq. 3): a decoder fuses f_s, f_m and f_e (the deepest features, then f_s
  and f_e at every scale on the way up) into, for each frame t, the bidirectional flows of the
  start and end keys o_sf, o_sb, o_ef, o_eb, their masks m_sf, m_sb, m_ef, m_eb, and the
  visibility mask m_v. Our adaptation: the decoder runs once per frame with t in [0, 1] as an
  input, so one model serves any frame count (the paper decodes a fixed-length sequence).
- Optical flow merging (OFM, Eq. 4), by backward warping W: frame t = W(s_s, o_sb[t]) (1 - m_v[t])
  + W(s_e, o_eb[t]) m_v[t]. The flows' directions follow Eq. 8: W(v[t], o_sf[t]) is frame t seen
  from the start key, W(v[0], o_sb[t]) the start key carried to frame t (and likewise from the end).

Losses (Sec. 3.4-3.5): L_pix (Eq. 6), L_osc (Eq. 7), L_bfr (Eq. 8), L_sm (Eq. 5) and the KL of the TMP.
Images here are ink coverage in [0, 1] (1 = ink), [B, 1, H, W]; flows are in pixels, [B, 2, H, W]
(x then y).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from inkmotion.codec.drawing import Raster
from inkmotion.pipelines.base import Progress, ProgressCallback, no_progress

MODEL_TYPE = "sketch-flow"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


@dataclass(frozen=True)
class SketchFlowConfig:
    size: int = 128  # the working resolution (keys are scaled to it; flows scaled back up)
    channels: int = 24  # at the finest scale; doubled at each of the `levels` downsamplings
    levels: int = 3
    motion_dim: int = 32  # f_m
    # Loss weights (not in the paper, which gives none): pixel, flow smoothness, bidirectional
    # reconstruction, smooth motion, KL.
    w_pix: float = 1.0
    w_osc: float = 0.01
    w_bfr: float = 0.5
    w_sm: float = 0.02
    w_kl: float = 0.001
    w_mask: float = 0.01  # keeps Eq. 8's masks open where the keys do reconstruct (else they close to 0)
    # L_pix is also taken on the frames blurred by these Gaussian sigmas (px at the working size):
    # thin lines make plain L1 reward erasing a moving line over placing it a little off.
    pix_blurs: tuple[float, ...] = (1.5, 3.0, 6.0)
    # What the learned flows are added to: "dissolve", none (a new model is the cross-dissolve);
    # "global", the keys' one affine motion found by ECC (a new model is that global warp); or
    # "flow", that affine motion and a dense residual flow found by Farneback's method on the
    # blurred, aligned keys (a new model is that classical dense-flow warp).
    base: str = "dissolve"


# -- warping (W) and merging (Eq. 4) ---------------------------------------------------------------

def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping W(image, flow): out(x) = image(x + flow(x)), bilinear, zeros outside.
    `image` [B, C, H, W], `flow` [B, 2, H, W] in pixels."""
    _, _, height, width = image.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=flow.dtype, device=flow.device),
                            torch.arange(width, dtype=flow.dtype, device=flow.device), indexing="ij")
    x = (xs + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    y = (ys + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    return F.grid_sample(image, torch.stack([x, y], dim=-1), mode="bilinear", padding_mode="zeros", align_corners=True)


def merge(start: torch.Tensor, end: torch.Tensor, o_sb: torch.Tensor, o_eb: torch.Tensor, m_v: torch.Tensor) -> torch.Tensor:
    """Eq. (4): the frame from both keys carried to it, weighted by the visibility mask m_v."""
    return warp(start, o_sb) * (1 - m_v) + warp(end, o_eb) * m_v


# -- the keys' global motion (the "global" base) ------------------------------------------------

def ink_centre(ink: np.ndarray) -> np.ndarray:
    """The ink-weighted centre (x, y) of [H, W] ink; the image's centre when it is blank."""
    total = float(ink.sum())
    if total <= 1e-6:
        return np.array([ink.shape[1] / 2, ink.shape[0] / 2])
    ys, xs = np.mgrid[0:ink.shape[0], 0:ink.shape[1]]
    return np.array([(xs * ink).sum() / total, (ys * ink).sum() / total])


def global_motion(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The affine motion A (3 x 3, start px -> end px) of the whole drawing, by OpenCV's ECC
    (findTransformECC, MOTION_AFFINE) on blurred ink, coarse to fine (1/4, 1/2, 1), started from
    the ink centres' shift turned by -30, -15, 0, 15 and 30 degrees (the best correlation at the
    coarsest level goes on); the centres' shift where ECC finds nothing."""
    import cv2

    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    if start.sum() <= 1e-6 or end.sum() <= 1e-6:
        return np.eye(3)
    cs, ce = ink_centre(start), ink_centre(end)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)

    def level(ink, k):
        small = ink if k == 1 else cv2.resize(ink, (max(8, ink.shape[1] // k), max(8, ink.shape[0] // k)),
                                             interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (0, 0), max(1.0, 0.02 * max(small.shape))), ink.shape[1] / small.shape[1]

    def ecc(template, image, w):
        try:
            cc, found = cv2.findTransformECC(template, image, w.astype(np.float32), cv2.MOTION_AFFINE, criteria, None, 5)
            return float(cc), found.astype(np.float64)
        except cv2.error:
            return -np.inf, w

    def scaled(w, f):  # W in full-size px <-> at a level f times smaller
        return np.hstack([w[:, :2], w[:, 2:] * f])

    # W maps end px to start px (ECC's template(x) ~ image(W x)).
    def turned(degrees):
        c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
        r = np.array([[c, -s], [s, c]])
        return np.hstack([r, (cs - r @ ce)[:, None]])

    t_img, f = level(end, 4)
    i_img, _ = level(start, 4)
    best_cc, w = -np.inf, turned(0.0)
    for degrees in (-30, -15, 0, 15, 30):
        cc, found = ecc(t_img, i_img, scaled(turned(degrees), 1 / f))
        if cc > best_cc:
            best_cc, w = cc, scaled(found, f)
    if np.isfinite(best_cc):
        for k in (2, 1):
            t_img, f = level(end, k)
            i_img, _ = level(start, k)
            cc, found = ecc(t_img, i_img, scaled(w, 1 / f))
            if np.isfinite(cc):
                w = scaled(found, f)
    return np.linalg.inv(np.vstack([w, [0.0, 0.0, 1.0]]))


def motion_fraction(a: np.ndarray, t: float, centre: np.ndarray) -> np.ndarray:
    """The fraction t of the affine motion `a` (3 x 3) about `centre`: the centre moves on the
    straight line, the linear part L = R S (polar decomposition) goes as R(t angle) S^t."""
    lin = a[:2, :2]
    u, sv, vt = np.linalg.svd(lin)
    rot = u @ vt
    if np.linalg.det(rot) < 0 or sv.min() <= 1e-9:  # a mirror or a collapse: blend the matrix instead
        lin_t = (1 - t) * np.eye(2) + t * lin
    else:
        angle = np.arctan2(rot[1, 0], rot[0, 0])
        c, s = np.cos(t * angle), np.sin(t * angle)
        lin_t = np.array([[c, -s], [s, c]]) @ (vt.T @ np.diag(sv ** t) @ vt)
    out = np.eye(3)
    out[:2, :2] = lin_t
    out[:2, 2] = centre + t * (lin @ centre + a[:2, 2] - centre) - lin_t @ centre
    return out


def _affine_flow(matrices: np.ndarray, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """The flows [B, 2, H, W] of affine maps [B, 3, 3]: M x - x at every pixel x."""
    m = torch.as_tensor(matrices[:, :2], dtype=like.dtype, device=like.device)
    ys, xs = torch.meshgrid(torch.arange(height, dtype=like.dtype, device=like.device),
                            torch.arange(width, dtype=like.dtype, device=like.device), indexing="ij")
    grid = torch.stack([xs, ys, torch.ones_like(xs)])  # [3, H, W]
    return torch.einsum("bij,jhw->bihw", m, grid) - grid[:2]


def residual_flow(start: np.ndarray, end: np.ndarray, a: np.ndarray) -> np.ndarray:
    """What the affine motion `a` leaves: the dense flow g [H, W, 2] (px) with end(y) ~ S'(y + g(y)),
    S' the start key carried by `a` onto the end's frame. Farneback's polynomial-expansion flow
    (cv2.calcOpticalFlowFarneback), coarse to fine on the keys' ink blurred by sigmas of 4, 2 and 1
    % of the longer side (thin lines have no texture at their own width); zero on blank keys."""
    import cv2

    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    h, w = start.shape
    g = np.zeros((h, w, 2), np.float32)
    if start.sum() <= 1e-6 or end.sum() <= 1e-6:
        return g
    aligned = cv2.warpAffine(start, a[:2].astype(np.float32), (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)

    def grey(ink, sigma):
        b = cv2.GaussianBlur(ink, (0, 0), sigma)
        return np.clip(255 * b / max(float(b.max()), 1e-6), 0, 255).astype(np.uint8)

    side = max(h, w)
    for sigma in (0.04 * side, 0.02 * side, 0.01 * side):
        sigma = max(sigma, 0.75)
        g = cv2.calcOpticalFlowFarneback(grey(end, sigma), grey(aligned, sigma), g, 0.5, 3, 21, 5, 5, 1.1,
                                         cv2.OPTFLOW_USE_INITIAL_FLOW)
    return g


def _apply(m: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Affine maps m [B, 3, 3] applied to points [B, 2, H, W]."""
    return torch.einsum("bij,bjhw->bihw", m[:, :2, :2], points) + m[:, :2, 2, None, None]


def base_flows(motions: list[tuple], t: torch.Tensor, height: int, width: int, like: torch.Tensor) -> dict:
    """The base's four flows at times `t` [B], for each sample's (A, centre) or (A, centre, g):
    the start key carried to frame t by A_t (A's fraction t) and the end key by A_t A^-1, and back
    (the "global" base); with a residual g (the "flow" base, see `residual_flow`), frame t's pixel
    x sits at y = A A_t^-1 x in the end's frame, where the residual has gone the fraction t: the
    start key is read at A^-1 (y + t g(y)) and the end key at y - (1 - t) g(y) (o_sb, o_eb; the
    forward flows o_sf, o_ef stay affine, Eq. 8's masks take the rest)."""
    dtype, device = like.dtype, like.device
    sb, eb, sf, ef, to_end, inverse = [], [], [], [], [], []
    for (a, centre, *_), time in zip(motions, t.tolist()):
        a_t = motion_fraction(a, time, centre)
        back, inv = np.linalg.inv(a_t), np.linalg.inv(a)
        sb.append(back), eb.append(a @ back), sf.append(a_t), ef.append(a_t @ inv)
    flows = {name: _affine_flow(np.stack(m), height, width, like)
             for name, m in (("o_sb", sb), ("o_eb", eb), ("o_sf", sf), ("o_ef", ef))}
    if len(motions[0]) < 3:
        return flows
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                            torch.arange(width, dtype=dtype, device=device), indexing="ij")
    grid = torch.stack([xs, ys])[None]
    g = torch.stack([torch.as_tensor(m[2], dtype=dtype, device=device).permute(2, 0, 1) for m in motions])
    y = grid + flows["o_eb"]  # A A_t^-1 x
    g_y = warp(g, flows["o_eb"])  # g at y
    w = t.to(dtype)[:, None, None, None]
    a_inv = torch.as_tensor(np.stack([np.linalg.inv(m[0]) for m in motions]), dtype=dtype, device=device)
    flows["o_sb"] = _apply(a_inv, y + w * g_y) - grid
    flows["o_eb"] = y - (1 - w) * g_y - grid
    return flows


# -- the networks --------------------------------------------------------------------------------

def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


class KeyEncoder(nn.Module):
    """A key's features at every scale (f_s or f_e: the same weights for both keys)."""

    def __init__(self, config: SketchFlowConfig):
        super().__init__()
        widths = [config.channels * 2**i for i in range(config.levels + 1)]
        self.stem = _block(1, widths[0])
        self.down = nn.ModuleList(_block(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, key: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(key)]
        for layer in self.down:
            features.append(layer(features[-1]))
        return features  # finest first


class MotionEncoder(nn.Module):
    """TMP, Eq. (2): the clip v with the keys s_s, s_e -> (mean, log-variance) of f_m."""

    def __init__(self, config: SketchFlowConfig):
        super().__init__()
        width = config.channels * 2**config.levels
        layers, cin = [], 3
        for i in range(config.levels + 1):
            cout = config.channels * 2**i
            layers.append(_block(cin, cout, stride=2))
            cin = cout
        self.conv = nn.Sequential(*layers)
        self.mean = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, config.motion_dim))
        self.log_var = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, config.motion_dim))

    def forward(self, clip: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`clip` [B, T, H, W]; each frame with both keys, pooled over frames and space."""
        b, t, h, w = clip.shape
        frames = torch.stack([clip, start.expand(b, t, h, w), end.expand(b, t, h, w)], dim=2).reshape(b * t, 3, h, w)
        pooled = self.conv(frames).mean(dim=(2, 3)).reshape(b, t, -1).mean(dim=1)
        return self.mean(pooled), self.log_var(pooled)


class FlowDecoder(nn.Module):
    """FB, Eq. (3): (f_s, f_m, f_e, t) -> o_sf, o_sb, o_ef, o_eb, m_sf, m_sb, m_ef, m_eb, m_v."""

    OUTPUTS = 4 * 2 + 5  # four flows (x, y) and five masks

    def __init__(self, config: SketchFlowConfig):
        super().__init__()
        widths = [config.channels * 2**i for i in range(config.levels + 1)]
        self.motion = nn.Linear(config.motion_dim + 1, widths[-1])  # f_m and the frame's time t
        self.bottom = _block(3 * widths[-1], widths[-1])
        self.up = nn.ModuleList(_block(widths[i + 1] + 2 * widths[i], widths[i]) for i in reversed(range(config.levels)))
        self.head = nn.Conv2d(widths[0], self.OUTPUTS, 3, 1, 1)
        nn.init.zeros_(self.head.weight)  # a new model starts at zero flow and even masks
        nn.init.zeros_(self.head.bias)

    def forward(self, f_s: list[torch.Tensor], f_e: list[torch.Tensor], f_m: torch.Tensor, t: torch.Tensor) -> dict:
        deepest = f_s[-1]
        motion = self.motion(torch.cat([f_m, t[:, None]], dim=1))[:, :, None, None].expand_as(deepest)
        x = self.bottom(torch.cat([deepest, motion, f_e[-1]], dim=1))
        for level, layer in zip(reversed(range(len(self.up))), self.up):
            x = F.interpolate(x, size=f_s[level].shape[-2:], mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, f_s[level], f_e[level]], dim=1))
        out = self.head(x)
        names = ("o_sf", "o_sb", "o_ef", "o_eb")
        result = {name: out[:, 2 * i:2 * i + 2] for i, name in enumerate(names)}
        masks = torch.sigmoid(out[:, 8:12])
        result.update({name: masks[:, i:i + 1] for i, name in enumerate(("m_sf", "m_sb", "m_ef", "m_eb"))})
        result["m_v_logit"] = out[:, 12:13]  # SketchFlow.frame adds logit(t)
        return result


class SketchFlow(nn.Module):
    def __init__(self, config: SketchFlowConfig = SketchFlowConfig()):
        super().__init__()
        self.config = config
        self.keys = KeyEncoder(config)
        self.tmp = MotionEncoder(config)
        self.fb = FlowDecoder(config)

    def motions(self, start: torch.Tensor, end: torch.Tensor) -> list | None:
        """Each sample's (A, ink centre of its start key) for the "global" base, and its residual
        flow g beside them for the "flow" base; None for the cross-dissolve."""
        if self.config.base not in ("global", "flow"):
            return None
        out = []
        for s, e in zip(start[:, 0].float().cpu().numpy(), end[:, 0].float().cpu().numpy()):
            a = global_motion(s, e)
            out.append((a, ink_centre(s)) if self.config.base == "global" else (a, ink_centre(s), residual_flow(s, e, a)))
        return out

    def frame(self, start, end, f_s, f_e, f_m, t: torch.Tensor, motions: list | None = None) -> tuple[torch.Tensor, dict]:
        """Frame at times `t` [B] in [0, 1] (Eqs. 3-4); the FB outputs beside it.

        Our parameterisation (not the paper's): each key's flows are scaled by the frame's
        distance from that key, and m_v = sigmoid(its logit + logit(t)). So a key comes back at
        its own time, and a new model (the decoder's last layer starts at zero) is exactly the
        cross-dissolve (1 - t) s_s + t s_e: training learns the motion on top of that baseline.

        With a base (`motions`, see `base_flows`), f_s and f_e are the features of the two keys
        carried to frame t by the base's flows (the `f_s`, `f_e` given are not used): the decoder
        sees them aligned, so what it adds is local (the rest of a limb's swing, what the base
        tore), and a new model is the base's own warp."""
        base = None
        if motions is not None:
            base = base_flows(motions, t, *start.shape[-2:], start)
            f_s, f_e = self.encode(warp(start, base["o_sb"]), warp(end, base["o_eb"]))
        out = self.fb(f_s, f_e, f_m, t)
        w = t.clamp(1e-6, 1 - 1e-6)[:, None, None, None]
        out["o_sb"], out["o_sf"] = out["o_sb"] * w, out["o_sf"] * w
        out["o_eb"], out["o_ef"] = out["o_eb"] * (1 - w), out["o_ef"] * (1 - w)
        if base is not None:  # the learned flows on top of the base's
            for name, flow in base.items():
                out[name], out["base_" + name] = out[name] + flow, flow
        out["m_v"] = torch.sigmoid(out.pop("m_v_logit") + torch.log(w) - torch.log1p(-w))
        frame = merge(start, end, out["o_sb"], out["o_eb"], out["m_v"])
        return frame, out

    def encode(self, start: torch.Tensor, end: torch.Tensor):
        return self.keys(start), self.keys(end)


# -- losses -----------------------------------------------------------------------------------------

def gradient_l1(flow: torch.Tensor) -> torch.Tensor:
    """Eq. (7)'s L1(grad o): the mean absolute difference of neighbouring flow vectors."""
    return (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean() + (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean()


def smooth_motion(flows: torch.Tensor) -> torch.Tensor:
    """Eq. (5): |o_xf - F_li(o_xf[0], o_xf[N])| over a frame sequence [T, 2, H, W] (T >= 2): zero
    when the flows change linearly from the first frame to the last."""
    t = torch.linspace(0, 1, flows.shape[0], device=flows.device, dtype=flows.dtype)[:, None, None, None]
    linear = flows[:1] * (1 - t) + flows[-1:] * t
    return (flows - linear).abs().mean()


def bidirectional_reconstruction(key: torch.Tensor, frames: torch.Tensor, forward: torch.Tensor,
                                 backward: torch.Tensor, m_forward: torch.Tensor, m_backward: torch.Tensor) -> torch.Tensor:
    """Eq. (8) for one key: m_f |key - W(v[t], o_f[t])| + m_b |v[t] - W(key, o_b[t])| over the frames."""
    keys = key.expand_as(frames)
    return ((m_forward * (keys - warp(frames, forward)).abs()).mean()
            + (m_backward * (frames - warp(keys, backward)).abs()).mean())


def blurred(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """`image` [B, 1, H, W] under a Gaussian of `sigma` px (separable, zeros outside)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    image = F.conv2d(image, kernel.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(image, kernel.view(1, 1, -1, 1), padding=(radius, 0))


def pixel_loss(frame: torch.Tensor, target: torch.Tensor, blurs: tuple[float, ...] = ()) -> torch.Tensor:
    """Eq. (6)'s L1 of a frame to the true one, and (our addition for line art) the same on both
    blurred by each sigma in `blurs`, averaged: an erased line costs its whole ink at every scale,
    one drawn a little off costs less at the coarse ones, so the flows learn to carry lines."""
    loss = F.l1_loss(frame, target)
    for sigma in blurs:
        loss = loss + F.l1_loss(blurred(frame, sigma), blurred(target, sigma))
    return loss / (1 + len(blurs))


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)), per sample, averaged."""
    return (-0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(dim=1)).mean()


def training_loss(model: SketchFlow, clip: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """The Stage-II objective on clips [B, T, H, W] (ink in [0, 1], T >= 3): keys are the first and
    last frames, every frame between them reconstructed (L_pix, Eq. 6) from f_m drawn from the TMP
    (Eq. 2, reparameterised), plus L_osc (7), L_bfr (8), L_sm (5) and the KL. Returns (loss, parts)."""
    c = model.config
    b, frames, h, w = clip.shape
    start, end = clip[:, :1], clip[:, -1:]
    mean, log_var = model.tmp(clip, start, end)
    noise = torch.randn(mean.shape, generator=generator).to(mean)
    f_m = mean + noise * (0.5 * log_var).exp()
    motions = model.motions(start, end)
    f_s, f_e = (None, None) if motions is not None else model.encode(start, end)
    parts = {"pix": 0.0, "osc": 0.0, "bfr": 0.0, "mask": 0.0}
    flows_sf, flows_ef = [], []
    for i in range(frames):
        t = torch.full((b,), i / (frames - 1), device=clip.device)
        frame, out = model.frame(start, end, f_s, f_e, f_m, t, motions)
        target = clip[:, i:i + 1]
        parts["pix"] = parts["pix"] + pixel_loss(frame, target, c.pix_blurs) / frames
        # L_osc and L_sm on what the model adds: a base is given, not learned.
        learned = {k: out[k] - out["base_" + k] if "base_" + k in out else out[k] for k in ("o_sf", "o_sb", "o_ef", "o_eb")}
        parts["osc"] = parts["osc"] + sum(gradient_l1(v) for v in learned.values()) / frames
        parts["bfr"] = parts["bfr"] + (bidirectional_reconstruction(start, target, out["o_sf"], out["o_sb"], out["m_sf"], out["m_sb"])
                                       + bidirectional_reconstruction(end, target, out["o_ef"], out["o_eb"], out["m_ef"], out["m_eb"])) / frames
        parts["mask"] = parts["mask"] + sum((1 - out[k]).mean() for k in ("m_sf", "m_sb", "m_ef", "m_eb")) / (4 * frames)
        flows_sf.append(learned["o_sf"])
        flows_ef.append(learned["o_ef"])
    parts["sm"] = sum(smooth_motion(torch.stack(flows, dim=1)[j]) for flows in (flows_sf, flows_ef) for j in range(b)) / b
    parts["kl"] = kl_divergence(mean, log_var)
    loss = (c.w_pix * parts["pix"] + c.w_osc * parts["osc"] + c.w_bfr * parts["bfr"] + c.w_sm * parts["sm"]
            + c.w_kl * parts["kl"] + c.w_mask * parts["mask"])
    return loss, {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in parts.items()}


# -- inference --------------------------------------------------------------------------------------

def _to_working(key: torch.Tensor, size: int) -> torch.Tensor:
    """A key [B, 1, H, W] at the network's working size: its longer side scaled to `size` (area
    averaging, so thin lines stay ink rather than vanish), padded with paper to size x size."""
    height, width = key.shape[-2:]
    scale = size / max(height, width)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    small = key if (h, w) == (height, width) else F.interpolate(key, size=(h, w), mode="area")
    return F.pad(small, (0, size - w, 0, size - h))


def _to_canvas(field: torch.Tensor, height: int, width: int, size: int, flow: bool) -> torch.Tensor:
    """A working-size field [B, C, size, size] back on the H x W canvas: the padding cut off,
    bilinear up, and (for flows, in pixels) x and y scaled by the canvas's own factors."""
    scale = size / max(height, width)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    out = F.interpolate(field[..., :h, :w], size=(height, width), mode="bilinear", align_corners=False)
    if flow:
        out = out * torch.tensor([width / w, height / h], dtype=out.dtype, device=out.device)[None, :, None, None]
    return out


@torch.no_grad()
def inbetween(model: SketchFlow, start: torch.Tensor, end: torch.Tensor, times: list[float], seed: int = 0,
              on_frame=None) -> list[torch.Tensor]:
    """The frames at `times` (0..1) between two keys [1, 1, H, W] (ink in [0, 1]), f_m = z ~ N(0, 1)
    drawn from `seed`. t = 0 and 1 give the keys back.

    Any canvas: the networks see the keys at their working size (`config.size`, the longer side
    scaled to it), and the flows and the visibility mask they give are scaled back up to the canvas,
    where Eq. (4) warps the keys at their own resolution: lines stay as sharp as drawn.
    `on_frame(i)` is called after each frame (it may raise to stop)."""
    model.eval()
    size = model.config.size
    height, width = start.shape[-2:]
    native = (height, width) == (size, size)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((1, model.config.motion_dim), generator=generator).to(start)
    small_s, small_e = (start, end) if native else (_to_working(start, size), _to_working(end, size))
    motions = model.motions(small_s, small_e)
    f_s, f_e = (None, None) if motions is not None else model.encode(small_s, small_e)
    canvas_motions = motions if native or motions is None else model.motions(start, end)
    out = []
    for i, t in enumerate(times):
        if t <= 0:
            out.append(start.clone())
        elif t >= 1:
            out.append(end.clone())
        else:
            frame, fields = model.frame(small_s, small_e, f_s, f_e, z, torch.tensor([t], device=start.device,
                                                                                     dtype=start.dtype), motions)
            if not native:  # the learned flows scaled up, on the base found at the canvas's resolution
                time = torch.tensor([t], device=start.device, dtype=start.dtype)
                base = {} if motions is None else base_flows(canvas_motions, time, height, width, start)
                o_sb, o_eb = (_to_canvas(fields[k] - fields.get("base_" + k, 0), height, width, size, flow=True)
                              + base.get(k, 0) for k in ("o_sb", "o_eb"))
                frame = merge(start, end, o_sb, o_eb, _to_canvas(fields["m_v"], height, width, size, flow=False))
            out.append(frame.clamp(0, 1))
        if on_frame is not None:
            on_frame(i)
    return out


def animate(model: SketchFlow, start: Raster, end: Raster, frames: int, *, easing: str = "ease-in-out", seed: int = 0,
            on_progress: ProgressCallback = no_progress) -> list[Raster]:
    """`frames` rasters from the `start` key to the `end` key (line art on one canvas), both keys
    included and returned as they are; frame i at eased time ease(i / (frames - 1)) (the easings
    of inkmotion.pipelines.inbetween). The frames between are ink in the start key's colour on its
    paper (or on transparency), on its canvas; an end key of another size is read in the start
    key's pixels (cropped, or padded with paper). On the model's device and dtype; `on_progress` once per frame (it
    may raise Cancelled)."""
    from inkmotion.pipelines.inbetween import ease
    from inkmotion.strokes.lineart import ink_darkness, paint_ink, paper_and_ink_colour

    parameter = next(model.parameters())
    ink_s, ink_e = ink_darkness(start), ink_darkness(end)
    if ink_e.shape != ink_s.shape:  # read in the start key's canvas pixels, as stroke-match reads it
        canvas = np.zeros_like(ink_s)
        h, w = min(ink_s.shape[0], ink_e.shape[0]), min(ink_s.shape[1], ink_e.shape[1])
        canvas[:h, :w] = ink_e[:h, :w]
        ink_e = canvas

    def tensor(ink):
        return torch.from_numpy(ink)[None, None].to(device=parameter.device, dtype=parameter.dtype)

    times = [float(t) for t in ease(np.linspace(0.0, 1.0, frames), easing)]
    inner = times[1:-1]

    def step(i: int) -> None:
        on_progress(Progress(step=i + 2, total=frames, message=f"frame {i + 2} of {frames}"))

    on_progress(Progress(step=1, total=frames, message=f"frame 1 of {frames}"))
    made = inbetween(model, tensor(ink_s), tensor(ink_e), inner, seed=seed, on_frame=step)
    paper, colour = paper_and_ink_colour(start, ink_s)
    middle = [paint_ink(frame[0, 0].float().cpu().numpy(), paper, colour) for frame in made]
    on_progress(Progress(step=frames, total=frames, message=f"frame {frames} of {frames}"))
    return [start] + middle + [end]


# -- weights --------------------------------------------------------------------------------------

def save(model: SketchFlow, folder: str | Path, metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps({"model_type": MODEL_TYPE, **asdict(model.config), **(metadata or {})},
                                                 indent=2) + "\n")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS_FILE))
    return folder


def load(folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> SketchFlow:
    from safetensors.torch import load_file

    folder = Path(folder)
    saved = json.loads((folder / CONFIG_FILE).read_text())
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()
              if k in SketchFlowConfig.__dataclass_fields__}
    model = SketchFlow(SketchFlowConfig(**fields))
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE), device=str(device)))
    return model.to(device=device, dtype=dtype).eval()


def parameter_count(model: nn.Module) -> int:
    return sum(math.prod(p.shape) for p in model.parameters())

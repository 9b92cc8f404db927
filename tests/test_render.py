"""inkmotion.render: the differentiable rasterizer's coverage, gradients, batching and bounds."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from inkmotion import render
from inkmotion.render import rasterize, sample_bezier_path, sample_cubic

SERVER = Path(render.__file__).resolve().parents[1]


def _edge_profile(s, a, b):
    """Box-filtered coverage of a half plane at signed distance s inside a unit pixel's centre,
    for an edge whose unit normal has components of sizes a >= b (a trapezoid's CDF)."""
    inner, outer = (a - b) / 2, (a + b) / 2
    m = s.abs()
    bent = torch.where(b > 0, (outer - m).clamp(min=0) ** 2 / (2 * a * b).clamp(min=1e-30), 0.0)
    tail = torch.where(m < inner, 0.5 - m / a, bent)
    return torch.where(s >= 0, 1 - tail, tail)


def _dense_reference(pts, hw, size, op_point=None, op_stroke=None):
    """Every pixel against every segment, written the slow obvious way with autograd: [S, N, 2]."""
    height, width = size
    ys, xs = torch.meshgrid(torch.arange(height, dtype=pts.dtype) + 0.5,
                            torch.arange(width, dtype=pts.dtype) + 0.5, indexing="ij")
    p = torch.stack([xs, ys], -1)[None, None]
    a, b = pts[:, :-1, None, None], pts[:, 1:, None, None]
    u = b - a
    n = u.abs() / (u * u).sum(-1, keepdim=True).sqrt()
    big, small = n.max(-1).values, n.min(-1).values
    t = (((p - a) * u).sum(-1) / (u * u).sum(-1)).clamp(0, 1)
    c = p - a - t[..., None] * u
    d = (c * c).sum(-1).clamp_min(1e-30).sqrt()
    r = hw[:, :-1, None, None] + t * (hw[:, 1:, None, None] - hw[:, :-1, None, None])
    # The band |distance| < r through the pixel: F(r - d) - F(-r - d).
    ink = (_edge_profile(r - d, big, small) - _edge_profile(-r - d, big, small)).clamp(0, 1)
    if op_point is not None:
        ink = ink * (op_point[:, :-1, None, None] + t * (op_point[:, 1:, None, None] - op_point[:, :-1, None, None]))
    ink = ink.amax(1)
    if op_stroke is not None:
        ink = ink * op_stroke[:, None, None]
    return 1 - (1 - ink).prod(0)


def _zigzag(strokes=2, points=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(strokes, points, 2, generator=g, dtype=dtype) * 16 + 4  # inside 24 x 24
    return pts, g


# --- gradients -------------------------------------------------------------------------------


def _central_difference_check(loss, inputs, h=1e-6, rtol=1e-4, atol=1e-6):
    values = loss(*inputs)
    grads = torch.autograd.grad(values, inputs)
    for x, grad in zip(inputs, grads):
        assert torch.isfinite(grad).all()
        flat, numeric = x.detach().reshape(-1), torch.zeros(x.numel(), dtype=x.dtype)
        for i in range(x.numel()):
            args = []
            for sign in (1, -1):
                moved = flat.clone()
                moved[i] += sign * h
                args.append([moved.reshape(x.shape) if y is x else y.detach() for y in inputs])
            with torch.no_grad():
                numeric[i] = (loss(*args[0]) - loss(*args[1])) / (2 * h)
        torch.testing.assert_close(grad.reshape(-1), numeric, rtol=rtol, atol=atol)
        assert grad.abs().max() > 1e-3  # it really moves


@pytest.mark.parametrize("opacity_kind", ["none", "stroke", "point"])
def test_gradients_match_central_differences(opacity_kind):
    pts, g = _zigzag()
    # Widths and opacity vary along the strokes, so the interpolation's derivatives are checked too.
    hw = torch.rand(2, 5, generator=g, dtype=torch.float64) * 1.5 + 0.4
    opacity = {"none": None,
               "stroke": torch.rand(2, generator=g, dtype=torch.float64) * 0.7 + 0.2,
               "point": torch.rand(2, 5, generator=g, dtype=torch.float64) * 0.7 + 0.2}[opacity_kind]
    weights = torch.rand(24, 24, generator=g, dtype=torch.float64)
    inputs = [pts.requires_grad_(), hw.requires_grad_()] + ([opacity.requires_grad_()] if opacity is not None else [])

    def loss(p, w, o=None):
        return (rasterize(p, w, (24, 24), o) * weights).sum()

    _central_difference_check(loss, inputs)


def test_gradients_match_central_differences_with_corners_and_uniform_width():
    # Sharp corners make pixels whose nearest point is a shared polyline point (a tie between
    # two segments); a float width takes the constant-width path.
    pts = torch.tensor([[[4.3, 5.1], [18.7, 6.2], [6.4, 12.9], [19.2, 19.6]],
                        [[12.2, 3.7], [13.1, 20.4], [3.6, 17.3], [12.9, 11.1]]], dtype=torch.float64)
    weights = torch.rand(24, 24, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _central_difference_check(lambda p: (rasterize(p, 1.3, (24, 24)) * weights).sum(), [pts.requires_grad_()])


def test_gradient_reaches_points_of_zero_opacity():
    # Ink there is 0 (0 x coverage), yet raising the opacity would ink the pixels: the gradient
    # must still arrive (a fade-in starting from opacity 0 has to be able to move).
    pts = torch.tensor([[[6.3, 12.2], [17.9, 10.4]]], dtype=torch.float64)
    opacity = torch.tensor([[0.0, 0.8]], dtype=torch.float64, requires_grad=True)
    weights = torch.rand(24, 24, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    _central_difference_check(lambda o: (rasterize(pts, 1.7, (24, 24), o) * weights).sum(), [opacity])


def test_matches_a_dense_reference_values_and_gradients():
    pts, g = _zigzag(strokes=3, points=6, seed=1)
    hw = torch.rand(3, 6, generator=g, dtype=torch.float64) * 2 + 0.3
    op = torch.rand(3, 6, generator=g, dtype=torch.float64) * 0.8 + 0.2
    weights = torch.rand(24, 26, generator=g, dtype=torch.float64)
    for tile in (4, 8, 16):
        p, w, o = (x.clone().requires_grad_() for x in (pts, hw, op))
        ours = rasterize(p, w, (24, 26), o, tile_size=tile)
        grads = torch.autograd.grad((ours * weights).sum(), [p, w, o])
        q, v, k = (x.clone().requires_grad_() for x in (pts, hw, op))
        ref = _dense_reference(q, v, (24, 26), op_point=k)
        ref_grads = torch.autograd.grad((ref * weights).sum(), [q, v, k])
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_edge_pixels_have_gradients_not_only_a_threshold():
    pts = torch.tensor([[[10.0, 20.3], [50.0, 20.3]]], requires_grad=True)
    cov = rasterize(pts, 2.0, (40, 60))
    column = cov[:, 30]
    edge = (column > 0.01) & (column < 0.99)
    assert edge.sum() >= 2  # one ramp pixel above, one below
    top = edge.nonzero()[0, 0]  # the ramp pixel above the line: it fills as the line moves up
    grad_y = torch.autograd.grad(column[top], pts)[0][..., 1]
    assert grad_y.sum().item() == pytest.approx(-1.0, abs=1e-5)


# --- coverage --------------------------------------------------------------------------------


@pytest.mark.parametrize("angle_deg", [0.0, 90.0, 30.0, 45.0])
def test_thick_line_area_matches_analytic(angle_deg):
    hw, length = 3.0, 100.0
    direction = torch.tensor([math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))])
    centre = torch.tensor([100.3, 100.7])
    pts = torch.stack([centre - direction * length / 2, centre + direction * length / 2])[None]
    cov = rasterize(pts, hw, (200, 200))
    area = 2 * hw * length + math.pi * hw * hw
    assert abs(cov.sum().item() - area) / area < 0.003  # exact box filter: ~0.05% (caps, float32)
    assert cov.min() >= 0 and cov.max() <= 1


def test_sub_pixel_line_keeps_its_area():
    # A 0.4 px wide line: the box filter keeps its ink equal to its area, not a 1 px minimum.
    pts = torch.tensor([[[20.0, 30.5], [80.0, 30.5]]])
    cov = rasterize(pts, 0.2, (60, 100))
    assert cov[:, 30:70].sum().item() == pytest.approx(0.4 * 40, abs=1e-4)
    assert cov.max().item() == pytest.approx(0.4, abs=1e-6)


def test_close_to_a_supersampled_render():
    # The edge profile is the pixel's exact area coverage of a straight edge, so a curvy scene
    # matches the same scene drawn at 8x and averaged over 8 x 8 blocks (a 1/8 px ramp there).
    g = torch.Generator().manual_seed(14)
    start = torch.rand(4, 1, 2, generator=g) * 32 + 16
    ctrl = torch.cat([start, start + torch.randn(4, 9, 2, generator=g).cumsum(1) * 8], 1)
    pts = sample_bezier_path(ctrl, 8)
    ours = rasterize(pts, 0.75, (64, 64))
    fine = rasterize(pts * 8, 6.0, (512, 512))
    reference = torch.nn.functional.avg_pool2d(fine[None, None], 8)[0, 0]
    inked = (ours > 0) | (reference > 0)
    error = (ours - reference).abs()[inked].mean().item()
    assert error < 0.012  # 0.0075 here; a plain 1 px linear ramp gives 0.019
    assert abs(ours.sum().item() - reference.sum().item()) / reference.sum().item() < 0.01


def test_range_zero_far_away_and_one_at_the_centre():
    pts = torch.tensor([[[20.5, 30.5], [60.5, 30.5]], [[10.0, 70.0], [90.0, 55.0]]])
    cov = rasterize(pts, torch.tensor([[4.0, 4.0], [0.75, 0.75]]), (100, 100))
    assert cov.shape == (100, 100)
    assert cov.min() >= 0 and cov.max() <= 1
    assert cov[30, 40] == 1.0
    assert cov[:20].sum() == 0 and cov[85:].sum() == 0 and cov[:, 95:].sum() == 0
    assert cov[40:50, 20:60].sum() == 0  # between the two strokes


def test_joints_do_not_darken_twice():
    one = torch.tensor([[[10.2, 20.4], [70.6, 41.1]]])
    middle = one[:, :1] + 0.37 * (one[:, 1:] - one[:, :1])
    two = torch.cat([one[:, :1], middle, one[:, 1:]], 1)
    many = sample_cubic(torch.stack([one[0, 0], one[0, 0] * 0.6 + one[0, 1] * 0.4,
                                     one[0, 0] * 0.3 + one[0, 1] * 0.7, one[0, 1]])[None], 17)
    for hw in (0.75, 3.0):
        reference = rasterize(one, hw, (64, 80))
        assert (rasterize(two, hw, (64, 80)) - reference).abs().max() < 1e-4
        assert (rasterize(many, hw, (64, 80)) - reference).abs().max() < 1e-4
    # A stroke retracing itself is no darker than drawn once.
    back_and_forth = torch.cat([two, two.flip(1), two[:, 1:]], 1)  # with a repeated point, too
    assert (rasterize(back_and_forth, 0.75, (64, 80)) - rasterize(one, 0.75, (64, 80))).abs().max() < 1e-4


def test_opacity_and_compositing():
    line = torch.tensor([[[10.0, 20.5], [50.0, 20.5]]])
    cov = rasterize(line, 3.0, (40, 60), 0.5)
    assert cov[20, 30].item() == pytest.approx(0.5, abs=1e-6)
    crossing = torch.tensor([[[10.0, 20.5], [50.0, 20.5]], [[30.5, 2.0], [30.5, 38.0]]])
    a, b = 0.3, 0.6
    cov = rasterize(crossing, 3.0, (40, 60), torch.tensor([a, b]))
    assert cov[20, 30].item() == pytest.approx(1 - (1 - a) * (1 - b), abs=1e-6)
    assert cov[20, 15].item() == pytest.approx(a, abs=1e-6)
    assert cov[5, 30].item() == pytest.approx(b, abs=1e-6)
    # Per point: the opacity interpolates along the segment.
    cov = rasterize(line, 3.0, (40, 60), torch.tensor([[0.2, 1.0]]))
    assert cov[20, 30].item() == pytest.approx(0.2 + 0.8 * (30.5 - 10) / 40, abs=1e-5)


def test_per_point_widths_taper():
    line = torch.tensor([[[10.0, 30.5], [90.0, 30.5]]])
    cov = rasterize(line, torch.tensor([[0.5, 6.0]]), (60, 100))
    thickness = cov.sum(0)
    assert thickness[20] < thickness[50] < thickness[80]
    assert thickness[50].item() == pytest.approx(2 * (0.5 + 5.5 * (50.5 - 10) / 80), abs=0.1)


def test_batch_equals_frames_alone_and_shapes():
    g = torch.Generator().manual_seed(5)
    pts = torch.rand(2, 3, 4, 7, 2, generator=g) * 50
    hw = torch.rand(2, 3, 4, 7, generator=g) * 2 + 0.5
    op = torch.rand(2, 3, 4, generator=g)
    batch = rasterize(pts, hw, (48, 52), op)
    assert batch.shape == (2, 3, 48, 52)
    for i in range(2):
        for j in range(3):
            alone = rasterize(pts[i, j], hw[i, j], (48, 52), op[i, j])
            torch.testing.assert_close(batch[i, j], alone, rtol=0, atol=1e-6)
    # Broadcast widths ([S, N] for every frame) and a float opacity.
    shared = rasterize(pts[0], hw[0, 0], (48, 52), 0.7)
    torch.testing.assert_close(shared[1], rasterize(pts[0, 1], hw[0, 0], (48, 52), 0.7), rtol=0, atol=1e-6)


def test_edge_cases():
    # One point: a dot; strokes off the canvas and non-finite points draw nothing.
    dot = rasterize(torch.tensor([[[10.5, 10.5]]]), 2.0, (20, 20))
    assert dot[10, 10] == 1.0 and dot.sum().item() == pytest.approx(math.pi * 4, rel=0.05)
    off = torch.tensor([[[-50.0, -50.0], [-20.0, -30.0]], [[float("nan"), 3.0], [5.0, 5.0]]], requires_grad=True)
    cov = rasterize(off, 1.0, (20, 20))
    assert cov.sum() == 0
    cov.sum().backward()
    assert torch.isfinite(off.grad[0]).all()
    # Repeated points (zero-length segments) stay finite in gradients.
    repeated = torch.tensor([[[5.0, 5.0], [5.0, 5.0], [15.0, 12.0], [15.0, 12.0]]], requires_grad=True)
    rasterize(repeated, torch.tensor([[1.0, 2.0, 1.0, 2.0]]), (20, 20)).sum().backward()
    assert torch.isfinite(repeated.grad).all()
    with pytest.raises(ValueError, match="polylines"):
        rasterize(torch.zeros(3, 2), 1.0, (8, 8))
    with pytest.raises(ValueError, match="half_widths"):
        rasterize(torch.zeros(2, 3, 2), torch.ones(4), (8, 8))
    with pytest.raises(ValueError, match="opacity"):
        rasterize(torch.zeros(2, 3, 2), 1.0, (8, 8), torch.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="backend"):
        rasterize(torch.zeros(2, 3, 2), 1.0, (8, 8), backend="cairo")


def test_deterministic_forward_and_gradients():
    g = torch.Generator().manual_seed(7)
    ctrl = torch.rand(4, 6, 7, 2, generator=g) * 60
    hw = torch.rand(4, 6, 13, generator=g) + 0.5
    op = torch.rand(4, 6, generator=g)
    weights = torch.rand(64, 64, generator=g)

    def run():
        c, w, o = (x.clone().requires_grad_() for x in (ctrl, hw, op))
        cov = rasterize(sample_bezier_path(c, 6), w, (64, 64), o)
        grads = torch.autograd.grad((cov * weights).sum(), [c, w, o])
        return cov.detach(), grads

    first, second = run(), run()
    assert torch.equal(first[0], second[0])
    for a, b in zip(first[1], second[1]):
        assert torch.equal(a, b)


# --- curves ----------------------------------------------------------------------------------


def test_sample_cubic_endpoints_and_straight_lines():
    g = torch.Generator().manual_seed(2)
    ctrl = torch.rand(3, 4, 2, generator=g) * 100
    pts = sample_cubic(ctrl, 9)
    assert pts.shape == (3, 9, 2)
    assert torch.equal(pts[:, 0], ctrl[:, 0]) and torch.equal(pts[:, -1], ctrl[:, 3])
    a, b = torch.tensor([3.0, 4.0]), torch.tensor([50.0, 20.0])
    straight = torch.stack([a, a + 0.2 * (b - a), a + 0.9 * (b - a), b])
    line = sample_cubic(straight, 25)
    d = b - a
    cross = (line[:, 0] - a[0]) * d[1] - (line[:, 1] - a[1]) * d[0]
    assert cross.abs().max() / d.norm() < 1e-4
    # Evenly spaced control points give evenly spaced samples.
    even = sample_cubic(torch.stack([a, a + (b - a) / 3, a + 2 * (b - a) / 3, b]), 5)
    torch.testing.assert_close(even, torch.stack([a + k / 4 * (b - a) for k in range(5)]))


def test_sample_bezier_path_chains_segments():
    g = torch.Generator().manual_seed(4)
    ctrl = torch.rand(2, 10, 2, generator=g) * 100  # K = 3 cubics
    pts = sample_bezier_path(ctrl, 8)
    assert pts.shape == (2, 25, 2)
    for k in range(3):
        torch.testing.assert_close(pts[:, 8 * k:8 * k + 8], sample_cubic(ctrl[:, 3 * k:3 * k + 4], 9)[:, :8])
    assert torch.equal(pts[:, -1], ctrl[:, -1])
    assert sample_bezier_path(ctrl, 8, include_end=False).shape == (2, 24, 2)
    with pytest.raises(ValueError, match="ctrl"):
        sample_bezier_path(torch.zeros(2, 9, 2), 4)


def test_gradient_flows_from_coverage_to_cubic_control_points():
    ctrl = torch.tensor([[[8.0, 30.0], [20.0, 5.0], [40.0, 55.0], [56.0, 30.0]]], dtype=torch.float64)
    ctrl.requires_grad_()
    target = rasterize(sample_cubic(ctrl.detach() + torch.tensor([0.0, 1.5], dtype=torch.float64), 24), 1.5, (64, 64))
    loss = ((rasterize(sample_cubic(ctrl, 24), 1.5, (64, 64)) - target) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, ctrl)
    assert torch.isfinite(grad).all()
    assert grad[..., 1].sum() < -0.1  # moving down (+y) towards the target lowers the loss
    _central_difference_check(lambda c: ((rasterize(sample_cubic(c, 24), 1.5, (64, 64)) - target) ** 2).sum(),
                              [ctrl], rtol=1e-4, atol=1e-5)


# --- bounds ----------------------------------------------------------------------------------


def test_work_follows_the_strokes_not_the_canvas():
    # One short stroke on a 2048 x 2048 canvas: a handful of (segment, tile) pairs, not pixels x segments.
    pts = torch.tensor([[[1000.0, 1000.0], [1010.0, 1004.0], [1020.0, 1000.0]]])
    a, e = pts[0, :-1], pts[0, 1:]
    tiles = -(-2048 // render.DEFAULT_TILE_SIZE)
    pairs, _ = render._bin(a, e, torch.full((2,), 1.0), 2, 1, 2048, 2048, render.DEFAULT_TILE_SIZE, tiles, tiles)
    evaluated = pairs.segment.numel() * render.DEFAULT_TILE_SIZE ** 2
    assert evaluated < 1000  # pixels x segments would be 8.4 million
    cov = rasterize(pts, 1.0, (2048, 2048))
    assert cov.sum().item() == pytest.approx(2 * (2 * 10.77) + math.pi, rel=0.02)


def test_many_strokes_on_a_big_canvas_stay_small():
    # 512 strokes x 32 points on 2048 x 2048, forward + backward, in a fresh process so its peak
    # memory is its own. Pixels x segments would be 4.2M x 15.9k floats = 266 GB.
    code = textwrap.dedent("""
        import torch
        from inkmotion.render import rasterize
        def status(key):  # kB -> MB, from /proc/self/status
            line = next(l for l in open('/proc/self/status') if l.startswith(key))
            return int(line.split()[1]) / 1024
        g = torch.Generator().manual_seed(0)
        start = torch.rand(512, 1, 2, generator=g) * 1900 + 74
        pts = (start + torch.randn(512, 32, 2, generator=g).cumsum(1) * 2).requires_grad_()
        open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM) to what is resident now
        base = status('VmRSS')
        rasterize(pts, 1.0, (2048, 2048)).sum().backward()
        print(status('VmHWM') - base)
    """)
    env = dict(os.environ, PYTHONPATH=str(SERVER))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    peak_mb = float(out.stdout)
    # The coverage image alone is 16 MB (and its gradient as much again).
    assert peak_mb < 600, f"peak RSS grew by {peak_mb:.0f} MB"


# --- backends --------------------------------------------------------------------------------


@pytest.mark.skipif(render._pydiffvg_available(), reason="pydiffvg is installed here")
def test_pydiffvg_without_it_is_a_clear_import_error(monkeypatch):
    pts = torch.tensor([[[1.0, 1.0], [5.0, 5.0]]])
    with pytest.raises(ImportError, match="pydiffvg is optional"):
        rasterize(pts, 1.0, (8, 8), backend="pydiffvg")
    # The environment variable is a preference: without pydiffvg it warns and renders with torch.
    monkeypatch.setenv(render.BACKEND_ENV, "pydiffvg")
    with pytest.warns(RuntimeWarning, match="pydiffvg is not installed"):
        cov = rasterize(pts, 1.0, (8, 8))
    assert torch.equal(cov, rasterize(pts, 1.0, (8, 8), backend="torch"))


@pytest.mark.skipif(not render._pydiffvg_available(), reason="pydiffvg is not installed")
def test_pydiffvg_agrees_with_ours():
    pts = torch.tensor([[[10.0, 20.0], [40.0, 25.0], [50.0, 50.0]], [[5.0, 50.0], [30.0, 10.0], [55.0, 5.0]]])
    ours = rasterize(pts, 1.5, (64, 64), torch.tensor([1.0, 0.6]))
    theirs = rasterize(pts, 1.5, (64, 64), torch.tensor([1.0, 0.6]), backend="pydiffvg")
    assert theirs.shape == ours.shape
    assert (theirs - ours).abs().mean() < 0.02


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu_and_takes_fp16():
    g = torch.Generator().manual_seed(9)
    pts = torch.rand(3, 5, 8, 2, generator=g) * 60
    hw = torch.rand(3, 5, 8, generator=g) + 0.5
    cpu = rasterize(pts, hw, (64, 64))
    p = pts.cuda().requires_grad_()
    gpu = rasterize(p, hw.cuda(), (64, 64))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5)
    gpu.sum().backward()
    assert torch.isfinite(p.grad).all()
    half = rasterize(pts.cuda().half(), hw.cuda().half(), (64, 64))
    assert half.dtype == torch.float16
    assert (half.float().cpu() - cpu).abs().max() < 0.05

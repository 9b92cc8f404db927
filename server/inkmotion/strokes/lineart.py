"""Line art both ways: a raster sketch traced into strokes, and strokes painted back into frames.

This is how raster layers (Krita's paint layers, FlipSketch's frames) use the vector tasks:
`trace_lineart` turns ink on paper into polylines with a radius per point, `paint_lineart` turns a
drawing back into an RGBA frame with a transparent background, ready for a paint layer.
`ink_darkness` and `otsu_threshold` are the one measure of ink and the one binarisation
(FlipSketch binarises its frames with them too).

Tracing, in numbered steps (all numpy, no per-pixel Python except the walk along the skeleton):
  1. ink: darkness times alpha, over white, so black-on-transparent layers and scans both work;
     binarised at Otsu's threshold;
  2. skeleton: Zhang-Suen thinning (two sub-iterations per pass, each a 256-entry lookup on the
     8-neighbourhood code);
  3. graph: skeleton pixels linked to their 8 neighbours, diagonal links dropped where an L of
     4-links joins the same pixels (so a staircase is a chain, not a clique);
  4. polylines: walks from every end and junction pixel to the next one, then the closed loops
     left over; spurs shorter than the ink is wide are dropped (thinning leaves them at corners),
     and free ends are moved out to where the ink ends (thinning eats into them);
  5. width: the distance from each skeleton pixel to the nearest paper pixel (an exact Euclidean
     distance transform, evaluated only where it is needed), less half a pixel, is the radius;
  6. simplify: one pass of smoothing, then Ramer-Douglas-Peucker at a quarter of a pixel.

Large images are traced at `max_side` pixels on their longer side and the strokes scaled back.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from inkmotion.codec.drawing import Drawing, Raster, Stroke

MAX_SIDE = 1024  # larger sketches are traced at this size (their strokes come back at full size)
# Pixels a simplified polyline may stray from the skeleton. Line art is 2-4 px wide: each tenth of
# a pixel of drift costs a few points of overlap with the ink (0.25 keeps ~4 points per 10 px).
SIMPLIFY_TOLERANCE = 0.25
_MAX_RADIUS = 64  # pixels searched for paper around a skeleton pixel (wider ink: a blob)

# 8-neighbourhood offsets (dy, dx) in Zhang-Suen order P2..P9: N, NE, E, SE, S, SW, W, NW.
_RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


# --- 1. ink --------------------------------------------------------------------------------


def ink_darkness(raster: Raster) -> np.ndarray:
    """float32 [H, W] in [0, 1]: how much ink each pixel holds (dark and opaque is 1), for dark
    strokes on light paper or on transparency."""
    rgba = np.asarray(raster.rgba, np.float32) / 255.0
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip((1.0 - luminance) * rgba[..., 3], 0.0, 1.0)  # over white: transparent is paper


def paper_and_ink_colour(raster: Raster, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper (RGBA: transparent for a layer, the scan's paper colour for an opaque image) and
    the ink colour (RGB, the ink-weighted mean of the inked pixels)."""
    rgba = np.asarray(raster.rgba, np.float64)
    inked = ink > 0.5
    colour = (rgba[inked, :3].mean(axis=0) if inked.any() else np.zeros(3))
    paper_px = ink < 0.05
    opaque = rgba[..., 3].mean() > 250 if rgba.size else False
    if opaque and paper_px.any():
        paper = np.append(np.median(rgba[paper_px, :3], axis=0), 255.0)
    else:
        paper = np.zeros(4)
    return paper, colour


def paint_ink(ink: np.ndarray, paper: np.ndarray, colour: np.ndarray) -> Raster:
    """Ink [H, W] in [0, 1] in `colour` over `paper`: on transparency the ink is the alpha."""
    ink = np.clip(ink, 0.0, 1.0)[..., None]
    if paper[3] > 0:
        rgb = paper[:3] * (1 - ink) + colour * ink
        rgba = np.concatenate([rgb, np.full_like(ink, 255.0)], axis=-1)
    else:
        rgba = np.concatenate([np.broadcast_to(colour, ink.shape[:2] + (3,)), ink * 255.0], axis=-1)
    return Raster(np.clip(np.rint(rgba), 0, 255).astype(np.uint8))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut that maximises the between-class variance,
    over `bins` equal bins of [0, 1]; the ink is what lies above it."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    w1 = 1 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def binarize(raster: Raster, threshold: float | None = None) -> np.ndarray:
    """bool [H, W]: the ink. `threshold` on darkness in [0, 1]; None: Otsu's, but never under 0.2
    (a blank page has no two classes, and faint paper grain is not ink)."""
    darkness = ink_darkness(raster)
    if threshold is None:
        threshold = max(otsu_threshold(darkness), 0.2)
    return darkness > threshold


# --- 2. skeleton ---------------------------------------------------------------------------


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """For each 8-neighbourhood code (bit k set: neighbour P(k+2) is ink), whether Zhang-Suen's
    first and second sub-iteration delete the centre pixel."""
    codes = np.arange(256)
    p = [(codes >> k) & 1 for k in range(8)]  # P2..P9
    count = sum(p)
    transitions = sum((p[k] == 0) & (p[(k + 1) % 8] == 1) for k in range(8))
    base = (count >= 2) & (count <= 6) & (transitions == 1)
    p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
    first = base & (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
    second = base & (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
    return first.astype(bool), second.astype(bool)


_FIRST, _SECOND = _thinning_tables()


def _neighbour_codes(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W]: the 8-neighbourhood code of every pixel (outside the image is paper)."""
    padded = np.pad(image, 1).astype(np.uint8)
    h, w = image.shape
    code = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(_RING):
        code |= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << bit
    return code


def skeletonize(ink: np.ndarray) -> np.ndarray:
    """bool [H, W]: Zhang-Suen thinning of the ink to one-pixel-wide, 8-connected lines."""
    ys, xs = np.nonzero(ink)
    skeleton = np.zeros_like(ink, bool)
    if not len(ys):
        return skeleton
    # Work on the ink's bounding box (plus a pixel of paper) only.
    y0, x0 = max(ys.min() - 1, 0), max(xs.min() - 1, 0)
    y1, x1 = min(ys.max() + 2, ink.shape[0]), min(xs.max() + 2, ink.shape[1])
    image = ink[y0:y1, x0:x1].copy()
    while True:
        changed = False
        for table in (_FIRST, _SECOND):
            delete = image & table[_neighbour_codes(image)]
            if delete.any():
                image &= ~delete
                changed = True
        if not changed:
            break
    skeleton[y0:y1, x0:x1] = image
    return skeleton


# --- 3. graph and 4. polylines -------------------------------------------------------------


def _links(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skeleton pixels (flat indices, sorted) and their links as CSR arrays (offsets, neighbours)."""
    h, w = skeleton.shape
    padded = np.pad(skeleton, 1)
    ys, xs = np.nonzero(skeleton)
    pixels = ys * w + xs
    src, dst = [], []
    for dy, dx in _RING:
        linked = padded[ys + 1 + dy, xs + 1 + dx]
        if dy and dx:  # a diagonal link is redundant where an L of 4-links joins the same pixels
            linked &= ~(padded[ys + 1 + dy, xs + 1] | padded[ys + 1, xs + 1 + dx])
        src.append(np.flatnonzero(linked))
        dst.append(pixels[linked] + dy * w + dx)
    src = np.concatenate(src)
    dst = np.searchsorted(pixels, np.concatenate(dst))  # neighbour pixel -> its node number
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    offsets = np.zeros(len(pixels) + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=len(pixels)), out=offsets[1:])
    return pixels, offsets, dst


def _trace_paths(offsets: np.ndarray, neighbours: np.ndarray) -> list[list[int]]:
    """Node paths covering every link once: from ends and junctions to the next, then loops."""
    count = len(offsets) - 1
    degree = np.diff(offsets)
    adjacency = [neighbours[offsets[i] : offsets[i + 1]].tolist() for i in range(count)]
    used: set[tuple[int, int]] = set()
    paths: list[list[int]] = []

    def walk(start: int, step: int) -> list[int]:
        path, previous, current = [start, step], start, step
        used.add((start, step))
        used.add((step, start))
        while degree[current] == 2:
            a, b = adjacency[current]
            following = b if a == previous else a
            if (current, following) in used:
                break
            used.add((current, following))
            used.add((following, current))
            path.append(following)
            previous, current = current, following
        return path

    for node in np.flatnonzero(degree != 2).tolist():
        if degree[node] == 0:
            paths.append([node])  # a dot
            continue
        for step in adjacency[node]:
            if (node, step) not in used:
                paths.append(walk(node, step))
    for node in np.flatnonzero(degree == 2).tolist():  # what is left are closed loops
        step = adjacency[node][0]
        if (node, step) not in used:
            paths.append(walk(node, step))
    return paths


# --- 5. width ------------------------------------------------------------------------------


def _offsets_by_distance(radius: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    dist = np.hypot(dy, dx).ravel()
    keep = (dist > 0) & (dist <= radius)
    order = np.argsort(dist[keep], kind="stable")
    return np.stack([dy.ravel()[keep], dx.ravel()[keep]], axis=1)[order], dist[keep][order]


_OFFSETS, _DISTANCES = _offsets_by_distance(_MAX_RADIUS)


def paper_distance(ink: np.ndarray, ys: np.ndarray, xs: np.ndarray, limit: int = _MAX_RADIUS) -> np.ndarray:
    """The exact Euclidean distance transform of the paper, at the pixels (ys, xs) only: the distance
    from each to the nearest pixel that is not ink (outside the image counts as paper), up to `limit`.

    Offsets are tried nearest first, a batch of equal-ish distance at a time, for the pixels not yet
    settled: line art is a few pixels wide, so a handful of batches settles everything.
    """
    h, w = ink.shape
    result = np.full(len(ys), float(limit), np.float32)
    pending = np.arange(len(ys))
    cut = np.searchsorted(_DISTANCES, np.arange(1, limit + 1), side="right")
    start = 0
    for stop in cut:
        if not len(pending):
            break
        offsets, distances = _OFFSETS[start:stop], _DISTANCES[start:stop]
        start = stop
        if not len(offsets):
            continue
        py = ys[pending, None] + offsets[:, 0]  # [pending, offsets]
        px = xs[pending, None] + offsets[:, 1]
        outside = (py < 0) | (py >= h) | (px < 0) | (px >= w)
        paper = outside | ~ink[np.clip(py, 0, h - 1), np.clip(px, 0, w - 1)]
        hit = paper.any(axis=1)
        if hit.any():
            # Offsets are sorted by distance, so the first paper offset is the nearest.
            result[pending[hit]] = distances[np.argmax(paper[hit], axis=1)]
            pending = pending[~hit]
    return result


def _reach_ends(points: np.ndarray, radii: np.ndarray, degrees: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Move a polyline's free ends (degree 1) out to where its ink ends: thinning eats into line
    ends by about their width, and the round cap alone does not give it back at tapered tips."""
    h, w = ink.shape
    points = points.copy()
    for end, degree in ((0, degrees[0]), (-1, degrees[1])):
        if degree != 1:
            continue
        inner = points[min(3, len(points) - 1)] if end == 0 else points[max(-4, -len(points))]
        direction = points[end] - inner
        norm = float(np.hypot(*direction))
        if norm < 1e-6:
            continue
        direction /= norm
        reach = 2.0 * float(radii[end]) + 2.0
        steps = np.arange(0.5, reach + 0.5, 0.5, dtype=np.float32)
        ray = points[end] + steps[:, None] * direction
        px, py = np.floor(ray[:, 0]).astype(int), np.floor(ray[:, 1]).astype(int)
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        on_ink = inside & ink[np.clip(py, 0, h - 1), np.clip(px, 0, w - 1)]
        run = int(np.argmin(on_ink)) if not on_ink.all() else len(on_ink)  # ink straight ahead
        if run:
            ahead = float(steps[run - 1]) + 0.5 - float(radii[end])
            if ahead > 0:
                points[end] = points[end] + ahead * direction
    return points


# --- 6. simplify ---------------------------------------------------------------------------


def _smooth(points: np.ndarray, passes: int = 1) -> np.ndarray:
    """[1, 2, 1] / 4 smoothing of a polyline's inner points (ends stay put): takes the staircase
    out of skeleton lines. One pass; more drifts off the ink on thin lines."""
    pts = points.copy()
    for _ in range(passes):
        if len(pts) < 3:
            break
        pts[1:-1] = 0.25 * pts[:-2] + 0.5 * pts[1:-1] + 0.25 * pts[2:]
    return pts


def simplify(points: np.ndarray, tolerance: float = SIMPLIFY_TOLERANCE) -> np.ndarray:
    """Indices of the points Ramer-Douglas-Peucker keeps (first and last always)."""
    n = len(points)
    if n <= 2:
        return np.arange(n)
    keep = np.zeros(n, bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        chord = points[b] - points[a]
        rel = points[a + 1 : b] - points[a]
        length = float(np.hypot(*chord))
        if length > 1e-9:
            dist = np.abs(rel[:, 0] * chord[1] - rel[:, 1] * chord[0]) / length
        else:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        worst = int(np.argmax(dist))
        if dist[worst] > tolerance:
            mid = a + 1 + worst
            keep[mid] = True
            stack.append((a, mid))
            stack.append((mid, b))
    return np.flatnonzero(keep)


# --- the two directions --------------------------------------------------------------------


def trace_lineart(
    raster: Raster,
    *,
    threshold: float | None = None,
    max_side: int = MAX_SIDE,
    tolerance: float = SIMPLIFY_TOLERANCE,
    layer: str = "",
) -> Drawing:
    """Trace a raster sketch into polylines with a radius per point, on the raster's canvas.

    Strokes take the mean colour of the ink they were traced from; opacity is 1. A blank raster
    gives a drawing without strokes.
    """
    width, height = raster.width, raster.height
    scale = 1.0
    work = raster
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = Image.fromarray(np.ascontiguousarray(raster.rgba, np.uint8), "RGBA").resize(size, Image.Resampling.BOX)
        work = Raster(np.asarray(image))
    drawing = Drawing(width, height, layer=layer)

    # 1. ink, 2. skeleton
    ink = binarize(work, threshold)
    skeleton = skeletonize(ink)
    if not skeleton.any():
        return drawing

    # 3. graph, 4. polylines
    pixels, offsets, neighbours = _links(skeleton)
    w = skeleton.shape[1]
    ys, xs = pixels // w, pixels % w
    # 5. width: the radius of the ink around each skeleton pixel
    radii = np.maximum(paper_distance(ink, ys, xs) - 0.5, 0.5)
    paths = _trace_paths(offsets, neighbours)
    degree = np.diff(offsets)
    rgb = work.rgba[ys, xs, :3].astype(np.float32) / 255.0

    for path in paths:
        nodes = np.asarray(path)
        closed = len(path) > 3 and path[0] == path[-1]
        # A spur: an end that runs into a junction within the ink's own width adds nothing.
        ends = degree[nodes[[0, -1]]]
        if len(path) > 1 and ((ends == 1) & (ends[::-1] >= 3)).any() and len(path) <= 2 * radii[nodes].max():
            continue
        if closed:
            nodes = nodes[:-1]
        # Pixel centres sit at +0.5 on the canvas.
        points = np.stack([xs[nodes], ys[nodes]], axis=1).astype(np.float32) + 0.5
        r = radii[nodes]
        if not closed and len(nodes) > 1:
            points = _reach_ends(points, r, degree[nodes[[0, -1]]], ink)
        if closed:  # smooth around the loop, not across its seam
            points = _smooth(np.concatenate([points[-2:], points, points[:2]]))[2:-2]
        else:
            points = _smooth(points)
        kept = simplify(np.concatenate([points, points[:1]]) if closed else points, tolerance)
        kept = kept[kept < len(points)]
        # A kept point's radius is the widest of the pixels on the spans either side of it.
        widest = np.maximum.reduceat(r, kept)  # over [kept[i], kept[i + 1])
        r_kept = np.maximum(widest, np.concatenate([widest[:1], widest[:-1]]))
        color = np.append(rgb[nodes].mean(axis=0), 1.0).astype(np.float32)
        stroke = Stroke(
            points=points[kept] / scale,
            radii=(r_kept / scale).astype(np.float32),
            opacities=np.ones(len(kept), np.float32),
            color=color,
            cyclic=closed,
        )
        drawing.strokes.append(stroke)
    return drawing


def paint_lineart(drawing: Drawing, width: int | None = None, height: int | None = None) -> Raster:
    """Paint a drawing as a frame for a paint layer: ink on a transparent background, at
    `width` x `height` (default: the drawing's canvas; other sizes scale it by width)."""
    from inkmotion.codec.preview import render_drawing

    scale = 1.0 if width is None else width / max(drawing.width, 1)
    raster = render_drawing(drawing, scale=scale, background=(0, 0, 0, 0))
    if height is not None and raster.height != height or width is not None and raster.width != width:
        rgba = np.zeros((height or raster.height, width or raster.width, 4), np.uint8)
        h, w = min(rgba.shape[0], raster.height), min(rgba.shape[1], raster.width)
        rgba[:h, :w] = raster.rgba[:h, :w]
        raster = Raster(rgba)
    return raster


def coverage_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


"""Pictures of drawings and animations for people to look at: PNG, GIF, MP4 and frame folders.

`render_drawing` is a plain numpy/Pillow painter, not the differentiable rasterizer (that lives in
`inkmotion.render`): each stroke segment is a round-capped capsule whose radius, opacity and colour
interpolate between its two points; a pixel's coverage comes from its distance to the segment
(analytic anti-aliasing, about one pixel of ramp). Within one stroke a pixel takes the strongest
segment's ink, so overlaps do not darken, as in Grease Pencil; strokes then composite "over" one
another in order. Fills of closed strokes are Pillow polygons (4x supersampled) under their outline.

Keyframes hold until the next keyframe's frame number, as in Grease Pencil and Krita: a GIF gives
each keyframe that long a duration, an MP4 repeats it for that many frames.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster, Stroke
from inkmotion.codec.svg import read_svg, write_svg
from inkmotion.errors import InvalidInput

FILL_SUPERSAMPLE = 4  # fills are Pillow polygons, anti-aliased by supersampling
_BATCH_PIXELS = 1 << 21  # window pixels evaluated at once, to bound memory
_SMALL_WINDOW = 1024  # pixels; larger piece windows are cut to the canvas
WHITE = (255, 255, 255, 255)
_FRAME_NAME = re.compile(r"^(\d+)\.(svg|png)$", re.IGNORECASE)
OUTPUT_FORMS = "a folder (a path ending in '/'), a .gif or an .mp4 file"


# --- rendering -----------------------------------------------------------------------------


def render_drawing(
    drawing: Drawing,
    scale: float = 1.0,
    background: tuple[int, ...] = WHITE,
) -> Raster:
    """Paint a drawing at `scale` times its canvas size onto `background` (RGB or RGBA, 0-255)."""
    if not scale > 0:
        raise InvalidInput("scale", f"{scale} is not positive")
    width = max(1, round(drawing.width * scale))
    height = max(1, round(drawing.height * scale))
    # Premultiplied float canvas, channels first so that numpy works along rows.
    bg = np.asarray(tuple(background) + (255,) * (4 - len(background)), np.float32) / 255.0  # RGB: opaque
    canvas = np.empty((4, height, width), np.float32)
    canvas[:3] = (bg[:3] * bg[3])[:, None, None]
    canvas[3] = bg[3]

    ink = _Ink(drawing.strokes, scale, width, height)
    for i, stroke in enumerate(drawing.strokes):
        if stroke.cyclic and stroke.fill is not None and stroke.fill[3] > 0 and len(stroke) > 2:
            _paint_fill(canvas, stroke, scale)
        ink.paint(i, canvas)
    return Raster(_to_rgba8(canvas))


def _to_rgba8(canvas: np.ndarray) -> np.ndarray:
    """Premultiplied float [4, H, W] -> straight-alpha uint8 [H, W, 4]."""
    alpha = canvas[3]
    out = np.empty_like(canvas)
    np.divide(canvas[:3], alpha, out=out[:3], where=alpha > 0)
    out[:3][:, alpha <= 0] = 0
    out[3] = alpha
    np.clip(out, 0.0, 1.0, out=out)
    out *= 255
    out += 0.5
    return np.ascontiguousarray(out.astype(np.uint8).transpose(1, 2, 0))


def _over(canvas: np.ndarray, box, rgb: np.ndarray, alpha: np.ndarray) -> None:
    """Composite straight colour `rgb` ([3, h, w] or [3]) with `alpha` [h, w] over a canvas box."""
    x0, y0, x1, y1 = box
    region = canvas[:, y0:y1, x0:x1]
    region *= 1 - alpha
    if rgb.ndim == 1:
        rgb = rgb[:, None, None]
    region[:3] += rgb * alpha
    region[3] += alpha


def _paint_fill(canvas: np.ndarray, stroke: Stroke, scale: float) -> None:
    pts = stroke.points.astype(np.float64) * scale
    h, w = canvas.shape[1:]
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 1, (w, h))
    if x0 >= x1 or y0 >= y1:
        return
    ss = FILL_SUPERSAMPLE
    mask = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
    local = (pts - (x0, y0)) * ss - 0.5  # Pillow puts integer coordinates on pixel centres
    ImageDraw.Draw(mask).polygon([tuple(p) for p in local], fill=255)
    coverage = np.asarray(mask.resize((x1 - x0, y1 - y0), Image.Resampling.BOX), np.float32) / 255.0
    fill = np.clip(np.asarray(stroke.fill, np.float32), 0.0, 1.0)
    _over(canvas, (x0, y0, x1, y1), fill[:3], coverage * fill[3])


class _Ink:
    """The ink of every stroke of a drawing, computed at once, composited one stroke at a time.

    Each stroke is cut into pieces no longer than it is wide (3 px at least) and each piece gets the
    window of canvas pixels its ink can reach; a window pixel's ink is its coverage (distance to the
    piece against the radius interpolated where it is nearest, half a pixel of ramp) times the
    opacity interpolated there. A stroke's pixel keeps its strongest piece's ink. Working on all strokes'
    pieces together keeps the numpy calls per stroke few, which is what costs in Python.
    """

    def __init__(self, strokes: list[Stroke], scale: float, width: int, height: int):
        count = len(strokes)
        self.visible = np.zeros(count, bool)
        self.boxes = np.zeros((count, 4), np.int64)  # x0, y0, x1, y1 on the canvas
        self.offsets = np.zeros(count + 1, np.int64)  # stroke i's box pixels in `ink`
        self.tinted = np.zeros(count, bool)  # colour varies along the stroke
        self.solid = np.zeros((count, 3), np.float32)
        self.ink = np.zeros(0, np.float32)
        self.tint: np.ndarray | None = None

        # 1. All points in one array: cyclic strokes closed, a lone point doubled into a dot.
        drawn = [(i, s) for i, s in enumerate(strokes) if len(s) and np.isfinite(s.points).all()]
        if not drawn:
            return
        # A closing point for cyclic strokes, a second one for a lone point (a dot).
        extra = [(s.cyclic and len(s) > 2) or len(s) == 1 for _, s in drawn]

        def gather(values) -> np.ndarray:
            chunks = []
            for v, more in zip(values, extra):
                chunks.append(v)
                if more:
                    chunks.append(v[:1])
            return np.concatenate(chunks).astype(np.float32)

        owner = np.repeat([i for i, _ in drawn], [len(s) + more for (_, s), more in zip(drawn, extra)])
        pts = gather([s.points for _, s in drawn]) * np.float32(scale)
        radii = np.maximum(gather([s.radii for _, s in drawn]), 0.0) * np.float32(scale)
        colors = np.clip(gather([s.colors() for _, s in drawn]), 0.0, 1.0)
        alpha = np.clip(gather([s.opacities for _, s in drawn]), 0.0, 1.0) * colors[:, 3]
        rgb = colors[:, :3]

        # 2. Per stroke: its widest radius, the canvas box its ink may reach, whether colour varies.
        first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ids = owner[first]  # stroke index of each drawn stroke
        reach = np.maximum.reduceat(radii, first) + 0.5  # ink ends half a pixel past the radius
        lo = np.maximum(np.floor(np.minimum.reduceat(pts, first) - reach[:, None]).astype(np.int64), 0)
        hi = np.minimum(np.ceil(np.maximum.reduceat(pts, first) + reach[:, None]).astype(np.int64) + 1, (width, height))
        sizes = np.maximum(hi - lo, 0)
        visible = (sizes > 0).all(axis=1) & (np.maximum.reduceat(alpha, first) > 0)
        if not visible.any():
            return
        self.visible[ids] = visible
        self.boxes[ids] = np.concatenate([lo, hi], axis=1)
        areas = np.zeros(count, np.int64)
        areas[ids] = np.where(visible, sizes[:, 0] * sizes[:, 1], 0)
        self.offsets[1:] = np.cumsum(areas)
        spread = np.maximum.reduceat(rgb, first) - np.minimum.reduceat(rgb, first)
        self.tinted[ids] = spread.max(axis=1) > 1 / 512
        self.solid[ids] = rgb[first]
        self.ink = np.zeros(int(self.offsets[-1]), np.float32)

        # 3. Pieces: each segment of a visible stroke split into pieces at most `piece` long.
        rank = np.searchsorted(ids, owner)  # point -> its stroke's position in `ids`
        piece = np.maximum(3.0, 2 * (reach - 0.5))
        seg = np.flatnonzero((owner[1:] == owner[:-1]) & visible[rank[:-1]])
        splits = np.maximum(np.ceil(np.hypot(*(pts[seg + 1] - pts[seg]).T) / piece[rank[seg]]), 1).astype(np.int64)
        parent = np.repeat(seg, splits)
        step = np.arange(len(parent)) - np.repeat(np.cumsum(splits) - splits, splits)
        t0 = (step / np.repeat(splits, splits)).astype(np.float32)
        t1 = ((step + 1) / np.repeat(splits, splits)).astype(np.float32)

        def lerp(values: np.ndarray, t: np.ndarray) -> np.ndarray:
            t = t.reshape((-1,) + (1,) * (values.ndim - 1))
            return values[parent] + t * (values[parent + 1] - values[parent])

        a, b = lerp(pts, t0), lerp(pts, t1)
        ra, rb = lerp(radii, t0), lerp(radii, t1)
        alpha_a, alpha_b = lerp(alpha, t0), lerp(alpha, t1)
        of = rank[parent]  # piece -> its stroke's position in `ids`
        # Window: the pixels whose centres lie within `reach` of the piece's bounding box. Large
        # windows are cut to the stroke's box on the canvas; small ones keep their size, so that
        # few distinct sizes (numpy calls) remain, and mask what falls outside.
        near = reach[of, None]
        box = self.boxes[ids[of]]
        start = np.ceil(np.minimum(a, b) - near - 0.5).astype(np.int64)
        stop = np.floor(np.maximum(a, b) + near - 0.5).astype(np.int64) + 1
        large = (stop - start).prod(axis=1) > _SMALL_WINDOW
        start[large] = np.maximum(start[large], box[large, :2])
        stop[large] = np.minimum(stop[large], box[large, 2:])
        shape = stop - start  # [P, 2]: w, h
        on_canvas = (shape > 0).all(axis=1) & (stop > box[:, :2]).all(axis=1) & (start < box[:, 2:]).all(axis=1)
        if not on_canvas.all():
            a, b, ra, rb, alpha_a, alpha_b, start, shape, of, t0, t1, parent = (
                v[on_canvas] for v in (a, b, ra, rb, alpha_a, alpha_b, start, shape, of, t0, t1, parent)
            )
        if not len(of):
            return
        tinted = self.tinted[ids[of]]
        if tinted.any():
            rgb_a, rgb_b = lerp(rgb, t0), lerp(rgb, t1)
            tinted_ink: list[tuple[np.ndarray, ...]] = []  # where, ink, ink * red, green, blue

        # 4. Ink per window pixel, the pieces with one window shape at a time (in bounded batches).
        key = shape[:, 0] * (int(shape[:, 1].max()) + 1) + shape[:, 1]
        for group in np.split(np.argsort(key, kind="stable"), np.flatnonzero(np.diff(np.sort(key))) + 1):
            w, h = (int(v) for v in shape[group[0]])
            for sel in np.array_split(group, -(-len(group) * w * h // _BATCH_PIXELS)):
                index, value, u = self._cover(sel, w, h, a, b, ra, rb, alpha_a, alpha_b, start, ids[of[sel]])
                if tinted[sel].any():
                    # Colour varying along a stroke: per pixel the ink-weighted mean of its pieces' colours.
                    c0, dc = rgb_a[sel].T, (rgb_b[sel] - rgb_a[sel]).T  # [3, P]
                    value = value.reshape(u.shape) * tinted[sel]  # other strokes' ink does not count here
                    tinted_ink.append((index, value.ravel(), *((value * (c0[c] + u * dc[c])).ravel() for c in range(3))))
        if tinted.any():
            where, weight, *tint = (np.concatenate(parts) for parts in zip(*tinted_ink))
            n = len(self.ink)
            weight = np.maximum(np.bincount(where, weights=weight, minlength=n), 1e-12)
            self.tint = np.stack([np.bincount(where, weights=t, minlength=n) / weight for t in tint]).astype(np.float32)

    def _cover(self, sel, w, h, a, b, ra, rb, alpha_a, alpha_b, start, strokes):
        """Ink of the pieces `sel`, all with windows w x h pixels, into `self.ink` (max per pixel).

        Returns the flat ink indices, the ink, and where along its piece each pixel is nearest.
        Arrays are [h, w, pieces]: the long axis last keeps numpy's loops long; in-place
        arithmetic keeps allocations down (this is the painter's inner loop).
        """
        x0, y0, x1, y1 = self.boxes[strokes].T
        gx = start[sel, 0] + np.arange(w)[:, None]  # [w, P] pixel columns
        gy = start[sel, 1] + np.arange(h)[:, None]  # [h, P] pixel rows
        clipped = not ((gx[0] >= x0).all() and (gx[-1] < x1).all() and (gy[0] >= y0).all() and (gy[-1] < y1).all())
        if clipped:  # windows reaching past the canvas: fold those pixels in, then zero their ink
            inside = ((gy >= y0) & (gy < y1))[:, None, :] & ((gx >= x0) & (gx < x1))[None, :, :]
            gx, gy = np.clip(gx, x0, x1 - 1), np.clip(gy, y0, y1 - 1)
        index = ((gy - y0) * (x1 - x0) + self.offsets[strokes])[:, None, :] + (gx - x0)[None, :, :]

        p0, d = a[sel].T, (b[sel] - a[sel]).T  # [2, P]
        dx = (start[sel, 0] + np.arange(w)[:, None] + 0.5 - p0[0]).astype(np.float32)  # [w, P]
        dy = (start[sel, 1] + np.arange(h)[:, None] + 0.5 - p0[1]).astype(np.float32)  # [h, P]
        ux, uy = d
        u = (dy * uy)[:, None, :] + dx * ux  # [h, w, P]: projection on the piece, 0..1 along it
        u *= 1 / np.maximum(ux * ux + uy * uy, np.float32(1e-12))
        np.clip(u, 0.0, 1.0, out=u)
        ex = u * ux
        np.subtract(dx, ex, out=ex)
        ey = u * uy
        np.subtract(dy[:, None, :], ey, out=ey)
        ex *= ex
        ey *= ey
        ex += ey
        dist = np.sqrt(ex, out=ex)
        r = u * (rb[sel] - ra[sel])
        r += ra[sel]
        value = r + 0.5
        value -= dist
        np.maximum(value, 0.0, out=value)
        if min(ra[sel].min(), rb[sel].min()) < 0.5:  # under a pixel wide: fainter, not thinner
            np.minimum(value, np.minimum(2 * r, 1.0), out=value)
        else:
            np.minimum(value, 1.0, out=value)
        opacity = u * (alpha_b[sel] - alpha_a[sel])
        opacity += alpha_a[sel]
        value *= opacity
        if clipped:
            value *= inside
        index, value = index.ravel(), value.ravel()
        np.maximum.at(self.ink, index, value)
        return index, value, u

    def paint(self, i: int, canvas: np.ndarray) -> None:
        """Composite stroke i's ink "over" the canvas."""
        if not self.visible[i]:
            return
        x0, y0, x1, y1 = (int(v) for v in self.boxes[i])
        start, end = self.offsets[i], self.offsets[i + 1]
        alpha = self.ink[start:end].reshape(y1 - y0, x1 - x0)
        # A tinted stroke with no piece on the canvas has no tint (and no ink): its solid colour.
        tinted = self.tinted[i] and self.tint is not None
        rgb = self.tint[:, start:end].reshape(3, y1 - y0, x1 - x0) if tinted else self.solid[i]
        _over(canvas, (x0, y0, x1, y1), rgb, alpha)


# --- raster files --------------------------------------------------------------------------


def read_raster(path: str | Path) -> Raster:
    """Read a PNG or JPEG (any mode) as 8-bit straight-alpha RGBA, EXIF rotation applied."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise InvalidInput(str(path), "no such file") from None
    except IsADirectoryError:
        raise InvalidInput(str(path), "is a folder, not an image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(path.name, f"not a readable PNG or JPEG image ({exc})") from None
    return Raster(rgba)


def write_png(raster: Raster, path: str | Path) -> Path:
    """Write a raster as an RGBA PNG (folders made as needed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_rgba_array(raster), "RGBA").save(path, format="PNG")
    return path


def _rgba_array(raster: Raster) -> np.ndarray:
    rgba = np.asarray(raster.rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"raster: expected [H, W, 4] RGBA, got {list(rgba.shape)}")
    return np.ascontiguousarray(rgba, dtype=np.uint8)


# --- animations ----------------------------------------------------------------------------


def check_output(out: str | Path) -> str:
    """'folder', 'gif' or 'mp4' for an output path; InvalidInput for anything else. The CLI asks
    before it runs a job, so a typo does not cost a whole job."""
    text, path = str(out), Path(out)
    if text.endswith(("/", "\\")) or path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise InvalidInput("output", f"{text!r} is not {OUTPUT_FORMS}")
    return suffix[1:]


def write_animation(animation: Animation, out: str | Path) -> list[Path]:
    """Write an animation as a frame folder, a looping GIF or an H.264 MP4; returns the files written.

    `out` ending in '/' (or an existing folder): one file per keyframe named by its frame number,
    `0001.svg` for drawings, `0001.png` for rasters; other files there are left alone. `.gif` /
    `.mp4`: frames painted on white at the animation's canvas size and fps, each keyframe held
    until the next (Pillow merges identical consecutive GIF frames into one longer frame).
    """
    path = Path(out)
    if not animation.keyframes:
        raise InvalidInput("keyframes", "the animation has no keyframes to write")
    form = check_output(out)
    if form == "folder":
        return _write_folder(animation, path)
    if not animation.fps > 0:
        raise InvalidInput("fps", f"{animation.fps} is not positive")
    frames, holds = _flat_frames(animation)
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "gif":
        _write_gif(frames, holds, animation.fps, path)
    else:
        from inkmotion.codec.video import write_video

        write_video(frames, holds, animation.fps, path)
    return [path]


def _keyframes_in_order(animation: Animation) -> list[Keyframe]:
    keyframes = sorted(animation.keyframes, key=lambda k: k.frame)
    frames = [k.frame for k in keyframes]
    if frames[0] < 0:
        raise InvalidInput("keyframes", f"frame {frames[0]} is negative")
    if len(set(frames)) != len(frames):
        repeated = sorted({f for f in frames if frames.count(f) > 1})
        raise InvalidInput("keyframes", f"frame {repeated[0]} appears more than once")
    return keyframes


def _write_folder(animation: Animation, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for key in _keyframes_in_order(animation):
        if isinstance(key.content, Drawing):
            target = folder / f"{key.frame:04d}.svg"
            target.write_text(write_svg(key.content), encoding="utf-8")
        else:
            target = write_png(key.content, folder / f"{key.frame:04d}.png")
        written.append(target)
    return written


def _flat_frames(animation: Animation) -> tuple[list[np.ndarray], list[int]]:
    """Each keyframe as RGB uint8 [H, W, 3] on white at the animation's size, and how many frames it holds."""
    keyframes = _keyframes_in_order(animation)
    size = (int(animation.width), int(animation.height))
    if size[0] < 1 or size[1] < 1:
        raise InvalidInput("animation", f"canvas {size[0]} x {size[1]} is empty")
    frames = []
    for key in keyframes:
        if isinstance(key.content, Drawing):
            raster = render_drawing(key.content, scale=size[0] / max(key.content.width, 1))
        else:
            raster = key.content
        image = Image.fromarray(_rgba_array(raster), "RGBA")
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        flat = Image.new("RGBA", size, WHITE)
        flat.alpha_composite(image)
        frames.append(np.asarray(flat.convert("RGB")))
    numbers = [k.frame for k in keyframes]
    holds = [b - a for a, b in zip(numbers, numbers[1:])] + [1]
    return frames, holds


def _write_gif(frames: list[np.ndarray], holds: list[int], fps: float, path: Path) -> None:
    images = [Image.fromarray(f, "RGB").quantize(256, method=Image.Quantize.MEDIANCUT) for f in frames]
    durations = [max(20, int(round(1000 * hold / fps))) for hold in holds]  # GIF ticks are 10 ms
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0,
        disposal=1,
        optimize=False,
    )


def read_animation_folder(path: str | Path, fps: float = 8.0) -> Animation:
    """Read a folder written by write_animation: frames from `NNNN.svg` / `NNNN.png` names.

    Other files are ignored. The canvas is the first keyframe's; `fps` is not stored in a folder.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InvalidInput(str(folder), "not a folder of frames")
    found: dict[int, Path] = {}
    for entry in sorted(folder.iterdir()):
        match = _FRAME_NAME.match(entry.name)
        if not match or not entry.is_file():
            continue
        frame = int(match.group(1))
        if frame in found:
            raise InvalidInput(str(folder), f"frame {frame} is there twice: {found[frame].name} and {entry.name}")
        found[frame] = entry
    if not found:
        raise InvalidInput(str(folder), "no frames named like 0001.svg or 0001.png")
    keyframes = []
    for frame in sorted(found):
        file = found[frame]
        content = read_svg(file, allow_empty=True) if file.suffix.lower() == ".svg" else read_raster(file)
        keyframes.append(Keyframe(frame=frame, content=content))
    first = keyframes[0].content
    return Animation(width=first.width, height=first.height, keyframes=keyframes, fps=fps)

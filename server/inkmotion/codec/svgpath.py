"""SVG path data (`d`) -> cubic Bezier subpaths as plain floats, in one linear pass.

Standard library only, so that a host without numpy reads paths with this same code: the Krita
plugin vendors this module (scripts/vendoring.py); on the server `pathdata` turns its subpaths into
arrays. Each subpath is its cubic control points flattened (x0, y0, then six numbers per segment),
its closing side included when it was closed with `Z`, and whether it was. Lines and quadratics are
exact cubics; arcs become cubics of at most 30 degrees (SVG 1.1 F.6.5 endpoint -> centre
conversion, then the standard 4/3 tan(theta/4) handles). Like browsers, a malformed command ends
the path: what was drawn before it is kept.
"""

from __future__ import annotations

import math
import re
from typing import Callable

CLOSE_SNAP = 1e-3  # a subpath ending this close to its start closes without an extra segment
ARC_SWEEP = math.tau / 12  # arcs become cubics of at most 30 degrees

_COMMAND = re.compile(r"([MmZzLlHhVvCcSsQqTtAa])([^MmZzLlHhVvCcSsQqTtAa]*)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARITY = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7, "z": 0}
_ARC_ARGS = re.compile(
    r"\s*,?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # rx
    r"\s*,?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # ry
    r"\s*,?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # x-axis rotation
    r"\s*,?\s*([01])\s*,?\s*([01])"  # large-arc and sweep flags (may touch: "a5 5 0 0110 10")
    r"\s*,?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # x
    r"\s*,?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # y
)
_CHECK_EVERY = 4096  # commands between calls of `check`


def _arguments(name: str, text: str) -> list[float] | None:
    """The command's numbers, or None when they do not make whole argument groups."""
    if name in "aA":
        groups, pos, out = _ARC_ARGS, 0, []
        while pos < len(text) and text[pos:].strip(" \t\r\n,"):
            match = groups.match(text, pos)
            if match is None:
                return None
            out.extend(float(v) for v in match.groups())
            pos = match.end()
        return out
    values = [float(v) for v in _NUMBER.findall(text)]
    arity = _ARITY[name.lower()]
    if arity == 0:
        return values
    if not values or len(values) % arity:
        return None
    return values


def subpaths(d: str, check: Callable[[], None] | None = None) -> list[tuple[list[float], bool]]:
    """Subpaths of `d` as (control points flattened [x0, y0, c1x, c1y, c2x, c2y, x1, y1, ...],
    closed). Subpaths with no segment (a lone moveto) are dropped. `check` is called every few
    thousand commands (the server's time budget: it raises to stop)."""
    found: list[tuple[list[float], bool]] = []
    ctrl: list[float] = []  # x0, y0, then 6 numbers per cubic segment
    closed = False
    x = y = sx = sy = 0.0
    last_cubic = last_quad = None  # the previous segment's reflectable control point

    def flush():
        nonlocal ctrl, closed
        if len(ctrl) >= 8:
            found.append((ctrl, closed))
        ctrl, closed = [], False

    def begin():
        """Drawing after Z (or with no moveto) starts a new subpath where the pen is."""
        nonlocal ctrl
        if not ctrl or closed:
            flush()
            ctrl = [x, y]

    def line(x1, y1):
        nonlocal x, y
        begin()
        dx, dy = (x1 - x) / 3, (y1 - y) / 3
        ctrl.extend((x + dx, y + dy, x + 2 * dx, y + 2 * dy, x1, y1))
        x, y = x1, y1

    for number, match in enumerate(_COMMAND.finditer(d)):
        if check is not None and number % _CHECK_EVERY == _CHECK_EVERY - 1:
            check()
        name, args = match.group(1), _arguments(match.group(1), match.group(2))
        if args is None:
            break  # a malformed command: keep what was drawn before it
        cmd, rel = name.lower(), name.islower()
        if cmd == "z":
            if ctrl and not closed:
                if math.hypot(x - sx, y - sy) > CLOSE_SNAP or len(ctrl) < 8:
                    line(sx, sy)
                closed = True
            x, y = sx, sy
            last_cubic = last_quad = None
            continue
        arity = _ARITY[cmd]
        for i in range(0, len(args), arity):
            a = args[i : i + arity]
            ox, oy = (x, y) if rel else (0.0, 0.0)
            new_cubic = new_quad = None
            if cmd == "m":
                if i == 0:
                    flush()
                    x, y = sx, sy = a[0] + ox, a[1] + oy
                    ctrl = [x, y]
                else:  # further pairs are implicit linetos
                    line(a[0] + ox, a[1] + oy)
            elif cmd == "l":
                line(a[0] + ox, a[1] + oy)
            elif cmd == "h":
                line(a[0] + ox, y)
            elif cmd == "v":
                line(x, a[0] + (y if rel else 0.0))
            elif cmd in "cs":
                if cmd == "c":
                    c1x, c1y, rest = a[0] + ox, a[1] + oy, a[2:]
                else:  # the first handle reflects the previous cubic's second one
                    c1x, c1y = (2 * x - last_cubic[0], 2 * y - last_cubic[1]) if last_cubic else (x, y)
                    rest = a
                c2x, c2y, ex, ey = rest[0] + ox, rest[1] + oy, rest[2] + ox, rest[3] + oy
                begin()
                ctrl.extend((c1x, c1y, c2x, c2y, ex, ey))
                x, y, new_cubic = ex, ey, (c2x, c2y)
            elif cmd in "qt":
                if cmd == "q":
                    qx, qy, ex, ey = a[0] + ox, a[1] + oy, a[2] + ox, a[3] + oy
                else:
                    qx, qy = (2 * x - last_quad[0], 2 * y - last_quad[1]) if last_quad else (x, y)
                    ex, ey = a[0] + ox, a[1] + oy
                begin()
                ctrl.extend((x + 2 / 3 * (qx - x), y + 2 / 3 * (qy - y),
                             ex + 2 / 3 * (qx - ex), ey + 2 / 3 * (qy - ey), ex, ey))
                x, y, new_quad = ex, ey, (qx, qy)
            else:  # arc
                ex, ey = a[5] + ox, a[6] + oy
                begin()
                ctrl.extend(_arc(x, y, a[0], a[1], a[2], bool(a[3]), bool(a[4]), ex, ey))
                x, y = ex, ey
            last_cubic, last_quad = new_cubic, new_quad
    flush()
    return found


def nodes(d: str) -> list[tuple[float, float]]:
    """The points the path passes through at its segments' ends, every subpath in order (curve
    handles left out)."""
    return [(numbers[i], numbers[i + 1]) for numbers, _ in subpaths(d) for i in range(0, len(numbers), 6)]


def _arc(x1, y1, rx, ry, rotation, large, sweep, x2, y2) -> list[float]:
    """Cubic control points (6 numbers per piece, the start left out) of an SVG elliptical arc."""
    if (x1, y1) == (x2, y2):
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:  # a degenerate arc is a straight line
        dx, dy = (x2 - x1) / 3, (y2 - y1) / 3
        return [x1 + dx, y1 + dy, x1 + 2 * dx, y1 + 2 * dy, x2, y2]
    phi = math.radians(rotation % 360)
    cos_p, sin_p = math.cos(phi), math.sin(phi)
    hx, hy = (x1 - x2) / 2, (y1 - y2) / 2
    xp, yp = cos_p * hx + sin_p * hy, -sin_p * hx + cos_p * hy
    scale = (xp / rx) ** 2 + (yp / ry) ** 2
    if scale > 1:  # radii too small to reach: scaled up just enough (F.6.6)
        rx, ry = rx * math.sqrt(scale), ry * math.sqrt(scale)
    num = rx * rx * ry * ry - rx * rx * yp * yp - ry * ry * xp * xp
    den = rx * rx * yp * yp + ry * ry * xp * xp
    coef = math.sqrt(max(num, 0.0) / den) if den else 0.0
    if large == sweep:
        coef = -coef
    cxp, cyp = coef * rx * yp / ry, -coef * ry * xp / rx
    cx = cos_p * cxp - sin_p * cyp + (x1 + x2) / 2
    cy = sin_p * cxp + cos_p * cyp + (y1 + y2) / 2

    def angle(ux, uy, vx, vy):
        return math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)

    start = angle(1.0, 0.0, (xp - cxp) / rx, (yp - cyp) / ry)
    delta = angle((xp - cxp) / rx, (yp - cyp) / ry, (-xp - cxp) / rx, (-yp - cyp) / ry)
    if not sweep and delta > 0:
        delta -= math.tau
    elif sweep and delta < 0:
        delta += math.tau
    pieces = max(1, math.ceil(abs(delta) / ARC_SWEEP - 1e-9))
    step = delta / pieces
    k = 4 / 3 * math.tan(step / 4)
    out: list[float] = []

    def point(t):
        ct, st = math.cos(t), math.sin(t)
        ex, ey = rx * ct, ry * st  # on the axis-aligned ellipse
        dx, dy = -rx * st, ry * ct  # its derivative
        return (cx + cos_p * ex - sin_p * ey, cy + sin_p * ex + cos_p * ey,
                cos_p * dx - sin_p * dy, sin_p * dx + cos_p * dy)

    px, py, pdx, pdy = point(start)
    for i in range(1, pieces + 1):
        qx, qy, qdx, qdy = point(start + i * step)
        out.extend((px + k * pdx, py + k * pdy, qx - k * qdx, qy - k * qdy, qx, qy))
        px, py, pdx, pdy = qx, qy, qdx, qdy
    out[-2:] = [x2, y2]  # the exact endpoint, not the rounded arc's
    return out

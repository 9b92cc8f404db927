"""SVG path data (`d`) -> cubic Bezier subpaths as arrays, in one linear pass.

svgelements builds a Python object per segment (about 15 us each, twice over once the path is
copied for its transform), which made a 15,000-segment path cost most of a second before it was
even sampled. Here each command costs a few float operations (`svgpath`, the reader itself, in
plain Python so that the Krita plugin can vendor it) and the result is one numpy array per
subpath; the transform is applied to all control points at once.

Each subpath comes back as cubic control points [3K+1, 2] (float64), its closing side included
when it was closed with `Z`, and whether it was. Lines and quadratics are exact cubics; arcs
become cubics of at most 30 degrees (SVG 1.1 F.6.5 endpoint -> centre conversion, then the
standard 4/3 tan(theta/4) handles). Like browsers, a malformed command ends the path: what was
drawn before it is kept.
"""

from __future__ import annotations

import numpy as np

from inkmotion.budget import check_budget
from inkmotion.codec.svgpath import ARC_SWEEP, CLOSE_SNAP, subpaths

__all__ = ["ARC_SWEEP", "CLOSE_SNAP", "parse_path_data"]


def parse_path_data(d: str, matrix: tuple[float, ...] | None = None) -> list[tuple[np.ndarray, bool]]:
    """Subpaths of `d` as (control points [3K+1, 2], closed), transformed by the SVG matrix
    (a, b, c, d, e, f) when given. Subpaths with no segment (a lone moveto) are dropped."""
    out = []
    for numbers, was_closed in subpaths(d, check=check_budget):
        points = np.array(numbers, np.float64).reshape(-1, 2)
        if matrix is not None:
            ma, mb, mc, md, me, mf = matrix
            with np.errstate(over="ignore", invalid="ignore"):  # out-of-range results are refused later
                points = points @ np.array([[ma, mb], [mc, md]]) + (me, mf)
        out.append((points, was_closed))
    return out

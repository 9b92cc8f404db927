"""Strokes as geometry: what the pipelines and the codec compute on polylines and Bezier chains.

- `geometry`: arc-length resampling, optimal assignment, similarity fits (numpy);
- `bezier`: the one cubic Bezier evaluator, a chain's segments, point-to-chord distance;
- `fitting`: cubic chains fitted to polylines (Schneider), points placed on a chain (numpy);
- `chains`: a drawing's strokes <-> padded chains of control points in torch, and back;
- `lineart`: a raster sketch traced into strokes and strokes painted into frames; ink darkness
  and Otsu's threshold.

Nothing is imported here, so that reading an SVG does not import torch.
"""

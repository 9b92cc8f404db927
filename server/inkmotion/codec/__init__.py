"""The one codec: strokes and frames as arrays, to and from the wire and from files.

Everything that moves drawings between the hosts, the service and the pipelines goes through here:
`drawing` holds the in-memory records, `proto` maps them to the contract, `svg` reads and writes
vector files, `preview` turns animations into PNG/GIF/MP4 for people to look at.
"""

from inkmotion.codec.drawing import Animation, Drawing, Keyframe, Raster, Stroke

__all__ = ["Animation", "Drawing", "Keyframe", "Raster", "Stroke"]

"""A property test: a few thousand random and mutated requests of every RPC at two real servers.

Issue 10, point 2. One `inkmotion serve` without tokens and one with a token file take seeded,
bounded traffic: valid-ish requests of every task and mutations of them (extreme numbers, NaN and
infinities in packed float columns, wrong byte lengths, colours and opacities out of range, huge
and non-ASCII strings, unknown enum values, broken PNGs behind a valid header, hostile SVG, flipped
bytes of the serialized message), raw garbage bytes to each RPC, the job RPCs with random and real
ids, ListJobs with random tokens, sizes and states, and bad auth metadata. What must hold:

- no call ends UNKNOWN, INTERNAL or DEADLINE_EXCEEDED (a hang), or in another unexpected status;
- every error's details fit in 1 KB, and an INVALID_ARGUMENT's start with the field it is about
  (`inbetween.start.drawing.opacities: ...`), a path through the request message;
- requests the contract refuses (NaN, out-of-range values, broken pixels, ...) are refused at
  submission, not accepted; calls without a valid token are UNAUTHENTICATED; another user's job
  is NOT_FOUND;
- health answers SERVING within 1 s throughout (checked every 50 calls, and polled every 100 ms
  from a thread; the worst latency is reported);
- accepted jobs that were left to run end SUCCEEDED (with a result that decodes: lengths agree,
  numbers finite) or FAILED only because a model is not downloaded.

The random cases run four at a time; a few slow ones (hostile SVG, a huge states filter) run one
by one at the end, so the time they cost shows as theirs. About 20 s of traffic on two cores.

Every failure of a run is collected, grouped by class, and reported at once, each with the case
number, the RPC and the mutation (all of them, and a summary, also go to fuzz_failures.json in the
test's tmp_path). The cases are a function of the seed, the test sketches and their number:
`python tests/test_fuzz.py 17 230` prints what cases 17 and 230 send, INKMOTION_FUZZ_ONLY=17,230
runs just those, INKMOTION_FUZZ_SEED and INKMOTION_FUZZ_CASES change the run, and
INKMOTION_FUZZ_LOGS=1 keeps the servers' logs beside the failures.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import threading
import time
import uuid
import zlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image, ImageDraw

from harness import ServerProcess
from inkmotion.codec.drawing import Drawing, Stroke
from inkmotion.codec.proto import drawing_from_proto, drawing_to_proto, raster_from_proto
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

SEED = int(os.environ.get("INKMOTION_FUZZ_SEED", "1010"))
CASES = int(os.environ.get("INKMOTION_FUZZ_CASES", "3000"))
ONLY = {int(i) for i in os.environ.get("INKMOTION_FUZZ_ONLY", "").split(",") if i.strip()}
THREADS = 4
DEADLINE = 5.0  # every call; past it the server is taken to hang
HEALTH_DEADLINE = 1.0
HEALTH_EVERY = 50  # calls between the main loop's health checks
HEALTH_POLL = 0.1  # seconds between the background poller's checks
BUDGET = 75.0  # seconds of traffic at most; cases left over are a failure, not skipped silently
SETTLE = 20.0  # seconds for accepted jobs to end after the traffic
MAX_DETAILS = 1024  # bytes of status details at most
SERVICE = "/inkmotion.v1.AnimationService/"
TOKENS = {"ann": "ann-fuzz-token-0123456789abcdef", "bob": "bob-fuzz-token-0123456789abcdef"}
UNARY = {"GetCapabilities", "SubmitJob", "CancelJob", "ListJobs"}
STREAMING = {"GetJob", "WatchJob"}
REQUEST_TYPES = {
    "GetCapabilities": service_pb2.GetCapabilitiesRequest,
    "SubmitJob": service_pb2.SubmitJobRequest,
    "CancelJob": service_pb2.CancelJobRequest,
    "ListJobs": service_pb2.ListJobsRequest,
    "GetJob": service_pb2.GetJobRequest,
    "WatchJob": service_pb2.WatchJobRequest,
}
S = grpc.StatusCode
FORBIDDEN = {S.UNKNOWN, S.INTERNAL, S.DEADLINE_EXCEEDED, S.UNAVAILABLE, S.DATA_LOSS}
ALLOWED = {S.OK, S.INVALID_ARGUMENT, S.NOT_FOUND, S.UNIMPLEMENTED, S.UNAUTHENTICATED, S.FAILED_PRECONDITION,
           S.OUT_OF_RANGE, S.RESOURCE_EXHAUSTED, S.PERMISSION_DENIED}
# A model whose weights are not here: the one failure an accepted job may end in on a test server.
MODEL_MISSING = ("is not downloaded", "needs its sketch LoRA", "inkmotion models pull")

F32 = np.dtype("<f4")
NAN, INF = float("nan"), float("inf")
EXTREME_FLOATS = [NAN, INF, -INF, 1e308, -0.0, 3.4028235e38, -3.4028235e38, 1e-45, -1.0]
EXTREME_INTS = {  # by protobuf field type
    "uint32": [0, 1, 2**31 - 1, 2**31, 2**32 - 1],
    "int32": [0, -1, -(2**31), 2**31 - 1, 2**31 - 3],
    "uint64": [0, 2**63, 2**64 - 1],
    "int64": [-(2**63), 2**63 - 1],
}
MB = 1024 * 1024
EXTREME_STRINGS = [
    ("empty", ""), ("space", " "), ("1 MB", "x" * MB), ("2000 chars", "y" * 2000), ("NUL", "a\x00b"),
    ("arabic digits", "\u0661\u0662\u0663"), ("superscript two", "\u00b2"), ("circled one", "\u2460"),
    ("emoji", "\U0001f408" * 50), ("path", "../../../etc/passwd"), ("quote", "'; DROP TABLE jobs; --"),
    ("rtl", "\u202eevil"), ("newlines", "a\nb\r\nc"),
]
WORDS = "the cat stretches dog runs bird flaps wings wave rolls leaf falls a girl jumps".split()


# -- servers ------------------------------------------------------------------------------------

def _env(folder: Path) -> dict:
    # An empty hub cache: the built-in models are "not downloaded", so text jobs fail fast.
    return {"HF_HUB_CACHE": str(folder / "hub"), "INKMOTION_MODELS": "", "XDG_CONFIG_HOME": str(folder / "config")}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "tokens").write_text("".join(f"{user} {token}\n" for user, token in TOKENS.items()))
    procs = {
        "open": ServerProcess(folder / "open", env=_env(folder)),
        "studio": ServerProcess(folder / "studio", "--token-file", str(folder / "tokens"), env=_env(folder)),
    }
    starters = [threading.Thread(target=p.start) for p in procs.values()]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    try:
        for name, proc in procs.items():
            assert proc.port, f"the {name} server did not start:\n{proc.log}"
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


# -- inputs -------------------------------------------------------------------------------------

def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))


def _line_art(rng: random.Random, max_side: int = 96) -> Image.Image:
    w, h = rng.randint(8, max_side), rng.randint(8, max_side)
    image = Image.new("RGBA", (w, h), (255, 255, 255, 255) if rng.random() < 0.7 else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 4)):
        xy = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(rng.randint(2, 5))]
        draw.line(xy, fill=(0, 0, 0, 255), width=rng.randint(1, 3))
    return image


@dataclass
class Inputs:
    svgs: list[str]  # real vector sketches, as text
    pngs: list[bytes]  # real raster sketches (the small ones), as PNG bytes


def _drawing(rng: random.Random, max_side: int = 256) -> Drawing:
    w, h = rng.randint(8, max_side), rng.randint(8, max_side)
    materials = ["Ink", "Red"] if rng.random() < 0.2 else []
    with_bezier = rng.random() < 0.1
    strokes = []
    for _ in range(rng.randint(1, 4)):
        n = rng.randint(1, 16)
        cyclic = n >= 3 and rng.random() < 0.3
        extra = {}
        if cyclic and rng.random() < 0.5:
            extra["fill"] = np.array([rng.random(), rng.random(), rng.random(), rng.uniform(0.1, 1)], np.float32)
        if materials:
            extra["material"] = rng.randrange(len(materials))
        if with_bezier:
            k = rng.randint(1, 3)
            extra["bezier"] = np.array([[rng.uniform(0, w), rng.uniform(0, h)] for _ in range(3 * k + (0 if cyclic else 1))], np.float32)
        stroke = Stroke.from_points(
            [[rng.uniform(0, w), rng.uniform(0, h)] for _ in range(n)],
            radius=rng.uniform(0.25, 4), opacity=rng.uniform(0.1, 1),
            color=[rng.random(), rng.random(), rng.random(), 1.0], cyclic=cyclic, **extra)
        if rng.random() < 0.2:
            stroke.point_colors = np.array([[rng.random() for _ in range(4)] for _ in range(n)], np.float32)
        strokes.append(stroke)
    return Drawing(w, h, strokes, layer=rng.choice(["", "Lines", "Ink"]), materials=materials)


def _drawing_msg(rng) -> drawing_pb2.Drawing:
    return drawing_to_proto(_drawing(rng))


def _raster_msg(rng, inputs: Inputs) -> drawing_pb2.Raster:
    if inputs.pngs and rng.random() < 0.2:
        data = rng.choice(inputs.pngs)
        width, height = struct.unpack(">II", data[16:24])
        return drawing_pb2.Raster(width=width, height=height, png=data)
    image = _line_art(rng)
    if rng.random() < 0.6:
        return drawing_pb2.Raster(width=image.width, height=image.height, png=_png(image))
    return drawing_pb2.Raster(width=image.width, height=image.height, rgba=np.asarray(image).tobytes())


def _svg(rng, inputs: Inputs) -> str:
    if inputs.svgs and rng.random() < 0.5:
        return rng.choice(inputs.svgs)
    w, h = rng.randint(16, 256), rng.randint(16, 256)
    paths = []
    for _ in range(rng.randint(1, 4)):
        pts = " ".join(f"{rng.uniform(0, w):.1f} {rng.uniform(0, h):.1f}" for _ in range(3))
        paths.append(f'<path d="M{rng.uniform(0, w):.1f} {rng.uniform(0, h):.1f} C{pts}" stroke="#000" '
                     f'stroke-width="{rng.uniform(0.5, 4):.1f}" fill="none"/>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">{"".join(paths)}</svg>'


def _prompt(rng) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))


def _maybe(rng, p: float = 0.3) -> bool:
    return rng.random() < p


def _text_motion(rng, inputs) -> tasks_pb2.TextMotionRequest:
    r = tasks_pb2.TextMotionRequest(prompt=_prompt(rng), model=rng.choice(["", "", "modelscope-1.7b"]))
    form = rng.choice(["sketch", "sketch_svg", "sketch_raster"])
    if form == "sketch":
        r.sketch.CopyFrom(_drawing_msg(rng))
    elif form == "sketch_svg":
        r.sketch_svg = _svg(rng, inputs)
    else:
        r.sketch_raster.CopyFrom(_raster_msg(rng, inputs))
    for name, value in (("frames", rng.randint(2, 16)), ("steps", rng.randint(1, 50)), ("seed", rng.getrandbits(64)),
                        ("guidance_local", rng.uniform(0, 200)), ("guidance_global", rng.uniform(0, 200)),
                        ("motion_strength", rng.uniform(0, 10)), ("preview_every", rng.randint(0, 10)),
                        ("local_motion", True), ("global_motion", rng.random() < 0.5)):
        if _maybe(rng):
            setattr(r, name, value)
    r.result_form = rng.choice([0, 1, 2])
    return r


def _raster_text_motion(rng, inputs) -> tasks_pb2.RasterTextMotionRequest:
    r = tasks_pb2.RasterTextMotionRequest(prompt=_prompt(rng))
    if rng.random() < 0.6:
        r.sketch.CopyFrom(_raster_msg(rng, inputs))
    else:
        r.sketch_drawing.CopyFrom(_drawing_msg(rng))
    for name, value in (("frames", rng.randint(2, 16)), ("steps", rng.randint(1, 50)), ("inversion_steps", rng.randint(1, 50)),
                        ("guidance", rng.uniform(0, 50)), ("composition_weight", rng.random()), ("samples", rng.randint(1, 16)),
                        ("seed", rng.getrandbits(64)), ("binarize", rng.random() < 0.5), ("preview_every", rng.randint(0, 10))):
        if _maybe(rng):
            setattr(r, name, value)
    r.result_form = rng.choice([0, 1, 2])
    return r


def _key(rng, inputs, frame: int) -> drawing_pb2.Keyframe:
    if rng.random() < 0.75:
        return drawing_pb2.Keyframe(frame=frame, drawing=_drawing_msg(rng))
    return drawing_pb2.Keyframe(frame=frame, raster=_raster_msg(rng, inputs))


def _inbetween(rng, inputs) -> tasks_pb2.InbetweenRequest:
    frames = rng.randint(2, 12)
    first = rng.randint(-5, 100)
    r = tasks_pb2.InbetweenRequest(start=_key(rng, inputs, first), end=_key(rng, inputs, first + frames - 1),
                                   model=rng.choice(["", "stroke-match", "test-slow"] if rng.random() < 0.3 else [""]),
                                   easing=rng.randrange(5), motion_path=rng.randrange(3), unmatched=rng.randrange(3),
                                   result_form=rng.randrange(3))
    if rng.random() < 0.7:
        r.frames = frames
    return r


def _path_motion(rng, inputs) -> tasks_pb2.PathMotionRequest:
    r = tasks_pb2.PathMotionRequest(path=np.array([[rng.uniform(0, 256) for _ in range(2)] for _ in range(rng.randint(2, 10))], F32).tobytes())
    if rng.random() < 0.7:
        r.drawing.CopyFrom(_drawing_msg(rng))
    else:
        r.raster.CopyFrom(_raster_msg(rng, inputs))
    if _maybe(rng):
        r.frames = rng.randint(2, 16)
    if _maybe(rng):
        r.easing, r.timing = rng.randrange(5), rng.randrange(3)
    if _maybe(rng):
        r.keep_upright = rng.random() < 0.5
    if _maybe(rng):
        r.squash_stretch, r.follow_through = rng.uniform(0, 2), rng.uniform(0, 1)
    return r


def _video_motion(rng, inputs) -> tasks_pb2.VideoMotionRequest:
    r = tasks_pb2.VideoMotionRequest(sketch=_drawing_msg(rng), prompt=_prompt(rng))
    for _ in range(rng.randint(1, 3)):
        r.reference_frames.add().CopyFrom(_raster_msg(rng, inputs))
    return r


TASK_MAKERS = {
    "text_motion": _text_motion, "raster_text_motion": _raster_text_motion, "inbetween": _inbetween,
    "path_motion": _path_motion, "video_motion": _video_motion,
}
TASK_WEIGHTS = {"text_motion": 3, "raster_text_motion": 2, "inbetween": 5, "path_motion": 1, "video_motion": 1}


def _submission(rng, inputs) -> service_pb2.SubmitJobRequest:
    task = rng.choices(list(TASK_WEIGHTS), weights=list(TASK_WEIGHTS.values()))[0]
    request = service_pb2.SubmitJobRequest(priority=rng.randint(-10, 10), label=rng.choice(["", "walk", "fuzz " + _prompt(rng)]))
    getattr(request, task).CopyFrom(TASK_MAKERS[task](rng, inputs))
    return request


# -- mutations of a submission (each returns its description and whether the contract refuses it) --

def _walk(msg, path: str):
    """(path, message) for the message and every sub-message that is set, depth first."""
    yield path, msg
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if fd.is_repeated:
            for i, item in enumerate(value):
                yield from _walk(item, f"{path}.{fd.name}[{i}]" if path else f"{fd.name}[{i}]")
        else:
            yield from _walk(value, f"{path}.{fd.name}" if path else fd.name)


def _of_type(request, type_name: str):
    return [(p, m) for p, m in _walk(request, "") if m.DESCRIPTOR.name == type_name]


class NotApplicable(Exception):
    """The request has nothing this mutation works on (say, no drawing); another is drawn."""


def _one(rng, request, type_name: str):
    found = _of_type(request, type_name)
    if not found:
        raise NotApplicable(type_name)
    return rng.choice(found)


def _task(request):
    return getattr(request, request.WhichOneof("task"))


def _floats(data: bytes, n: int, width: int, default: float) -> np.ndarray:
    if n * width > 1_000_000:  # an earlier mutation made the counts huge
        raise NotApplicable("column")
    if data:
        return np.frombuffer(data, F32).copy()
    return np.full(n * width, default, F32)


def _points(d: drawing_pb2.Drawing) -> int:
    return sum(d.point_counts)


def m_column_length(rng, request):
    path, d = _one(rng, request, "Drawing")
    name = rng.choice(["positions", "radii", "opacities", "stroke_colors", "point_colors"])
    data = getattr(d, name) or _floats(b"", _points(d) if name != "stroke_colors" else len(d.point_counts),
                                       4 if "colors" in name else 2 if name == "positions" else 1, 0.5).tobytes()
    k = rng.choice([1, 2, 3, 4, 7, 8, 16])
    data = data[:-k] if rng.random() < 0.5 and len(data) > k else data + bytes(k)
    setattr(d, name, data)
    return f"{path}.{name}: {len(data)} bytes (wrong length)", True


def m_nonfinite_column(rng, request):
    path, d = _one(rng, request, "Drawing")
    n, strokes = _points(d), len(d.point_counts)
    name, rows, width = rng.choice([("positions", n, 2), ("radii", n, 1), ("opacities", n, 1), ("point_colors", n, 4),
                                    ("stroke_colors", strokes, 4), ("fill_colors", strokes, 4)])
    arr = _floats(getattr(d, name), rows, width, 0.5)
    value = rng.choice([NAN, INF, -INF])
    arr[rng.randrange(len(arr))] = value
    setattr(d, name, arr.astype(F32).tobytes())
    return f"{path}.{name}: one value is {value}", True


def m_out_of_unit_range(rng, request):
    path, d = _one(rng, request, "Drawing")
    n, strokes = _points(d), len(d.point_counts)
    name, rows, width = rng.choice([("opacities", n, 1), ("point_colors", n, 4), ("stroke_colors", strokes, 4),
                                    ("fill_colors", strokes, 4)])
    arr = _floats(getattr(d, name), rows, width, 0.5)
    value = rng.choice([1.5, -0.5, 255.0, -1e-3, 1e30, 3.4e38])
    arr[rng.randrange(len(arr))] = value
    setattr(d, name, arr.astype(F32).tobytes())
    return f"{path}.{name}: one value is {value} (outside [0, 1])", True


def m_radii(rng, request):
    path, d = _one(rng, request, "Drawing")
    arr = _floats(d.radii, _points(d), 1, 1.0)
    value = rng.choice([-1.0, -1e-6, 1e30, 3.4e38])
    arr[rng.randrange(len(arr))] = value
    d.radii = arr.astype(F32).tobytes()
    return f"{path}.radii: one value is {value}", value < 0


def m_huge_positions(rng, request):
    path, d = _one(rng, request, "Drawing")
    arr = _floats(d.positions, _points(d), 2, 0.0)
    value = rng.choice([3.4e38, -3.4e38, 1e20, -1e30, 1e-40])
    if rng.random() < 0.5:
        arr[:] = value
    else:
        arr[rng.randrange(len(arr))] = value
    d.positions = arr.astype(F32).tobytes()
    return f"{path}.positions: values of {value}", False


def m_point_counts(rng, request):
    path, d = _one(rng, request, "Drawing")
    kind = rng.choice(["huge", "zero", "mismatch", "many", "none", "sum over max_points"])
    if kind == "huge":
        d.point_counts[rng.randrange(len(d.point_counts))] = rng.choice([2**32 - 1, 2**31, 20_001])
    elif kind == "zero":
        d.point_counts[rng.randrange(len(d.point_counts))] = 0
    elif kind == "mismatch":
        d.point_counts[rng.randrange(len(d.point_counts))] += rng.choice([1, 2, 100])
    elif kind == "many":  # 5000 strokes of one point: over max_strokes
        del d.point_counts[:]
        d.point_counts.extend([1] * 5000)
    elif kind == "none":
        del d.point_counts[:]
    else:  # "sum over max_points": each stroke is within its limit, together they are not
        del d.point_counts[:]
        d.point_counts.extend([20_000] * 21)
    return f"{path}.point_counts: {kind}", True


def m_canvas(rng, request):
    path, d = _one(rng, request, "Drawing")
    name = rng.choice(["width", "height"])
    value = rng.choice([0, 4097, 2**31 - 1, 2**32 - 1])
    setattr(d, name, value)
    return f"{path}.{name} = {value}", True


def m_per_stroke(rng, request):
    path, d = _one(rng, request, "Drawing")
    kind = rng.choice(["cyclic", "material_indices", "material out of range", "bezier counts"])
    strokes = len(d.point_counts)
    if kind == "cyclic":
        del d.cyclic[:]
        d.cyclic.extend([True] * (strokes + 1))
    elif kind == "material_indices":
        del d.material_indices[:]
        d.material_indices.extend([0] * (strokes + 2))
    elif kind == "material out of range":
        del d.materials[:]
        d.materials.append("Ink")
        del d.material_indices[:]
        d.material_indices.extend([2**32 - 1] * strokes)
    else:
        del d.bezier_segment_counts[:]
        d.bezier_segment_counts.extend([rng.choice([1, 5, 2**32 - 1])] * strokes)
        d.bezier_points = np.zeros(8, F32).tobytes()
    return f"{path}.{kind}: wrong for {strokes} strokes", True


def m_drawing_strings(rng, request):
    path, d = _one(rng, request, "Drawing")
    what, text = rng.choice(EXTREME_STRINGS)
    if rng.random() < 0.5:
        d.layer = text
        return f"{path}.layer: {what}", False
    d.materials.append(text)
    return f"{path}.materials: + {what}", False


def _fake_png(rng) -> tuple[bytes, str]:
    w, h = rng.randint(1, 64), rng.randint(1, 64)
    kind = rng.choice(["garbage body", "garbage IDAT", "truncated", "no IEND", "claims 2048x2048", "claims 0x0",
                       "bad crc", "zlib bomb"])
    if kind == "garbage body":
        return _png_header(w, h) + rng.randbytes(rng.randint(0, 200)), f"{kind} after a {w}x{h} header"
    if kind == "garbage IDAT":
        return _png_header(w, h) + _chunk(b"IDAT", rng.randbytes(rng.randint(1, 200))) + _chunk(b"IEND", b""), kind
    if kind == "truncated":
        good = _png(Image.new("RGBA", (w, h), (0, 0, 0, 255)))
        cut = rng.randint(33, max(33, len(good) - 1))
        return good[:cut], f"a {w}x{h} PNG cut at byte {cut} of {len(good)}"
    if kind == "no IEND":
        good = _png(Image.new("RGBA", (w, h), (0, 0, 0, 255)))
        return good[:-12], kind
    if kind == "claims 2048x2048":
        return _png_header(2048, 2048) + _chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _chunk(b"IEND", b""), kind
    if kind == "claims 0x0":
        return _png_header(0, 0) + _chunk(b"IEND", b""), kind
    if kind == "bad crc":
        good = bytearray(_png(Image.new("RGBA", (w, h), (0, 0, 0, 255))))
        good[-20] ^= 0xFF
        return bytes(good), kind
    # a 2048 x 2048 header whose IDAT inflates to far more than the image holds
    return _png_header(2048, 2048) + _chunk(b"IDAT", zlib.compress(b"\0" * (8 * MB), 9)) + _chunk(b"IEND", b""), kind


def m_raster(rng, request):
    path, r = _one(rng, request, "Raster")
    kind = rng.choice(["fake png", "fake png", "rgba length", "rgba size fields", "no pixels", "jpeg as png", "rgba huge"])
    if kind == "fake png":
        data, what = _fake_png(rng)
        r.png = data
        return f"{path}.png: {what}", True
    if kind == "rgba length":
        w, h = r.width or 8, r.height or 8
        r.width, r.height = w, h
        delta = rng.choice([-7, -4, -1, 1, 3, 4, 4 * w])
        r.rgba = bytes(max(0, w * h * 4 + delta))
        return f"{path}.rgba: {w}x{h} with {w * h * 4 + delta} bytes", True
    if kind == "rgba size fields":
        data = r.rgba or bytes(64 * 4)
        r.rgba = data
        r.width, r.height = rng.choice([(len(data), 1), (1, 2**32 - 1), (2**16, 2**16), (3, 5)])
        return f"{path}: rgba {r.width}x{r.height} with {len(data)} bytes", len(data) != r.width * r.height * 4
    if kind == "no pixels":
        r.ClearField("png")
        r.ClearField("rgba")
        return f"{path}: neither png nor rgba", True
    if kind == "jpeg as png":
        buf = io.BytesIO()
        _line_art(rng).convert("RGB").save(buf, format="JPEG")
        r.png = buf.getvalue()
        return f"{path}.png: a JPEG file", True
    r.width, r.height = 2**32 - 1, 2**32 - 1
    r.rgba = bytes(16)
    return f"{path}: rgba {r.width}x{r.height}", True


def m_frames_near_limit(rng, request):
    if request.WhichOneof("task") != "inbetween":
        return m_task_numbers(rng, request)
    r = request.inbetween
    kind = rng.choice(["near 2^31", "span 2^32", "end before start", "int32 min"])
    if kind == "near 2^31":
        r.start.frame = 2**31 - rng.choice([1, 2, 3])
        r.end.frame = 2**31 - 1
        r.frames = 5
        return f"inbetween: start.frame {r.start.frame}, frames 5 (output frames past 2^31 - 1)", True
    if kind == "span 2^32":
        r.start.frame, r.end.frame = -(2**31), 2**31 - 1
        r.ClearField("frames")
        return "inbetween: start.frame -2^31, end.frame 2^31 - 1, no frames", True
    if kind == "end before start":
        r.start.frame, r.end.frame = 10, 1
        r.ClearField("frames")
        return "inbetween: end.frame before start.frame, no frames", True
    r.start.frame = -(2**31)
    r.end.frame = -(2**31) + 3
    return "inbetween: frames at int32's minimum", False


# Out-of-range values of each task's own parameters, and whether the contract refuses them.
TASK_NUMBERS = {
    "text_motion": [("frames", [0, 1, 129, 2**32 - 1]), ("steps", [0, 5001, 2**32 - 1]), ("preview_every", [5001, 2**32 - 1]),
                    ("guidance_local", [NAN, INF, -INF, -1.0, 201.0, 1e308]), ("guidance_global", [NAN, INF, -0.5]),
                    ("motion_strength", [NAN, INF, -INF, -0.1, 10.5])],
    "raster_text_motion": [("frames", [0, 1, 129]), ("steps", [0, 1001]), ("inversion_steps", [0, 1001]),
                           ("guidance", [NAN, INF, -1.0, 51.0]), ("composition_weight", [NAN, INF, -0.1, 1.1]),
                           ("samples", [0, 17, 2**32 - 1]), ("preview_every", [2**32 - 1])],
    # inbetween.frames = 0 is allowed: the contract says it means end.frame - start.frame + 1.
    "inbetween": [("frames", [1, 129, 2**31, 2**32 - 1])],
    "path_motion": [("frames", [0, 1, 129, 2**32 - 1]), ("squash_stretch", [NAN, INF, -0.1, 2.5]),
                    ("follow_through", [NAN, -INF, -0.1, 1.5])],
    "video_motion": [("frames", [0, 2**32 - 1]), ("steps", [0, 2**32 - 1])],
}


def m_task_numbers(rng, request):
    which = request.WhichOneof("task")
    name, values = rng.choice(TASK_NUMBERS[which])
    value = rng.choice(values)
    setattr(_task(request), name, value)
    # Unavailable tasks answer UNIMPLEMENTED, which is a refusal too.
    return f"{which}.{name} = {value}", True


def m_enum(rng, request):
    which = request.WhichOneof("task")
    names = {"text_motion": ["result_form"], "raster_text_motion": ["result_form"],
             "inbetween": ["easing", "motion_path", "unmatched", "result_form"],
             "path_motion": ["easing", "timing"]}.get(which)
    if not names:
        return m_task_numbers(rng, request)
    name = rng.choice(names)
    value = rng.choice([5, 99, -1, 2**31 - 1, -(2**31)])
    setattr(_task(request), name, value)
    return f"{which}.{name} = {value} (unknown enum value)", True


def m_path(rng, request):
    """A path the contract refuses: not whole points, under 2 points, over the most, not finite,
    no length, or nowhere near any canvas."""
    if request.WhichOneof("task") != "path_motion":
        raise NotApplicable("path")
    r = request.path_motion
    kind = rng.choice(["odd bytes", "one point", "10001 points", "nan", "inf", "zero length", "off canvas"])
    points = np.frombuffer(r.path[: len(r.path) // 8 * 8], F32).reshape(-1, 2).copy()
    if kind == "odd bytes":
        r.path = r.path[: len(r.path) - rng.randint(1, 7)]
    elif kind == "one point":
        r.path = points[:1].tobytes()
    elif kind == "10001 points":
        r.path = np.linspace((0, 0), (100, 100), 10001).astype(F32).tobytes()
    elif kind in ("nan", "inf"):
        points[rng.randrange(len(points)), rng.randrange(2)] = NAN if kind == "nan" else rng.choice([INF, -INF])
        r.path = points.tobytes()
    elif kind == "zero length":
        r.path = np.repeat(points[:1], rng.randint(2, 5), axis=0).tobytes()
    else:
        r.path = np.array([[rng.uniform(-900, -100) for _ in range(2)] for _ in range(3)], F32).tobytes()
    return f"path_motion.path: {kind}", True


def m_request_fields(rng, request):
    which = request.WhichOneof("task")
    kind = rng.choice(["priority", "label", "model", "prompt"])
    if kind == "priority":
        value = rng.choice([11, -11, 2**31 - 1, -(2**31)])
        request.priority = value
        return f"priority = {value}", True
    if kind == "label":
        what, text = rng.choice([("201 chars", "l" * 201), ("1 MB", "l" * MB)] + EXTREME_STRINGS)
        request.label = text
        return f"label: {what}", len(text) > 200
    if kind == "model":
        what, text = rng.choice([("1 MB", "m" * MB)] + EXTREME_STRINGS)
        _task(request).model = text
        return f"{which}.model: {what}", bool(text)  # "" is the default model; anything else here is unknown
    if which in ("inbetween", "path_motion"):  # no prompt
        return m_task_numbers(rng, request)
    what, text = rng.choice([("1001 chars", "p" * 1001), ("1 MB", "p" * MB)] + EXTREME_STRINGS)
    _task(request).prompt = text
    return f"{which}.prompt: {what}", len(text) > 1000 or not text.strip()


def _svg_variant(rng, inputs) -> tuple[str, str, bool]:
    path = '<path d="M1 1 L20 20 L5 30" stroke="black" fill="none"/>'
    head = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    kind = rng.choice(["width 1e308", "height 1e308", "viewBox 1e308", "width inf", "width -5", "width 0", "width NaN",
                       "width 5000", "coords 1e308", "stroke-width 1e308", "scale 1e308", "nested 3000", "use cycle",
                       "entities", "not xml", "empty", "no strokes", "html root", "1 MB comment", "binary"])
    if kind == "width 1e308":
        return kind, f'{head} width="1e308" height="10">{path}</svg>', True
    if kind == "height 1e308":
        return kind, f'{head} width="10" height="1e308">{path}</svg>', True
    if kind == "viewBox 1e308":
        return kind, f'{head} viewBox="0 0 1e308 1e308">{path}</svg>', True
    if kind == "width inf":
        return kind, f'{head} width="inf" height="10">{path}</svg>', True
    if kind == "width -5":
        return kind, f'{head} width="-5" height="10">{path}</svg>', True
    if kind == "width 0":
        return kind, f'{head} width="0" height="10">{path}</svg>', True
    if kind == "width NaN":
        return kind, f'{head} width="NaN" height="10">{path}</svg>', True
    if kind == "width 5000":
        return kind, f'{head} width="5000" height="10">{path}</svg>', True
    if kind == "coords 1e308":
        return kind, f'{head} width="10" height="10"><path d="M0 0 L1e308 1e308" stroke="black"/></svg>', False
    if kind == "stroke-width 1e308":
        return kind, f'{head} width="10" height="10"><path d="M0 0 L5 5" stroke="black" stroke-width="1e308"/></svg>', False
    if kind == "scale 1e308":
        return kind, f'{head} width="10" height="10"><path transform="scale(1e308)" d="M0 0 L5 5" stroke="black"/></svg>', False
    if kind == "nested 3000":
        return kind, f'{head} width="10" height="10">{"<g>" * 3000}{path}{"</g>" * 3000}</svg>', False
    if kind == "use cycle":
        return kind, (f'{head} width="10" height="10"><g id="a"><use xlink:href="#b"/></g>'
                      f'<g id="b"><use xlink:href="#a"/></g>{path}</svg>'), False
    if kind == "entities":  # a small billion-laughs: 10^4 expansions
        ents = '<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">' \
               '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
        return kind, f'<?xml version="1.0"?><!DOCTYPE svg [{ents}]>{head} width="10" height="10"><desc>&e;</desc>{path}</svg>', False
    if kind == "not xml":
        return kind, "<svg <<< not xml", True
    if kind == "empty":
        return kind, "", True
    if kind == "no strokes":
        return kind, f'{head} width="10" height="10"/>', True
    if kind == "html root":
        return kind, "<html><body>hi</body></html>", True
    if kind == "1 MB comment":
        return kind, f'{head} width="10" height="10"><!-- {"c" * MB} -->{path}</svg>', False
    return kind, rng.randbytes(rng.randint(1, 300)).decode("latin-1"), True


def m_svg(rng, request, inputs):
    if request.WhichOneof("task") != "text_motion":
        raise NotApplicable("sketch_svg")
    kind, text, refuse = _svg_variant(rng, inputs)
    request.text_motion.sketch_svg = text
    return f"text_motion.sketch_svg: {kind}", refuse


def _scalar_fields(request):
    for path, msg in _walk(request, ""):
        for fd in msg.DESCRIPTOR.fields:
            if fd.message_type is None:
                yield path, msg, fd


def m_any_field(rng, request):
    """Any scalar field anywhere in the set tree (set or not) to an extreme of its type."""
    path, msg, fd = rng.choice(list(_scalar_fields(request)))
    name = f"{path}.{fd.name}" if path else fd.name
    t = fd.type
    if t == fd.TYPE_FLOAT or t == fd.TYPE_DOUBLE:
        value = rng.choice(EXTREME_FLOATS)
    elif t == fd.TYPE_BOOL:
        value = rng.random() < 0.5
    elif t == fd.TYPE_ENUM:
        value = rng.choice([99, -1, 2**31 - 1])
    elif t == fd.TYPE_STRING:
        what, value = rng.choice(EXTREME_STRINGS)
        name += f" ({what})"
    elif t == fd.TYPE_BYTES:
        value = rng.choice([b"", b"\0", rng.randbytes(rng.randint(1, 64)), bytes(7), np.full(16, NAN, F32).tobytes()])
    else:
        kind = {fd.TYPE_UINT32: "uint32", fd.TYPE_INT32: "int32", fd.TYPE_UINT64: "uint64", fd.TYPE_INT64: "int64"}[t]
        value = rng.choice(EXTREME_INTS[kind])
    if fd.is_repeated:
        repeated = getattr(msg, fd.name)
        if len(repeated) and rng.random() < 0.5:
            repeated[rng.randrange(len(repeated))] = value
        else:
            repeated.append(value)
    else:
        setattr(msg, fd.name, value)
    shown = value if not isinstance(value, (str, bytes)) or len(value) <= 40 else f"{type(value).__name__} of {len(value)}"
    return f"{name} = {shown!r}", False


SUBMIT_MUTATIONS = [
    (m_column_length, 3), (m_nonfinite_column, 4), (m_out_of_unit_range, 4), (m_radii, 2), (m_huge_positions, 3),
    (m_point_counts, 3), (m_canvas, 2), (m_per_stroke, 2), (m_drawing_strings, 1), (m_raster, 5),
    (m_frames_near_limit, 3), (m_task_numbers, 4), (m_enum, 2), (m_request_fields, 4), (m_svg, 4), (m_any_field, 8), (m_path, 2),
]


def _apply_mutation(rng, request, inputs):
    while True:
        fn = rng.choices([f for f, _ in SUBMIT_MUTATIONS], weights=[w for _, w in SUBMIT_MUTATIONS])[0]
        try:
            return fn(rng, request, inputs) if fn is m_svg else fn(rng, request)
        except NotApplicable:
            continue


def _flip_bytes(rng, data: bytes) -> tuple[bytes, str]:
    data = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "insert", "append unknown field", "huge length prefix"])
    if kind == "flip" and data:
        spots = sorted(rng.randrange(len(data)) for _ in range(rng.randint(1, 8)))
        for i in spots:
            data[i] ^= rng.randint(1, 255)
        return bytes(data), f"bytes flipped at {spots}"
    if kind == "truncate" and data:
        cut = rng.randrange(len(data))
        return bytes(data[:cut]), f"truncated to {cut} of {len(data)} bytes"
    if kind == "insert":
        at = rng.randrange(len(data) + 1)
        junk = rng.randbytes(rng.randint(1, 16))
        return bytes(data[:at] + junk + data[at:]), f"{len(junk)} random bytes inserted at {at}"
    if kind == "append unknown field":
        tag = rng.choice([23 << 3, (99 << 3) | 2, (10 << 3), (536870911 << 3) | 0])
        return bytes(data) + _varint(tag) + _varint(2**64 - 1 if tag & 7 == 0 else 3) + (b"abc" if tag & 7 == 2 else b""), \
            f"field tag {tag >> 3} appended"
    # a length-delimited field that claims more bytes than follow
    return bytes(data) + _varint((5 << 3) | 2) + _varint(2**31), "field 5 claims 2^31 bytes"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# -- cases ----------------------------------------------------------------------------------------

@dataclass
class Case:
    index: int
    server: str  # "open" or "studio"
    rpc: str
    payload: bytes | Callable  # bytes, or (pool, rng) -> (bytes, more description) for cases with real ids
    description: str
    metadata: tuple = ()
    user: str | None = None  # who the metadata authenticates as on the studio server
    expect: grpc.StatusCode | None = None  # the one status allowed
    must_refuse: bool = False  # any status but OK
    cancel: bool = False  # cancel the job right after it is accepted (its outcome is then not checked)
    heavy: bool = False
    kind: str = ""  # what the mutation the contract refuses shares with others of its class


class Pool:
    """Ids of the jobs the run created, per server and owner."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs: dict[tuple[str, str], list[str]] = defaultdict(list)
        # Jobs cancelled anyway: CancelJob cases pick these, so jobs left to run stay uncancelled.
        self.cancellable: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(self, server, owner, job_id, cancellable: bool):
        with self.lock:
            self.jobs[server, owner].append(job_id)
            if cancellable:
                self.cancellable[server, owner].append(job_id)

    def pick(self, rng, server, owner, cancellable: bool = False):
        with self.lock:
            ids = (self.cancellable if cancellable else self.jobs).get((server, owner)) or []
            return rng.choice(ids) if ids else None


def _auth(rng) -> tuple[tuple, str | None, bool]:
    """(metadata, user, must be denied) for a call to the studio server."""
    if rng.random() < 0.75:
        user = rng.choice(list(TOKENS))
        return (("authorization", f"Bearer {TOKENS[user]}"),), user, False
    valid = TOKENS["ann"]
    metadata = rng.choice([
        (),
        (("authorization", "Bearer wrong-token-0123456789abcdef"),),
        (("authorization", f"Bearer {valid[:-1]}"),),
        (("authorization", f"Bearer {valid}x"),),
        (("authorization", valid),),
        (("authorization", "Bearer"),),
        (("authorization", "Bearer "),),
        (("authorization", f"Basic {valid}"),),
        (("authorization", "Bearer " + "t" * 4000),),  # under gRPC's 8 KB header limit, so it reaches the server
        (("authorization-bin", valid.encode()),),
        (("x-authorization", f"Bearer {valid}"),),
    ])
    return metadata, None, True


def _ids(rng) -> tuple[str, str]:
    return rng.choice([
        ("empty", ""), ("random hex", rng.randbytes(16).hex()), ("uuid with dashes", str(uuid.UUID(int=rng.getrandbits(128)))),
        ("1 MB", "j" * MB), ("2000 chars", "j" * 2000), ("non-ASCII", "\u0434\u0436\u043e\u0431"), ("SQL", "' OR '1'='1"),
        ("percent", "%"), ("underscore", "_"), ("star", "*"), ("NUL", "\x00"), ("emoji", "\U0001f408"),
    ])


def make_case(index: int, inputs: Inputs) -> Case:
    rng = random.Random(SEED * 1_000_003 + index)
    server = "studio" if rng.random() < 0.3 else "open"
    metadata, user, deny = _auth(rng) if server == "studio" else ((), "local", False)
    owner = user or "local"
    base = dict(index=index, server=server, metadata=metadata, user=user, expect=S.UNAUTHENTICATED if deny else None)
    roll = rng.random()

    if roll < 0.08:  # a valid submission
        request = _submission(rng, inputs)
        return Case(rpc="SubmitJob", payload=request.SerializeToString(), cancel=rng.random() < 0.5 or _slow(request),
                    description=f"valid {request.WhichOneof('task')}", **base)
    if roll < 0.50:  # a mutated one
        request = _submission(rng, inputs)
        descriptions, refusals = [], {}
        for _ in range(1 if rng.random() < 0.8 else 2):
            what, refused = _apply_mutation(rng, request, inputs)
            descriptions.append(what)
            # A later mutation of the same part may undo an earlier one: it alone then says.
            part = _part(what)
            refusals = {p: w for p, w in refusals.items() if not (p.startswith(part) or part.startswith(p))}
            refusals[part] = what if refused else None
        refusing = [w for w in refusals.values() if w]
        # A job accepted that should not have been is reported as that, and cancelled.
        return Case(rpc="SubmitJob", payload=request.SerializeToString(), must_refuse=bool(refusing),
                    cancel=bool(refusing) or _slow(request), kind=_kind(refusing[0]) if refusing else "",
                    description=f"{request.WhichOneof('task')}: " + "; ".join(descriptions), **base)
    if roll < 0.58:  # bytes of a valid one, damaged
        request = _submission(rng, inputs)
        data, what = _flip_bytes(rng, request.SerializeToString())
        return Case(rpc="SubmitJob", payload=data, description=f"{request.WhichOneof('task')}: {what}",
                    cancel=_slow(request), **base)
    if roll < 0.68:  # garbage bytes at any RPC
        rpc = rng.choice(list(REQUEST_TYPES))
        kind = rng.choice(["random", "random", "nested groups", "huge length", "empty", "varint overflow"])
        data = {
            "random": lambda: rng.randbytes(rng.randint(1, 512)),
            "nested groups": lambda: b"\x0b" * rng.randint(50, 5000),
            "huge length": lambda: b"\x0a\xff\xff\xff\xff\x0f" + rng.randbytes(8),
            "empty": lambda: b"",
            "varint overflow": lambda: b"\x08" + b"\xff" * 11,
        }[kind]()
        return Case(rpc=rpc, payload=data, description=f"raw bytes: {kind} ({len(data)} bytes)", **base)
    if roll < 0.80:  # the job RPCs with made-up ids
        rpc = rng.choice(["GetJob", "WatchJob", "CancelJob"])
        what, job_id = _ids(rng)
        request = REQUEST_TYPES[rpc](job_id=job_id)
        if rpc == "GetJob":
            request.include_result = rng.random() < 0.5
        return Case(rpc=rpc, payload=request.SerializeToString(), description=f"job_id: {what}",
                    must_refuse=True, **base)
    if roll < 0.88:  # the job RPCs with real ids (this user's, or on the studio server another's)
        rpc = rng.choice(["GetJob", "WatchJob", "CancelJob", "GetJob"])
        include = rng.random() < 0.5
        other = server == "studio" and user is not None and rng.random() < 0.3
        variant = rng.choice(["as is", "as is", "as is", "trailing space", "upper case"])

        def payload(pool, rng, server=server, owner=owner, other=other, variant=variant, rpc=rpc, include=include):
            whose = ({"ann": "bob", "bob": "ann"}[owner]) if other else owner
            job_id = pool.pick(rng, server, whose, cancellable=rpc == "CancelJob")
            if job_id is None:
                return None, "no job yet"
            job_id = {"as is": job_id, "trailing space": job_id + " ", "upper case": job_id.upper()}[variant]
            request = REQUEST_TYPES[rpc](job_id=job_id)
            if rpc == "GetJob":
                request.include_result = include
            return request.SerializeToString(), f"{variant} id {job_id[:12]}..."

        expect = base.pop("expect")
        if expect is None and other and variant == "as is":
            expect = S.NOT_FOUND  # not PERMISSION_DENIED: that would say the job exists
        return Case(rpc=rpc, payload=payload, expect=expect, must_refuse=variant != "as is",
                    description=f"{'another user' if other else 'own'} job, {variant}", **base)
    if roll < 0.97:  # ListJobs
        request = service_pb2.ListJobsRequest()
        parts, refuse = [], False
        if rng.random() < 0.5:
            request.page_size = rng.choice([0, 1, 2, 50, 500, 501, 2**31, 2**32 - 1])
            parts.append(f"page_size {request.page_size}")
            refuse = request.page_size > 500
        if rng.random() < 0.6:
            what, token, bad = rng.choice([
                ("30 nines", "9" * 30, False), ("19 nines", "9" * 19, False), ("2^63", str(2**63), False), ("0", "0", False),
                ("-1", "-1", True), ("arabic digits", "\u0661\u0662\u0663", False), ("superscript two", "\u00b2", True),
                ("circled one", "\u2460", True), ("5000 ones", "1" * 5000, False), ("1 MB", "x" * MB, True),
                ("12a", "12a", True), ("leading space", " 12", True), ("random", rng.randbytes(6).hex(), True),
                ("fullwidth digits", "\uff11\uff12", False),
            ])
            request.page_token = token
            parts.append(f"page_token {what}")
            refuse = refuse or bad
        if rng.random() < 0.4:
            states = rng.choice([[1, 2], [3], [0], [99], [-1], [2**31 - 1], list(range(7)) * 3, [3] * 40000])
            request.states.extend(states)
            parts.append(f"states {states[:4]}{'...' if len(states) > 4 else ''} ({len(states)})")
        return Case(rpc="ListJobs", payload=request.SerializeToString(), must_refuse=refuse,
                    description="ListJobs " + (", ".join(parts) or "defaults"), **base)
    # GetCapabilities, plain or with unknown fields
    data = b"" if rng.random() < 0.5 else _varint((7 << 3) | 2) + _varint(3) + b"abc"
    return Case(rpc="GetCapabilities", payload=data, description=f"capabilities ({len(data)} bytes)", **base)


def _part(description: str) -> str:
    """The part of the request a mutation changed: the message holding the field it names."""
    target = re.split(r"[ :=(]", description, maxsplit=1)[0].rstrip(".")
    parent = target.rsplit(".", 1)[0] if "." in target else target
    return re.sub(r"\[\d+\]$", "", parent)


def _kind(description: str) -> str:
    """A mutation's description without its numbers and where in the request: what a class of them
    shares (`inbetween.start.drawing.opacities: one value is 1.5` -> `opacities: one value is N`)."""
    text = re.sub(r"^[a-z_]+: (?=[a-z_]+\.)", "", description)  # "inbetween: inbetween.start..." -> "inbetween.start..."
    text = re.sub(r"\b[a-z_]+(\[\d+\])?\.(?=[a-z_])", "", text)  # the last part of a path
    text = re.sub(r"\[[\d, ]*\]", "[N]", text)
    text = re.sub(r"(one value is |values of )-?[\d.e+]+", r"\1N", text)
    return re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "N", text)[:100]


def _slow(request) -> bool:
    """Jobs on the paced test model take a second or so: cancelled, so the queue stays short."""
    return request.WhichOneof("task") == "inbetween" and request.inbetween.model == "test-slow"


def heavy_cases(start: int) -> list[Case]:
    """Few, slow to check, run one at a time at the end so what they cost is theirs."""
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    # 12000 strokes, over max_strokes (4096): the server reads them all before it says so (~2 s here).
    many = head + '<path d="M1 1 L20 20 L5 30" stroke="black" fill="none"/>' * 12000 + "</svg>"
    long = head + '<path stroke="black" fill="none" d="M0 0 ' + " ".join(f"L{i % 100} {i % 97}" for i in range(15000)) + '"/></svg>'
    cases = []
    for i, (what, svg) in enumerate((("12000 paths", many), ("one path of 15000 segments", long))):
        # An empty prompt: refused after the sketch is read, so no job is left to run.
        request = service_pb2.SubmitJobRequest(text_motion=tasks_pb2.TextMotionRequest(sketch_svg=svg, prompt=""))
        cases.append(Case(index=start + i, server="open", rpc="SubmitJob", payload=request.SerializeToString(),
                          description=f"text_motion.sketch_svg: {what} ({len(svg) // 1024} KB), prompt empty",
                          must_refuse=True, heavy=True))
    request = service_pb2.ListJobsRequest(states=[3] * 40000)
    cases.append(Case(index=start + 2, server="open", rpc="ListJobs", payload=request.SerializeToString(),
                      description="ListJobs states [3] x 40000", heavy=True))
    return cases


# -- checks ---------------------------------------------------------------------------------------

_PATH = re.compile(r"^([a-z_][a-z0-9_]*(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): ")


def names_a_field(details: str, message_type) -> bool:
    """Whether details start with `path: ` and the path runs through the request's fields (a oneof's
    name may end it, a scalar's may be followed by what is inside it; `request` is the whole message)."""
    match = _PATH.match(details)
    if not match:
        return False
    parts = match.group(1).split(".")
    if parts == ["request"]:
        return True
    descriptor = message_type.DESCRIPTOR
    for i, part in enumerate(parts):
        name = part.split("[")[0]
        if descriptor is None:  # past a scalar field: what follows is inside its value (`sketch_svg.width`)
            return i > 0
        if name in descriptor.fields_by_name:
            descriptor = descriptor.fields_by_name[name].message_type
        elif name in descriptor.oneofs_by_name and i == len(parts) - 1:  # `task: no task is set`
            return True
        else:
            return False
    return True


def _short(text: str, n: int = 160) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} chars)"


def _class_key(details: str) -> str:
    text = re.sub(r"'[^']*'", "'…'", details[:120])
    text = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "N", text)
    return re.sub(r"(x|j|l|m|p|y|c){20,}", "…", text)


@dataclass
class Failure:
    check: str
    server: str
    rpc: str
    case: str
    code: str
    details: str
    kind: str = ""

    def key(self):
        # Without details (a request accepted that should not be) the mutation is what sets it apart.
        return self.check, self.rpc, self.code, _class_key(self.details) if self.details else self.kind or self.case


class Run:
    def __init__(self, procs):
        self.procs = procs
        options = [("grpc.max_receive_message_length", 64 * MB), ("grpc.max_send_message_length", 64 * MB)]
        self.channels = {name: grpc.insecure_channel(p.address, options=options) for name, p in procs.items()}
        self.pool = Pool()
        self.lock = threading.Lock()
        self.failures: list[Failure] = []
        self.in_flight: dict[int, str] = {}
        self.accepted: list[tuple[Case, str, str]] = []  # (case, server, job id) left to run
        self.counts: dict[str, int] = defaultdict(int)
        self.invalid_details = {"over 1 KB": 0, "no field": 0, "total": 0}
        self.health_worst = 0.0
        self.health_worst_traffic = 0.0  # before the heavy cases
        self.health_checks = 0
        self.slowest: list[tuple] = []  # the slowest health checks, with what was in flight

    def fail(self, check, case: Case | None, code="", details="", server=None, rpc=None):
        where = f"#{case.index} {case.description}" if case else ""
        with self.lock:
            self.failures.append(Failure(check, server or (case.server if case else ""), rpc or (case.rpc if case else ""),
                                         where, code, _short(details or ""), case.kind if case else ""))

    # -- health --

    def health(self, name: str, *, background: bool = False) -> float:
        started = time.monotonic()
        try:
            reply = health_pb2_grpc.HealthStub(self.channels[name]).Check(health_pb2.HealthCheckRequest(), timeout=HEALTH_DEADLINE)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            problem = None if reply.status == health_pb2.HealthCheckResponse.SERVING else f"status {status}"
        except grpc.RpcError as error:
            problem = f"{error.code().name}: {error.details()}"
        took = time.monotonic() - started
        with self.lock:
            self.health_worst = max(self.health_worst, took)
            self.health_checks += 1
            busy = "; ".join(sorted(self.in_flight.values()))[:600]
            at = time.strftime("%H:%M:%S", time.localtime(time.time() - took))  # to find in the server's log
            self.slowest = sorted(self.slowest + [(round(took * 1000), name, at, busy[:300])], reverse=True)[:12]
        if problem:
            self.fail("health not SERVING within 1 s", None, details=f"{problem} after {took:.2f} s, in flight: {busy or 'nothing'}",
                      server=name, rpc="Health/Check" + (" (poller)" if background else ""))
        return took

    # -- one call --

    def call(self, case: Case) -> None:
        rng = random.Random(SEED * 7919 + case.index)
        payload, description = case.payload, case.description
        if callable(payload):
            payload, more = payload(self.pool, rng)
            if payload is None:  # no job of that kind yet: ask about a made-up one instead
                payload = REQUEST_TYPES[case.rpc](job_id=rng.randbytes(16).hex()).SerializeToString()
                case = Case(**{**case.__dict__, "expect": case.expect or S.NOT_FOUND})
            description = f"{description} ({more})"
            case.description = description
        channel = self.channels[case.server]
        method = SERVICE + case.rpc
        key = threading.get_ident()
        with self.lock:
            self.in_flight[key] = f"#{case.index} {case.rpc} {description[:80]}"
        code, details, replies = S.OK, "", []
        try:
            if case.rpc in UNARY:
                replies = [channel.unary_unary(method)(payload, timeout=DEADLINE, metadata=case.metadata)]
            else:
                stream = channel.unary_stream(method)(payload, timeout=DEADLINE, metadata=case.metadata)
                for reply in stream:
                    replies.append(reply)
                    if case.rpc == "WatchJob":  # a watcher that looks once and goes
                        stream.cancel()
                        break
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code == S.CANCELLED and case.rpc == "WatchJob" and replies:
                code = S.OK
        finally:
            with self.lock:
                self.in_flight.pop(key, None)
                self.counts[code.name] += 1
        self.check(case, code, details, replies)

    def check(self, case: Case, code, details: str, replies) -> None:
        if code in FORBIDDEN or code not in ALLOWED:
            self.fail(f"status {code.name}", case, code.name, details)
            return
        if code == S.RESOURCE_EXHAUSTED and "metadata size" in details:
            self.fail("status details too big to deliver", case, code.name, details)
            return
        if case.expect is not None and code != case.expect:
            self.fail(f"expected {case.expect.name}", case, code.name, details)
        elif case.must_refuse and code == S.OK:
            self.fail("accepted what the contract refuses", case, code.name, "")
        if code != S.OK and len(details.encode()) > MAX_DETAILS:
            self.fail("details over 1 KB", case, code.name, details)
        if code == S.INVALID_ARGUMENT:
            with self.lock:
                self.invalid_details["total"] += 1
                if len(details.encode()) > MAX_DETAILS:
                    self.invalid_details["over 1 KB"] += 1
            if not names_a_field(details, REQUEST_TYPES[case.rpc]):
                with self.lock:
                    self.invalid_details["no field"] += 1
                self.fail("INVALID_ARGUMENT names no field", case, code.name, details)
        if code == S.OK and case.rpc == "SubmitJob":
            job = service_pb2.SubmitJobResponse.FromString(replies[0]).job
            owner = case.user or "local"
            self.pool.add(case.server, owner, job.id, cancellable=case.cancel)
            if case.cancel:
                self.cancel(case, job.id)
            else:
                with self.lock:
                    self.accepted.append((case, case.server, job.id))

    def cancel(self, case: Case, job_id: str) -> None:
        try:
            self.channels[case.server].unary_unary(SERVICE + "CancelJob")(
                service_pb2.CancelJobRequest(job_id=job_id).SerializeToString(), timeout=DEADLINE, metadata=case.metadata)
        except grpc.RpcError as error:
            self.fail("cancel of an accepted job", case, error.code().name, error.details() or "", rpc="CancelJob")

    # -- the end: accepted jobs, and who sees what --

    def job(self, server: str, job_id: str, metadata, include_result=False):
        replies = list(self.channels[server].unary_stream(SERVICE + "GetJob")(
            service_pb2.GetJobRequest(job_id=job_id, include_result=include_result).SerializeToString(),
            timeout=DEADLINE * 4, metadata=metadata))
        return [service_pb2.GetJobResponse.FromString(r) for r in replies]

    def settle(self) -> None:
        deadline = time.monotonic() + SETTLE
        pending = list(self.accepted)
        finals = {}
        while pending and time.monotonic() < deadline:
            still = []
            for case, server, job_id in pending:
                job = self.job(server, job_id, case.metadata)[0].job
                if job.state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING):
                    still.append((case, server, job_id))
                else:
                    finals[job_id] = job
            pending = still
            if pending:
                time.sleep(0.2)
        for case, server, job_id in pending:
            self.fail(f"accepted job still {jobs_pb2.JobState.Name(self.job(server, job_id, case.metadata)[0].job.state)} "
                      f"{SETTLE:.0f} s after the traffic", case, details=job_id, rpc="SubmitJob")
            self.cancel(case, job_id)
        for case, server, job_id in self.accepted:
            job = finals.get(job_id)
            if job is None:
                continue
            if job.state == jobs_pb2.JOB_STATE_FAILED and not any(m in job.error for m in MODEL_MISSING):
                self.fail("accepted at submission, FAILED when run", case, "FAILED", job.error, rpc="SubmitJob")
            elif job.state == jobs_pb2.JOB_STATE_SUCCEEDED:
                self.check_result(case, server, job_id)
            elif job.state not in (jobs_pb2.JOB_STATE_FAILED, jobs_pb2.JOB_STATE_SUCCEEDED, jobs_pb2.JOB_STATE_CANCELLED):
                self.fail(f"accepted job ended {jobs_pb2.JobState.Name(job.state)}", case, details=job.error, rpc="SubmitJob")

    def check_result(self, case, server, job_id) -> None:
        replies = self.job(server, job_id, case.metadata, include_result=True)
        info = replies[0].job.result
        keys = [r.keyframe for r in replies[1:]]
        if len(keys) != info.keyframe_count:
            self.fail("result keyframe count", case, "SUCCEEDED", f"{len(keys)} keyframes, info says {info.keyframe_count}")
        for i, key in enumerate(keys):
            try:
                if key.WhichOneof("content") == "drawing":
                    drawing_from_proto(key.drawing, f"keyframes[{i}].drawing")
                else:
                    raster_from_proto(key.raster, f"keyframes[{i}].raster")
            except Exception as exc:
                self.fail("SUCCEEDED with a result that does not decode", case, "SUCCEEDED", f"{type(exc).__name__}: {exc}",
                          rpc="GetJob")
                return

    def owners(self) -> None:
        """Each user's job list holds their own jobs only, each once, and all of them."""
        users = [("open", "local", ())] + [("studio", u, (("authorization", f"Bearer {t}"),)) for u, t in TOKENS.items()]
        for server, user, metadata in users:
            seen, page_token = [], ""
            while True:
                reply = service_pb2.ListJobsResponse.FromString(self.channels[server].unary_unary(SERVICE + "ListJobs")(
                    service_pb2.ListJobsRequest(page_size=100, page_token=page_token).SerializeToString(),
                    timeout=DEADLINE, metadata=metadata))
                seen += reply.jobs
                page_token = reply.next_page_token
                if not page_token:
                    break
            strangers = [j.id for j in seen if j.owner != user]
            if strangers:
                self.fail(f"{user} lists other users' jobs", None, details=", ".join(strangers[:5]), server=server, rpc="ListJobs")
            ids = [j.id for j in seen]
            if len(ids) != len(set(ids)):
                self.fail(f"{user}'s job list repeats jobs", None, server=server, rpc="ListJobs")
            want = set(self.pool.jobs.get((server, user), []))
            if not want <= set(ids):
                self.fail(f"{user}'s job list misses jobs", None, details=f"{len(want - set(ids))} of {len(want)}",
                          server=server, rpc="ListJobs")


def _report(run: Run, cases: int, seconds: float, path: Path) -> str:
    groups: dict[tuple, list[Failure]] = defaultdict(list)
    for f in run.failures:
        groups[f.key()].append(f)
    lines = [f"{len(run.failures)} failures in {len(groups)} classes (seed {SEED}, {cases} cases in {seconds:.1f} s; "
             f"worst health latency {run.health_worst * 1000:.0f} ms; all of them in {path}):"]
    for (check, rpc, code, _), items in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        first = items[0]
        lines.append(f"- [{len(items)}x] {first.server} {rpc}: {check}" + (f" -> {code}" if code else "") +
                     (f": {first.details}" if first.details else ""))
        for f in items[:2]:
            if f.case:
                lines.append(f"      e.g. {_short(f.case, 200)}")
    return "\n".join(lines)


# -- the test -------------------------------------------------------------------------------------

def _inputs(vector_sketches, raster_sketches) -> Inputs:
    pngs = []
    for p in raster_sketches:
        with Image.open(p) as image:
            if image.width * image.height <= 400 * 400:  # small ones: jobs stay quick
                pngs.append(Path(p).read_bytes())
    return Inputs(svgs=[Path(p).read_text(encoding="utf-8") for p in vector_sketches], pngs=pngs)


@pytest.mark.slow
def test_random_and_broken_requests_never_break_the_server(servers, vector_sketches, raster_sketches, tmp_path):
    inputs = _inputs(vector_sketches, raster_sketches)
    run = Run(servers)
    for name in servers:
        run.health(name)

    stop = threading.Event()

    def poll():
        while not stop.wait(HEALTH_POLL):
            for name in servers:
                run.health(name, background=True)

    poller = threading.Thread(target=poll, daemon=True)
    started = time.monotonic()
    poller.start()
    try:
        indices = sorted(ONLY) if ONLY else list(range(CASES))
        not_run = 0
        with ThreadPoolExecutor(THREADS) as pool:
            for at in range(0, len(indices), HEALTH_EVERY):
                if time.monotonic() - started > BUDGET:
                    not_run = len(indices) - at
                    break
                batch = [make_case(i, inputs) for i in indices[at:at + HEALTH_EVERY] if i < CASES]
                list(pool.map(run.call, batch))
                for name in servers:
                    run.health(name)
        run.health_worst_traffic = run.health_worst
        heavy = [c for c in heavy_cases(CASES) if not ONLY or c.index in ONLY]
        for case in heavy:
            run.call(case)
        if not_run:
            run.fail(f"time budget of {BUDGET:.0f} s spent", None, details=f"{not_run} cases not run")
        traffic = time.monotonic() - started
        for name in servers:  # after the heavy ones: back to normal?
            run.health(name)
        for step in (run.settle, run.owners):
            try:
                step()
            except grpc.RpcError as error:
                run.fail(f"{step.__name__}: a plain call failed", None, error.code().name, error.details() or "", rpc="-")
    finally:
        stop.set()
        poller.join(5)
    for name, proc in servers.items():
        if proc.proc.poll() is not None:
            run.fail("server died", None, details=proc.log[-800:], server=name, rpc="-")
    seconds = time.monotonic() - started

    tracebacks = {name: sum("Traceback" in line for line in proc.lines) for name, proc in servers.items()}
    summary = {
        "seed": SEED, "cases": len(indices) + len(heavy), "traffic_seconds": round(traffic, 1), "seconds": round(seconds, 1),
        "statuses": dict(run.counts), "health_checks": run.health_checks,
        "health_worst_ms": round(run.health_worst * 1000), "health_worst_before_heavy_ms": round(run.health_worst_traffic * 1000),
        "accepted_left_to_run": len(run.accepted), "slowest_health": run.slowest,
        "invalid_argument_details": run.invalid_details, "server_log_tracebacks": tracebacks,
    }
    path = tmp_path / "fuzz_failures.json"
    path.write_text(json.dumps({"summary": summary, "failures": [f.__dict__ for f in run.failures]}, indent=1, ensure_ascii=False))
    print("fuzz summary:", json.dumps(summary))
    if os.environ.get("INKMOTION_FUZZ_LOGS"):  # keep the servers' logs beside the failures
        for name, proc in servers.items():
            (tmp_path / f"{name}.log").write_text(proc.log)
    if run.failures:
        pytest.fail(_report(run, summary["cases"], seconds, path), pytrace=False)
    assert run.health_worst < HEALTH_DEADLINE


if __name__ == "__main__":  # python tests/test_fuzz.py 17 230: what those cases send
    import sys
    import tempfile

    from google.protobuf import text_format

    sys.path.insert(0, str(Path(__file__).parent))
    import fixtures

    with tempfile.TemporaryDirectory() as tmp:
        inputs = _inputs(fixtures.write_vector_sketches(Path(tmp) / "vector"), fixtures.write_raster_sketches(Path(tmp) / "raster"))
    for i in map(int, sys.argv[1:]):
        case = make_case(i, inputs) if i < CASES else heavy_cases(CASES)[i - CASES]
        print(f"#{i} {case.server} {case.rpc} {case.metadata!r:.80}: {case.description}")
        payload = case.payload if isinstance(case.payload, bytes) else b""
        try:
            message = REQUEST_TYPES[case.rpc].FromString(payload)
            for _, part in _walk(message, ""):  # long bytes and strings shown by their size
                for fd, value in part.ListFields():
                    if fd.type in (fd.TYPE_BYTES, fd.TYPE_STRING) and not fd.is_repeated and len(value) > 64:
                        setattr(part, fd.name, f"<{len(value)} {'bytes' if fd.type == fd.TYPE_BYTES else 'chars'}>"
                                .encode() if fd.type == fd.TYPE_BYTES else f"<{len(value)} chars>")
            print(text_format.MessageToString(message)[:3000])
        except Exception as exc:
            print(f"  ({len(payload)} bytes that do not parse: {exc}) {payload[:200]!r}")

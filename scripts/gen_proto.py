#!/usr/bin/env python3
"""Regenerate the Python code for the contract in proto/ (run after editing a .proto file).

    python scripts/gen_proto.py            # writes server/inkmotion/v1/
    python scripts/gen_proto.py --out DIR  # writes DIR/inkmotion/v1/ (the tests compare the two)

The output is reproducible: it depends only on the .proto files and the pinned grpcio-tools.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("inkmotion/v1")


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc  # from the test extras: pip install -e '.[dev]'
    import grpc_tools

    protos = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out_dir = out_root / PACKAGE
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for stub in out_dir.glob("*_pb2_grpc.py"):  # protoc writes one per file, services or not
        if "class " not in stub.read_text():
            stub.unlink()
    init = out_dir / "__init__.py"
    init.write_text('"""Generated from proto/inkmotion/v1 by scripts/gen_proto.py. Do not edit."""\n')
    return sorted(p for p in out_dir.iterdir() if p.suffix in (".py", ".pyi"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "server", help="output root")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)


if __name__ == "__main__":
    sys.exit(main())

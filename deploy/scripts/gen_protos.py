"""Regenerate Python code and Envoy's descriptor set from protos/ (``make protos``).

Uses the pinned grpcio-tools so the gencode never runs ahead of the protobuf runtime.
google/api/*.proto come from the googleapis-common-protos wheel, google/protobuf/*.proto
from grpcio-tools: nothing is vendored.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

import google.api
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
OUT = ROOT / "services"
DESCRIPTOR = ROOT / "gateway" / "mediatasks.pb"


def include_dirs() -> list[str]:
    googleapis_root = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(str(files("grpc_tools") / "_proto"))
    return [str(PROTOS), str(googleapis_root), str(well_known)]


def main() -> int:
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "mediatasks" / "v1").glob("*.proto"))
    includes = [f"-I{d}" for d in include_dirs()]
    code_args = ["protoc", *includes, f"--python_out={OUT}", f"--pyi_out={OUT}", f"--grpc_python_out={OUT}", *sources]
    if protoc.main(code_args) != 0:
        return 1
    descriptor_args = [
        "protoc",
        *includes,
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={DESCRIPTOR}",
        *sources,
        # Error details ride in google.rpc.Status; Envoy must know their types to print them.
        "google/rpc/error_details.proto",
    ]
    if protoc.main(descriptor_args) != 0:
        return 1
    init = OUT / "mediatasks" / "v1" / "__init__.py"
    init.write_text('"""Generated from protos/mediatasks/v1 by `make protos`; do not edit."""\n')
    return 0


if __name__ == "__main__":
    sys.exit(main())

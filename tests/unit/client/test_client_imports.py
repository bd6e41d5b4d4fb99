"""The SDK installs and imports without the server: no gRPC, protobuf, NATS, database or
settings code is loaded by ``import mediatasks.client``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SERVER_MODULES = (
    "grpc",
    "google.protobuf",
    "google.rpc",
    "nats",
    "sqlalchemy",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "prometheus_client",
    "mediatasks.core",
    "mediatasks.registry",
    "mediatasks.v1",
)

_PROGRAM = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"server module {{name}} imported by the client")
            return None

    sys.meta_path.insert(0, Refuse())
    import mediatasks.client as sdk
    from mediatasks.client import Client, AsyncClient, verify_webhook
    with Client("http://127.0.0.1:9", api_key="k") as client:
        assert client.videos.caption and client.tasks.list
    import mediatasks.cli.tasks_commands  # the terminal commands build on the SDK alone
    loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
    assert not loaded, loaded
    print("ok")
    """
)


def test_the_sdk_imports_with_every_server_module_refused() -> None:
    program = _PROGRAM.format(blocked=SERVER_MODULES)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_refusing_finder_does_refuse() -> None:
    # The check above would pass vacuously if the finder never fired: make it fire.
    program = _PROGRAM.format(blocked=SERVER_MODULES).replace("import mediatasks.client as sdk", "import grpc")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "server module grpc imported by the client" in done.stderr

"""The package layers hold: no import runs upward and services never import each other.

From the ground up: ``v1`` (generated) -> ``core`` (the runtime every service shares) and
``media`` (media libraries) -> ``providers`` (routing and vendor adapters) ->
``media_service`` (how a media service is assembled) -> the services (``registry``,
``image``, ``video``, ``audio``, ``subtitle``) -> ``cli``. ``devstack`` (embedded servers,
local stacks) is for ``cli``, ``bench``, ``testing`` and the tests only. Every import is
counted, function-local ones too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "mediatasks"

MEDIA_SERVICES = ("image", "video", "audio", "subtitle")
# What each top-level part of ``mediatasks`` may import (itself always).
ALLOWED: dict[str, set[str]] = {
    "v1": set(),
    "core": {"v1"},
    "media": {"core", "v1"},
    "providers": {"core", "media", "v1"},
    "media_service": {"core", "media", "providers", "v1"},
    # The public worker SDK: task types a user writes, on the core worker runtime.
    "worker": {"core", "v1"},
    # Background tasks: the /api/background/ façade (served by the registry) and the
    # built-in types (written on the worker SDK).
    "background": {"core", "worker", "v1"},
    # The seeds' own APIs (issue 12): façades over the registry's tasks, served by it.
    "dialects": {"core", "v1"},
    "registry": {"core", "media", "providers", "background", "dialects", "v1"},
    **{name: {"core", "media", "providers", "media_service", "v1"} for name in MEDIA_SERVICES},
    "devstack": {"core", "v1"},
    # The SDK stands apart: users install it without the server, so it imports no server
    # layer (its gRPC flavour uses the generated stubs only).
    "client": {"v1"},
    "testing": {"core", "media", "providers", "v1"},
    "cli": {"core", "registry", "media_service", "devstack", "worker", "client", "v1", *MEDIA_SERVICES},
    "bench": {"core", "devstack", "v1", "bench_peers", "bench_operations"},
    # What a phase asked of PostgreSQL and NATS, read from the stack's servers.
    "bench_operations": {"devstack"},
    # Celery and Dramatiq beside the bench, with its CPU accounting.
    "bench_peers": {"bench"},
    "bench_media": {"core", "devstack", "media", "providers", "v1"},
    # Runs the caption work directly (the function the video worker calls) beside a job.
    "bench_transfers": {"core", "devstack", "media", "testing", "video", "v1"},
    "chaos": {"core", "devstack", "v1"},
}


def part_of(module: str) -> str | None:
    """``mediatasks.core.worker`` -> ``core``; None for anything outside the package."""
    parts = module.split(".")
    if parts[0] != "mediatasks" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path) -> set[str]:
    """Every ``mediatasks.*`` module ``path`` imports, wherever the import stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from mediatasks import video`` imports the part named by the alias.
            if node.module == "mediatasks":
                found.update(f"mediatasks.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("mediatasks.")}


def violations(import_map: dict[str, set[str]]) -> list[str]:
    """``"<part> file -> module"`` for every import the layers forbid."""
    wrong = []
    for source, modules in sorted(import_map.items()):
        own = part_of(source)
        assert own in ALLOWED, f"{source}: a new top-level part; give it a place in ALLOWED"
        for module in sorted(modules):
            target = part_of(module)
            if target is not None and target != own and target not in ALLOWED[own]:
                wrong.append(f"{source} -> {module}")
    return wrong


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_imports() -> dict[str, set[str]]:
    return {
        _module_name(path): imports_of(path)
        for path in PACKAGE.rglob("*.py")
        if "v1" not in path.relative_to(PACKAGE).parts[:1]
        and "migrations" not in path.parts
        and path != PACKAGE / "__init__.py"
    }


def test_no_import_runs_upward_or_sideways() -> None:
    wrong = violations(package_imports())
    assert not wrong, "imports the layers forbid:\n" + "\n".join(wrong)


def test_production_code_never_imports_devstack() -> None:
    users = {
        part_of(source)
        for source, modules in package_imports().items()
        if any(part_of(module) == "devstack" for module in modules)
    }
    assert users <= {"devstack", "cli", "bench", "bench_operations", "bench_transfers", "chaos", "testing"}, users


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("mediatasks.core.worker", "mediatasks.providers.router"),  # upward
        ("mediatasks.video.handlers", "mediatasks.audio.formats"),  # sideways
        ("mediatasks.media.cues", "mediatasks.subtitle.rules"),  # upward
        ("mediatasks.registry.servicer", "mediatasks.devstack.stack"),  # dev-only code
    ],
)
def test_the_rule_catches_a_forbidden_import(source: str, module: str) -> None:
    assert violations({source: {module}}) == [f"{source} -> {module}"]


def test_the_rule_sees_function_local_imports(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from mediatasks.video import handlers\n    import mediatasks.audio.formats\n")
    assert imports_of(source) == {"mediatasks.video", "mediatasks.audio.formats"}

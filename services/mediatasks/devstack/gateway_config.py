"""The Envoy gateway's configuration: the committed template and a renderer for local runs.

``gateway/envoy.yaml`` is the configuration as deployed in Kubernetes (listener on
0.0.0.0:8080, one STRICT_DNS cluster per service at ``<service>:50051``, the descriptor
set at ``/etc/mediatasks/mediatasks.pb``). ``mediatasks up`` and the tests run the very
same file through :func:`render_envoy_config`, which parses it as YAML and changes only
the addresses, the descriptor path, the paths of the files Envoy serves itself and the
access log, so that what is tested is what is deployed. Run the result with
:class:`mediatasks.devstack.embedded_envoy.EmbeddedEnvoy`.

The gateway files live in ``gateway/`` at the top of the repository; the container image
copies that directory beside the code. :func:`gateway_dir` finds it by walking up from this
module (then from the working directory); every function here also takes an explicit path.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mediatasks.core.settings import SERVICES

log = logging.getLogger(__name__)

GATEWAY_DIR_NAME = "gateway"
TEMPLATE_NAME = "envoy.yaml"
DESCRIPTOR_NAME = "mediatasks.pb"

LISTENER_NAME = "rest"
TRANSCODER_FILTER = "envoy.filters.http.grpc_json_transcoder"
HCM_FILTER = "envoy.filters.network.http_connection_manager"
_FILE_ACCESS_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


class GatewayConfigError(RuntimeError):
    """The gateway template is missing or does not have the shape the renderer expects."""


def gateway_dir(start: Path | str | None = None) -> Path:
    """The directory holding ``envoy.yaml`` and ``mediatasks.pb``.

    Looks for ``gateway/envoy.yaml`` beside ``start`` and each of its parents. Without
    ``start`` it searches from this module (a checkout, or an image with ``gateway/``
    copied beside the code), then from the working directory (a non-editable install run
    from the repository).
    """
    starts = [Path(start)] if start is not None else [Path(__file__).resolve(), Path.cwd()]
    for here in starts:
        for parent in [here, *here.parents]:
            candidate = parent / GATEWAY_DIR_NAME
            if (candidate / TEMPLATE_NAME).is_file():
                return candidate
    searched = ", ".join(str(here) for here in starts)
    raise GatewayConfigError(f"no {GATEWAY_DIR_NAME}/{TEMPLATE_NAME} found above {searched}; pass its path explicitly")


def envoy_config_template(directory: Path | str | None = None) -> Path:
    """The committed Envoy configuration (``gateway/envoy.yaml``)."""
    base = Path(directory) if directory is not None else gateway_dir()
    return base / TEMPLATE_NAME


def descriptor_path(directory: Path | str | None = None) -> Path:
    """The committed descriptor set the transcoder loads (``gateway/mediatasks.pb``)."""
    base = Path(directory) if directory is not None else gateway_dir()
    return base / DESCRIPTOR_NAME


def load_envoy_config(template: Path | str | None = None) -> dict[str, Any]:
    """The template parsed into plain dicts and lists."""
    path = Path(template) if template is not None else envoy_config_template()
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise GatewayConfigError(f"envoy config template not found: {path}") from exc
    if not isinstance(config, dict):
        raise GatewayConfigError(f"{path} is not a YAML mapping")
    return config


def render_envoy_config(
    *,
    listen_port: int,
    admin_port: int,
    upstreams: Mapping[str, str],
    descriptor_path: Path | str,
    access_log_path: Path | str | None = None,
    listen_address: str = "127.0.0.1",
    template: Path | str | None = None,
    rate_limit_per_second: int | None = None,
    static_dir: Path | str | None = None,
) -> str:
    """The committed config with local addresses, as YAML text for ``envoy -c``.

    ``upstreams`` maps service (= cluster) names from :data:`SERVICES` to ``"host:port"``.
    An IP literal becomes a STATIC endpoint, a host name STRICT_DNS. A service left out
    keeps its cluster with no endpoints, so its routes answer 503 (``no healthy
    upstream``) instead of Envoy resolving the Kubernetes name. ``access_log_path``
    replaces the stdout access log with a file; ``listen_address`` defaults to loopback
    (Kubernetes uses the template's 0.0.0.0). The files Envoy serves itself (the OpenAPI
    document, the console) sit beside the descriptor in the deployed directory; they are read
    from ``static_dir`` instead (default: :func:`gateway_dir`).
    """
    unknown = sorted(set(upstreams) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown gateway upstreams {unknown}; expected some of {SERVICES}")
    config = load_envoy_config(template)

    config["admin"]["address"]["socket_address"] = {
        "address": "127.0.0.1",
        "port_value": int(admin_port),
    }
    listener = _listener(config)
    listener["address"]["socket_address"] = {
        "address": listen_address,
        "port_value": int(listen_port),
    }
    manager = _connection_manager(listener)
    point_static_files(config, static_dir)
    _transcoder(manager)["proto_descriptor"] = str(Path(descriptor_path).absolute())
    if access_log_path is not None:
        manager["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {"@type": _FILE_ACCESS_LOG_TYPE, "path": str(access_log_path)},
            }
        ]

    if rate_limit_per_second is not None:
        _set_rate_limit(manager, rate_limit_per_second)

    clusters = {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}
    missing = sorted(set(SERVICES) - set(clusters))
    if missing:
        raise GatewayConfigError(f"the gateway template has no cluster for {missing}")
    for name in SERVICES:
        _point_cluster(clusters[name], upstreams.get(name))
    return yaml.dump(config, Dumper=_LiteralDumper, sort_keys=False, width=100)


def write_envoy_config(path: Path | str, **kwargs: Any) -> Path:
    """Render (see :func:`render_envoy_config`) into ``path``; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_envoy_config(**kwargs))
    return target


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) as a (host, port) pair."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


# --- template navigation ---------------------------------------------------------------


def _listener(config: dict[str, Any]) -> dict[str, Any]:
    for listener in config.get("static_resources", {}).get("listeners", []):
        if listener.get("name") == LISTENER_NAME:
            return listener
    raise GatewayConfigError(f"the gateway template has no listener named {LISTENER_NAME!r}")


def _connection_manager(listener: dict[str, Any]) -> dict[str, Any]:
    for chain in listener.get("filter_chains", []):
        for network_filter in chain.get("filters", []):
            if network_filter.get("name") == HCM_FILTER:
                return network_filter["typed_config"]
    raise GatewayConfigError("the gateway listener has no HTTP connection manager")


def _transcoder(manager: dict[str, Any]) -> dict[str, Any]:
    for http_filter in manager.get("http_filters", []):
        if http_filter.get("name") == TRANSCODER_FILTER:
            return http_filter["typed_config"]
    raise GatewayConfigError("the gateway has no grpc_json_transcoder filter")


def point_static_files(config: dict[str, Any], local_dir: Path | str | None = None) -> None:
    """Read the files Envoy serves itself (``direct_response`` bodies: the OpenAPI document,
    the console) from ``local_dir`` (default :func:`gateway_dir`) instead of the deployed
    directory, where the template mounts the descriptor set; relative paths are kept."""
    manager = _connection_manager(_listener(config))
    deployed_dir = PurePosixPath(_transcoder(manager)["proto_descriptor"]).parent
    base = Path(local_dir) if local_dir is not None else gateway_dir()
    for virtual_host in manager["route_config"]["virtual_hosts"]:
        for route in virtual_host["routes"]:
            body = route.get("direct_response", {}).get("body", {})
            filename = body.get("filename")
            if filename is None:
                continue
            try:
                relative = PurePosixPath(filename).relative_to(deployed_dir)
            except ValueError:
                raise GatewayConfigError(f"{filename} is not under {deployed_dir}, beside the descriptor set") from None
            body["filename"] = str((base / relative).absolute())


def _set_rate_limit(manager: dict[str, Any], per_second: int) -> None:
    """Each credential's token bucket: ``per_second`` sustained, twice that as burst."""
    for http_filter in manager["http_filters"]:
        if http_filter["name"] == "envoy.filters.http.local_ratelimit":
            for descriptor in http_filter["typed_config"]["descriptors"]:
                descriptor["token_bucket"] = {
                    "max_tokens": 2 * per_second,
                    "tokens_per_fill": per_second,
                    "fill_interval": "1s",
                }
            return
    raise GatewayConfigError("the gateway template has no local_ratelimit filter")


def _point_cluster(cluster: dict[str, Any], address: str | None) -> None:
    """Aim ``cluster`` at ``address`` (or at nothing when it is None). ``address`` may list
    several replicas separated by commas; Envoy balances across them."""
    name = cluster["name"]
    if address is None:
        log.debug("gateway cluster %s has no upstream: its routes will answer 503", name)
        cluster["type"] = "STATIC"
        cluster["load_assignment"] = {"cluster_name": name, "endpoints": []}
        return
    endpoints = []
    cluster["type"] = "STATIC"
    for part in address.split(","):
        host, port = split_host_port(part.strip())
        try:
            ipaddress.ip_address(host)
        except ValueError:
            cluster["type"] = "STRICT_DNS"
        endpoints.append({"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}})
    cluster["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings (the Lua script) as ``|`` blocks, and no YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _str_representer)

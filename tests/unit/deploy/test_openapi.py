"""gateway/openapi.json: a valid OpenAPI 3.1 document, up to date with the protos, holding
every google.api.http rule the way the transcoder speaks it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2
from mediatasks import v1
from mediatasks.core.catalog import KINDS
from mediatasks.core.server import PUBLIC_METHODS
from mediatasks.devstack import gateway_config
from mediatasks.v1 import tasks_pb2
from openapi_spec_validator import validate

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = REPO / "gateway" / "openapi.json"
# Every generated message module, so a new proto file's rules are checked too.
PROTO_MODULES = [
    importlib.import_module(f"mediatasks.v1.{info.name}")
    for info in pkgutil.iter_modules(v1.__path__)
    if info.name.endswith("_pb2")
]


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_openapi", REPO / "deploy" / "scripts" / "gen_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def http_rules() -> list[tuple[str, str, str]]:
    """(verb, path, Service_Method, method descriptor) of every rule, read from the
    generated code's descriptors (not from the file the generator reads)."""
    rules = []
    for module in PROTO_MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                for binding in [rule, *rule.additional_bindings]:
                    verb = binding.WhichOneof("pattern")
                    if verb == "custom":
                        verb, path = binding.custom.kind.lower(), binding.custom.path
                    else:
                        path = getattr(binding, verb)
                    rules.append((verb, path, f"{service.name}_{method.name}"))
    return rules


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_committed_document_matches_the_protos():
    """What `make check-protos` checks, without touching the working tree."""
    assert DOCUMENT.read_text() == load_generator().render(), "gateway/openapi.json is stale: run `make protos`"


def test_every_http_rule_is_an_operation(document):
    rules = http_rules()
    assert len(rules) >= 28  # at least the public calls of the five media services
    operations = {}
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            operations[(verb, path)] = operation
    for verb, path, operation_id in rules:
        template = re.sub(r"{([^}=]+)=[^}]*}", r"{\1}", path)
        assert (verb, template) in operations, f"{verb.upper()} {path} ({operation_id}) missing"
        operation = operations[(verb, template)]
        assert operation["operationId"] == operation_id
        path_names = set(re.findall(r"{([^}=]+)", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == path_names, operation_id
        assert "default" in operation["responses"], operation_id
        assert verb != "get" or "requestBody" not in operation, operation_id
    # Nothing beyond the rules: internal worker calls (CreateTask, StartAttempt, ...) stay off REST.
    assert len(operations) == len(rules)
    assert not any(
        "StartAttempt" in op["operationId"] or "CreateTask" in op["operationId"] for op in operations.values()
    )


def test_field_names_are_proto_names_and_enums_print_by_name(document):
    schemas = document["components"]["schemas"]
    task = schemas["Task"]["properties"]
    assert {"task_id", "task_type", "queue_position", "estimated_completion"} <= set(task)
    assert task["created_at"]["format"] == "date-time"
    assert resolve(document, task["status"])["enum"][1:] == ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]
    assert task["metadata"]["type"] == "object" and task["metadata"]["additionalProperties"] is True  # any JSON object
    # uint64 prints as a JSON string; json_name aliases are documented, not used as names.
    assert schemas["TaskEvent"]["properties"]["sequence"]["type"] == "string"
    caption = schemas["BurnCaptionsRequest"]["properties"]
    assert "video_url" in caption and "url_video" not in caption
    assert "url_video" in caption["video_url"]["description"]


def test_query_parameters_are_the_unbound_fields(document):
    listing = document["paths"]["/api/v1/media/tasks"]["get"]
    names = [p["name"] for p in listing["parameters"] if p["in"] == "query"]
    assert names == [f.name for f in tasks_pb2.ListTasksRequest.DESCRIPTOR.fields]
    cancel = document["paths"]["/api/v1/media/tasks/{task_id}/cancel"]["post"]
    body = cancel["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"reason"}  # task_id comes from the path


def test_submit_calls_name_their_task_type_and_answer_202(document):
    by_type = {
        op["x-mediatasks-task-type"]: op
        for item in document["paths"].values()
        for op in item.values()
        if "x-mediatasks-task-type" in op
    }
    assert set(by_type) == set(KINDS)
    for task_type, operation in by_type.items():
        kind = KINDS[task_type]
        assert operation["operationId"].endswith("_" + kind.method)
        assert {"200", "202"} <= set(operation["responses"])
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"Idempotency-Key", "Prefer"} <= headers
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        fields = set(resolve(document, body)["properties"])
        assert fields == {f.name for f in kind.request.DESCRIPTOR.fields}, task_type


def test_streams_uploads_and_errors(document):
    events = document["paths"]["/api/v1/media/tasks/{task_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert "Last-Event-ID" in {p["name"] for p in events["parameters"]}
    upload = document["paths"]["/api/v1/media/uploads"]["post"]
    assert upload["requestBody"]["content"]["*/*"]["schema"]["format"] == "binary"
    download = document["paths"]["/api/v1/media/artifacts/{artifact_id}"]["get"]
    assert download["responses"]["200"]["content"]["*/*"]["schema"]["format"] == "binary"
    status = document["components"]["schemas"]["google.rpc.Status"]
    assert set(status["properties"]) == {"code", "message", "details"}
    assert "google.rpc.ErrorInfo" in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


# --- served by the gateway ------------------------------------------------------------

STATIC_ROUTES = {
    "/api/v1/openapi.json": ("openapi.json", "application/json"),
    "/console/": ("console/index.html", "text/html; charset=utf-8"),
    "/console/console.js": ("console/console.js", "text/javascript; charset=utf-8"),
    "/console/console.css": ("console/console.css", "text/css; charset=utf-8"),
}


def gateway_routes(config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (listener,) = config["static_resources"]["listeners"]
    route_config = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    (virtual_host,) = route_config["virtual_hosts"]
    return route_config, virtual_host["routes"]


def test_gateway_serves_the_document_and_the_console_itself():
    route_config, routes = gateway_routes(gateway_config.load_envoy_config())
    by_path = {route["match"].get("path"): route for route in routes}
    sizes = []
    for path, (name, content_type) in STATIC_ROUTES.items():
        route = by_path[path]
        # Answered by Envoy from the directory the descriptor set is mounted in.
        assert route["direct_response"] == {"status": 200, "body": {"filename": f"/etc/mediatasks/{name}"}}
        headers = {h["header"]["key"]: h["header"]["value"] for h in route["response_headers_to_add"]}
        assert headers["content-type"] == content_type
        assert route["typed_per_filter_config"][gateway_config.TRANSCODER_FILTER]["disabled"] is True
        sizes.append((REPO / "gateway" / name).stat().st_size)
    assert max(sizes) <= route_config["max_direct_response_body_size_bytes"]
    assert (
        "script-src" not in by_path["/console/"]["response_headers_to_add"][1]["header"]["value"]
    )  # default-src 'self'
    assert by_path["/console"]["redirect"] == {"path_redirect": "/console/"}
    # Ahead of the gRPC routes, like /healthz.
    first_grpc = next(i for i, r in enumerate(routes) if r["match"].get("prefix", "").startswith("/mediatasks.v1."))
    assert all(routes.index(by_path[path]) < first_grpc for path in STATIC_ROUTES)


def test_rendered_config_reads_the_static_files_from_the_checkout(tmp_path):
    rendered = yaml.safe_load(
        gateway_config.render_envoy_config(
            listen_port=18080, admin_port=19901, upstreams={}, descriptor_path=gateway_config.descriptor_path()
        )
    )
    _, routes = gateway_routes(rendered)
    by_path = {route["match"].get("path"): route for route in routes}
    for path, (name, _) in STATIC_ROUTES.items():
        assert by_path[path]["direct_response"]["body"]["filename"] == str(REPO / "gateway" / name)
    elsewhere = yaml.safe_load(
        gateway_config.render_envoy_config(
            listen_port=1, admin_port=2, upstreams={}, descriptor_path=tmp_path / "d.pb", static_dir=tmp_path
        )
    )
    _, routes = gateway_routes(elsewhere)
    served = {
        r["direct_response"]["body"]["filename"]
        for r in routes
        if "filename" in r.get("direct_response", {}).get("body", {})
    }
    assert served == {str(tmp_path / name) for name, _ in STATIC_ROUTES.values()}


def test_public_calls_need_no_credentials_and_the_rest_do(document):
    for item in document["paths"].values():
        for operation in item.values():
            service, method = operation["operationId"].split("_", 1)
            public = f"/mediatasks.v1.{service}/{method}" in PUBLIC_METHODS
            security = operation.get("security", document["security"])
            assert ({} in security) == public, operation["operationId"]
            assert {"ApiKey": []} in security
    assert document["paths"]["/api/v1/media/health"]["get"]["security"][0] == {}

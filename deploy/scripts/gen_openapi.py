"""Generate the OpenAPI 3.1 document of the REST API (``gateway/openapi.json``) from the
descriptor set ``make protos`` builds (``gateway/mediatasks.pb``).

Every operation is a ``google.api.http`` rule, described the way Envoy's transcoder
speaks it (see gateway/envoy.yaml): field names as in the protos
(``preserve_proto_field_names``), enums by name, 64-bit integers as strings, well-known
types in their proto3 JSON forms, errors as ``google.rpc.Status`` JSON, a server-streaming
method as ``text/event-stream`` (the Lua filter's framing) and ``google.api.HttpBody`` as a
raw body. Descriptions are the protos' comments (the descriptor set keeps source info).
Submit calls are found through the catalog of task types: they take ``Idempotency-Key``
and ``Prefer: wait=N`` and name their ``task_type`` (``x-mediatasks-task-type``, which the
console reads to build its submit form). A method whose comment says it "answers 202"
documents both 200 and 202; the methods the services answer without credentials
(``mediatasks.core.server.PUBLIC_METHODS``) say so in their ``security``.

Run by ``make protos`` after gen_protos.py; ``make check-protos`` fails when the committed
document differs. ``--check`` compares without writing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from mediatasks.core.catalog import KINDS
from mediatasks.core.server import PUBLIC_METHODS

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR = ROOT / "gateway" / "mediatasks.pb"
OUTPUT = ROOT / "gateway" / "openapi.json"
PACKAGE = "mediatasks.v1"

FieldProto = descriptor_pb2.FieldDescriptorProto
_SCALARS: dict[int, dict[str, Any]] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    # proto3 JSON prints 64-bit integers as strings (and parses numbers or strings).
    FieldProto.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldProto.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldProto.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldProto.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldProto.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# Well-known types print as JSON values of their own (proto3 JSON mapping), not as messages.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$", "examples": ["1.5s"]},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "minimum": 0},
    "google.protobuf.Int64Value": {"type": ["string", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "null"], "format": "uint64"},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "format": "byte"},
    "google.protobuf.Any": {
        "type": "object",
        "description": 'A typed message: "@type" names it, the message\'s own fields sit beside it.',
        "properties": {"@type": {"type": "string", "examples": ["type.googleapis.com/mediatasks.v1.SubtitleResult"]}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}
HTTP_BODY = "google.api.HttpBody"
# Envoy's convert_grpc_status body; google/rpc/status.proto itself is not in the set.
STATUS_SCHEMA = "google.rpc.Status"
_ERROR_RESPONSE = {
    "description": "An error: the gRPC status as google.rpc.Status JSON with one google.rpc.ErrorInfo "
    "(reason in UPPER_SNAKE, domain mediatasks); HTTP status by Envoy's gRPC to HTTP mapping "
    "(400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404 NOT_FOUND, 409, 410 TASK_EXPIRED, 413, 429, 503).",
    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{STATUS_SCHEMA}"}}},
}


@dataclass
class Comments:
    """Leading comments of every element, by its descriptor path within its file."""

    by_path: dict[tuple[str, tuple[int, ...]], str] = field(default_factory=dict)

    def add(self, file: descriptor_pb2.FileDescriptorProto) -> None:
        for location in file.source_code_info.location:
            text = location.leading_comments.strip()
            if text:
                lines = [line.strip() for line in text.splitlines()]
                self.by_path[(file.name, tuple(location.path))] = " ".join(line for line in lines if line)

    def of(self, file: str, path: tuple[int, ...]) -> str:
        return self.by_path.get((file, path), "")


@dataclass
class Message:
    proto: descriptor_pb2.DescriptorProto
    file: str
    path: tuple[int, ...]


@dataclass
class Enum:
    proto: descriptor_pb2.EnumDescriptorProto
    file: str
    path: tuple[int, ...]


class Spec:
    """Builds the document from a descriptor set."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self.files = files
        self.comments = Comments()
        self.messages: dict[str, Message] = {}
        self.enums: dict[str, Enum] = {}
        for file in files:
            self.comments.add(file)
            for index, message in enumerate(file.message_type):
                self._index_message(file, message, f"{file.package}.{message.name}", (4, index))
            for index, enum in enumerate(file.enum_type):
                self.enums[f"{file.package}.{enum.name}"] = Enum(enum, file.name, (5, index))
        self.schemas: dict[str, Any] = {}
        self._pending: list[str] = []

    def _index_message(
        self,
        file: descriptor_pb2.FileDescriptorProto,
        message: descriptor_pb2.DescriptorProto,
        name: str,
        path: tuple[int, ...],
    ) -> None:
        self.messages[name] = Message(message, file.name, path)
        for index, nested in enumerate(message.nested_type):
            self._index_message(file, nested, f"{name}.{nested.name}", (*path, 3, index))
        for index, enum in enumerate(message.enum_type):
            self.enums[f"{name}.{enum.name}"] = Enum(enum, file.name, (*path, 4, index))

    # --- schemas -------------------------------------------------------------------------

    @staticmethod
    def schema_name(full_name: str) -> str:
        prefix = PACKAGE + "."
        return full_name[len(prefix) :] if full_name.startswith(prefix) else full_name

    def ref(self, full_name: str) -> dict[str, Any]:
        """A reference to the schema of a message or enum, queued to be written."""
        if full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[full_name])
        name = self.schema_name(full_name)
        if name not in self.schemas and full_name not in self._pending:
            self._pending.append(full_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def flush(self) -> None:
        while self._pending:
            full_name = self._pending.pop(0)
            name = self.schema_name(full_name)
            if name in self.schemas:
                continue
            self.schemas[name] = {}  # claimed first: recursive messages refer to it
            self.schemas[name] = (
                self._enum_schema(full_name) if full_name in self.enums else self.message_schema(full_name)
            )

    def _enum_schema(self, full_name: str) -> dict[str, Any]:
        enum = self.enums[full_name]
        lines = [self.comments.of(enum.file, enum.path)]
        for index, value in enumerate(enum.proto.value):
            note = self.comments.of(enum.file, (*enum.path, 2, index))
            lines.append(f"- `{value.name}`: {note}" if note else f"- `{value.name}`")
        return {
            "type": "string",
            "enum": [value.name for value in enum.proto.value],
            "description": "\n".join(line for line in lines if line),
        }

    def message_schema(self, full_name: str, *, without: frozenset[str] = frozenset()) -> dict[str, Any]:
        message = self.messages[full_name]
        properties: dict[str, Any] = {}
        for index, proto_field in enumerate(message.proto.field):
            if proto_field.name in without:
                continue
            property_schema = self.field_schema(proto_field)
            description = self.see_also(self.comments.of(message.file, (*message.path, 2, index)))
            if proto_field.json_name and proto_field.json_name != _lower_camel(proto_field.name):
                alias = f"Also accepted in requests as `{proto_field.json_name}`."
                description = f"{description} {alias}".strip()
            if description:
                property_schema = {**property_schema, "description": description}
            properties[proto_field.name] = property_schema
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        description = self.comments.of(message.file, message.path)
        if description:
            schema["description"] = description
        return schema

    def see_also(self, comment: str) -> str:
        """A comment that only says "See Message.field." becomes that field's comment (the
        submit options every media request repeats)."""
        match = re.fullmatch(r"See (\w+)\.(\w+)\.", comment)
        if not match:
            return comment
        target = self.messages.get(f"{PACKAGE}.{match.group(1)}")
        if target is None:
            return comment
        for index, proto_field in enumerate(target.proto.field):
            if proto_field.name == match.group(2):
                return self.comments.of(target.file, (*target.path, 2, index)) or comment
        return comment

    def field_schema(self, proto_field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if proto_field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_GROUP):
            type_name = proto_field.type_name.lstrip(".")
            entry = self.messages.get(type_name)
            if entry is not None and entry.proto.options.map_entry:
                value = next(f for f in entry.proto.field if f.name == "value")
                return {"type": "object", "additionalProperties": self.field_schema(value)}
            single = self.ref(type_name)
        elif proto_field.type == FieldProto.TYPE_ENUM:
            single = self.ref(proto_field.type_name.lstrip("."))
        else:
            single = dict(_SCALARS[proto_field.type])
        if proto_field.label == FieldProto.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    # --- operations ----------------------------------------------------------------------

    def query_parameters(self, full_name: str, skip: set[str], prefix: str = "", depth: int = 0) -> list[dict]:
        """The transcoder binds every field not in the path or body to a query parameter,
        nested message fields by dotted name; maps and messages of messages past a few
        levels cannot be written in a query."""
        message = self.messages[full_name]
        parameters: list[dict[str, Any]] = []
        for index, proto_field in enumerate(message.proto.field):
            name = prefix + proto_field.name
            if name in skip:
                continue
            description = self.see_also(self.comments.of(message.file, (*message.path, 2, index)))
            type_name = proto_field.type_name.lstrip(".")
            if proto_field.type == FieldProto.TYPE_MESSAGE and type_name not in _WELL_KNOWN:
                entry = self.messages[type_name]
                if entry.proto.options.map_entry or proto_field.label == FieldProto.LABEL_REPEATED or depth >= 2:
                    continue
                parameters.extend(self.query_parameters(type_name, skip, f"{name}.", depth + 1))
                continue
            parameter: dict[str, Any] = {"name": name, "in": "query", "schema": self.field_schema(proto_field)}
            if proto_field.label == FieldProto.LABEL_REPEATED:
                parameter["explode"] = True
            if description:
                parameter["description"] = description
            parameters.append(parameter)
        return parameters

    def operation(
        self,
        service: str,
        method: descriptor_pb2.MethodDescriptorProto,
        rule: Any,
        verb: str,
        pattern: str,
        description: str,
        submit_task_type: str | None,
    ) -> dict[str, Any]:
        request_type = method.input_type.lstrip(".")
        response_type = method.output_type.lstrip(".")
        path_fields = re.findall(r"{([^}=]+)(?:=[^}]*)?}", pattern)
        operation: dict[str, Any] = {
            "operationId": f"{service}_{method.name}",
            "tags": [service],
            "summary": _first_sentence(description) or method.name,
            "description": f"{description}\n\ngRPC: `{PACKAGE}.{service}/{method.name}`".strip(),
        }
        parameters: list[dict[str, Any]] = []
        request = self.messages.get(request_type)
        for name in path_fields:
            proto_field = next(f for f in request.proto.field if f.name == name) if request else None
            schema = self.field_schema(proto_field) if proto_field else {"type": "string"}
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        if request_type != HTTP_BODY and rule.body != "*":
            skip = set(path_fields) | ({rule.body} if rule.body else set())
            parameters.extend(self.query_parameters(request_type, skip))
        if f"/{PACKAGE}.{service}/{method.name}" in PUBLIC_METHODS:
            # Answers without credentials too (uptime checks); a key may still be sent.
            operation["security"] = [{}, *_SECURITY]
        if submit_task_type is not None:
            operation["x-mediatasks-task-type"] = submit_task_type
            parameters.extend(_SUBMIT_HEADERS)
        if method.server_streaming:
            parameters.append(_LAST_EVENT_ID)
        if request_type == HTTP_BODY:
            parameters.append(_FILENAME_HEADER)
        if parameters:
            operation["parameters"] = parameters

        if request_type == HTTP_BODY:
            operation["requestBody"] = {
                "required": True,
                "description": "The raw bytes; their Content-Type is stored with them.",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        elif rule.body == "*":
            # The path's fields are not part of the body: such a body gets a schema of its own.
            body = (
                self.message_schema(request_type, without=frozenset(path_fields))
                if path_fields
                else self.ref(request_type)
            )
            operation["requestBody"] = {"required": not path_fields, "content": {"application/json": {"schema": body}}}
        elif rule.body:
            body_field = next(f for f in self.messages[request_type].proto.field if f.name == rule.body)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.field_schema(body_field)}},
            }

        operation["responses"] = self.responses(method, response_type, description)
        return operation

    def responses(
        self, method: descriptor_pb2.MethodDescriptorProto, response_type: str, description: str
    ) -> dict[str, Any]:
        if response_type == HTTP_BODY:
            content: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
            ok = {"description": "The bytes, with their stored Content-Type.", "content": content}
        elif method.server_streaming:
            event = self.ref(response_type)
            ok = {
                "description": "Server-sent events: each frame is `id: <sequence>`, `event: <event_type>` and "
                f"`data: <{self.schema_name(response_type)} JSON>`; reconnect with Last-Event-ID to resume.",
                "content": {"text/event-stream": {"schema": {"type": "string"}, "x-mediatasks-event-data": event}},
            }
        else:
            ok = {
                "description": "OK",
                "content": {"application/json": {"schema": self.ref(response_type)}},
            }
        responses: dict[str, Any] = {"200": ok}
        if "answers 202" in description:
            responses["202"] = {
                "description": "Accepted: the task is queued or still running.",
                "content": {"application/json": {"schema": self.ref(response_type)}},
            }
        responses["default"] = _ERROR_RESPONSE
        return responses

    def build(self, version: str) -> dict[str, Any]:
        submit_types = {kind.request.DESCRIPTOR.full_name: kind.task_type for kind in KINDS.values()}
        paths: dict[str, dict[str, Any]] = {}
        tags = []
        for file in self.files:
            if file.package != PACKAGE:
                continue
            for service_index, service in enumerate(file.service):
                service_rules = 0
                for method_index, method in enumerate(service.method):
                    description = self.comments.of(file.name, (6, service_index, 2, method_index))
                    for verb, pattern, rule in _http_bindings(method):
                        service_rules += 1
                        submit = submit_types.get(method.input_type.lstrip("."))
                        path = re.sub(r"{([^}=]+)=[^}]*}", r"{\1}", pattern)
                        operation = self.operation(service.name, method, rule, verb, path, description, submit)
                        if verb in paths.setdefault(path, {}):
                            raise SystemExit(f"two rules bind {verb.upper()} {path}")
                        paths[path][verb] = operation
                if service_rules:
                    tags.append({"name": service.name, "description": self.comments.of(file.name, (6, service_index))})
        self.ref("google.rpc.ErrorInfo")
        # The options every submit body repeats at its top level (fields 100 and up).
        self.ref(f"{PACKAGE}.SubmitOptions")
        self.flush()
        self.schemas[STATUS_SCHEMA] = {
            "type": "object",
            "description": "The error body Envoy's transcoder writes (convert_grpc_status).",
            "properties": {
                "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
                "message": {"type": "string", "description": "What went wrong, for people."},
                "details": {
                    "type": "array",
                    "description": "Typed details; one google.rpc.ErrorInfo carries the reason.",
                    "items": _WELL_KNOWN["google.protobuf.Any"],
                },
            },
        }
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "mediatasks REST API",
                "version": version,
                "description": "Long media jobs, asynchronously: submit (202 with the task), then poll, stream "
                "(SSE), cancel, retry, download. Generated from the google.api.http rules of "
                "protos/mediatasks/v1 by deploy/scripts/gen_openapi.py; do not edit.",
                "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            },
            "servers": [{"url": "/", "description": "The gateway that serves this document."}],
            "security": _SECURITY,
            "tags": tags,
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "securitySchemes": {
                    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                },
            },
        }


# Either credential: an API key or a JWT bearer token (see the gateway's auth).
_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]
_SUBMIT_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "description": "The same key and owner return the same task; the same key with another body answers "
        "409 IDEMPOTENCY_KEY_REUSED.",
        "schema": {"type": "string", "maxLength": 255},
    },
    {
        "name": "Prefer",
        "in": "header",
        "description": "`wait=N` (N at most 60) holds the answer until the task ends or N seconds pass: "
        "200 with the finished task, else 202.",
        "schema": {"type": "string", "examples": ["wait=30"]},
    },
]
_LAST_EVENT_ID: dict[str, Any] = {
    "name": "Last-Event-ID",
    "in": "header",
    "description": "Resume after this event sequence (the last `id:` seen); wins over after_sequence.",
    "schema": {"type": "string", "pattern": r"^\d+$"},
}
_FILENAME_HEADER: dict[str, Any] = {
    "name": "X-Filename",
    "in": "header",
    "description": "The file name stored with the artifact (suggested for downloads).",
    "schema": {"type": "string"},
}


def _http_bindings(method: descriptor_pb2.MethodDescriptorProto) -> list[tuple[str, str, Any]]:
    """(verb, path template, rule) of the method's google.api.http rule and its additional
    bindings; empty when the method has none (internal calls)."""
    from google.api import annotations_pb2, http_pb2

    options = method.options
    extension: Any = annotations_pb2.http  # typeshed knows it only as a FieldDescriptor
    if not options.HasExtension(extension):
        return []
    top: http_pb2.HttpRule = options.Extensions[extension]
    bindings = []
    for rule in [top, *top.additional_bindings]:
        pattern_kind = rule.WhichOneof("pattern")
        if pattern_kind is None:
            continue
        if pattern_kind == "custom":
            bindings.append((rule.custom.kind.lower(), rule.custom.path, rule))
        else:
            bindings.append((pattern_kind, getattr(rule, pattern_kind), rule))
    return bindings


def _lower_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?\.)(\s|$)", text)
    return (match.group(1) if match else text).rstrip(".")


def load_descriptor_set(path: Path) -> list[descriptor_pb2.FileDescriptorProto]:
    # Parsing through the generated annotations module makes google.api.http a known
    # extension, so rules are read as HttpRule messages rather than unknown fields.
    from google.api import annotations_pb2  # noqa: F401

    return list(descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file)


def render(descriptor: Path = DESCRIPTOR) -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    document = Spec(load_descriptor_set(descriptor)).build(version)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--descriptor", type=Path, default=DESCRIPTOR)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail when the output file differs; write nothing")
    args = parser.parse_args(argv)
    text = render(args.descriptor)
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `make protos`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""gRPC server reflection: a client that holds no proto file discovers every service and calls it.

This is what grpcurl, Postman, evans and grpcui do: list the services, fetch their file
descriptors (with every import) over ``grpc.reflection.v1alpha.ServerReflection``, build
request messages from those descriptors and call the method by name.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def _discover(address: str) -> tuple[list[str], dict[str, list[str]]]:
    """Service names and, for each mediatasks service, its methods, as reflection reports them."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        services = list(database.get_services())
        methods = {
            name: [method.name for method in pool.FindServiceByName(name).methods]
            for name in services
            if name.startswith("mediatasks.v1.")
        }
        return services, methods


def _call_get_task_by_reflection(address: str, api_key: str, task_id: str) -> grpc.RpcError | None:
    """GetTask built only from reflected descriptors (no generated code), as grpcurl would."""
    with grpc.insecure_channel(address) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        method = pool.FindServiceByName("mediatasks.v1.TaskRegistry").methods_by_name["GetTask"]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        call = channel.unary_unary(
            "/mediatasks.v1.TaskRegistry/GetTask",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        try:
            call(request_class(task_id=task_id), metadata=(("x-api-key", api_key),), timeout=10)
        except grpc.RpcError as error:
            return error
        return None


async def test_registry_lists_its_services_to_a_reflection_client(registry_service) -> None:
    services, methods = await asyncio.to_thread(_discover, f"127.0.0.1:{registry_service.port}")
    assert set(services) >= {
        "mediatasks.v1.TaskRegistry",
        "mediatasks.v1.ArtifactService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert {"GetTask", "ListTasks", "WatchTask", "CancelTask", "RetryTask"} <= set(
        methods["mediatasks.v1.TaskRegistry"]
    )
    assert set(methods["mediatasks.v1.ArtifactService"]) >= {"UploadArtifact", "GetArtifact"}


async def test_media_service_lists_its_service_to_a_reflection_client(subtitle_service) -> None:
    services, methods = await asyncio.to_thread(_discover, f"127.0.0.1:{subtitle_service.port}")
    assert "mediatasks.v1.SubtitleService" in services
    assert "mediatasks.v1.TaskRegistry" not in services
    assert methods["mediatasks.v1.SubtitleService"] == ["GenerateSubtitles"]


async def test_a_call_built_from_reflected_descriptors_reaches_the_service(registry_service, api_key) -> None:
    address = f"127.0.0.1:{registry_service.port}"
    missing = str(uuid.uuid4())
    error = await asyncio.to_thread(_call_get_task_by_reflection, address, api_key, missing)
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND, error
    # Reflection is public; the API behind it still wants credentials.
    unauthenticated = await asyncio.to_thread(_call_get_task_by_reflection, address, "wrong-key", missing)
    assert unauthenticated is not None and unauthenticated.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_messages_resolve_with_their_imports(registry_service) -> None:
    # Task needs google/protobuf/any.proto and timestamp.proto: reflection must serve the
    # dependencies too, or no tool can decode a response.
    def resolve() -> list[str]:
        with grpc.insecure_channel(f"127.0.0.1:{registry_service.port}") as channel:
            pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            return [field.name for field in pool.FindMessageTypeByName("mediatasks.v1.Task").fields]

    fields = await asyncio.to_thread(resolve)
    assert {"task_id", "status", "input", "created_at", "estimated_completion"} <= set(fields)

"""Registers every dialect's servicer in the registry process."""

from __future__ import annotations

from typing import Any

from mediatasks.core.settings import Settings
from mediatasks.dialects.async_video import AsyncVideoDialect
from mediatasks.dialects.srt_media import SrtMediaDialect
from mediatasks.dialects.unified import UnifiedMediaDialect
from mediatasks.dialects.video_analysis import VideoAnalysisDialect
from mediatasks.v1 import (
    dialect_async_video_pb2_grpc,
    dialect_srt_media_pb2_grpc,
    dialect_unified_pb2_grpc,
    dialect_video_analysis_pb2_grpc,
)


def add_dialects(runtime: Any, registry: Any, settings: Settings, uploads: Any) -> None:
    """Serve the seeds' APIs beside the native one, over ``registry`` (its TaskRegistry
    servicer) and ``uploads`` (where seed 003's streamed files are recorded as uploads)."""
    analysis = VideoAnalysisDialect(registry)
    runtime.add_servicer(
        "mediatasks.v1.VideoAnalysisDialect",
        lambda server: dialect_video_analysis_pb2_grpc.add_VideoAnalysisDialectServicer_to_server(analysis, server),
    )
    jobs = AsyncVideoDialect(registry)
    runtime.add_servicer(
        "mediatasks.v1.AsyncVideoDialect",
        lambda server: dialect_async_video_pb2_grpc.add_AsyncVideoDialectServicer_to_server(jobs, server),
    )
    srt = SrtMediaDialect(registry, registry.artifacts, uploads, settings)
    runtime.add_servicer(
        "mediatasks.v1.SrtMediaDialect",
        lambda server: dialect_srt_media_pb2_grpc.add_SrtMediaDialectServicer_to_server(srt, server),
    )
    unified = UnifiedMediaDialect(registry.webhooks, registry.store)
    runtime.add_servicer(
        "mediatasks.v1.UnifiedMediaDialect",
        lambda server: dialect_unified_pb2_grpc.add_UnifiedMediaDialectServicer_to_server(unified, server),
    )

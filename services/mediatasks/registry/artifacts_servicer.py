"""ArtifactService: raw uploads in, downloads out with their content type."""

from __future__ import annotations

from google.api import httpbody_pb2

from mediatasks.core.artifacts import ArtifactStore, guess_content_type
from mediatasks.core.auth import caller
from mediatasks.core.errors import invalid_input, too_large
from mediatasks.v1 import tasks_pb2_grpc


class ArtifactServicer(tasks_pb2_grpc.ArtifactServiceServicer):
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def UploadArtifact(self, request: httpbody_pb2.HttpBody, context):
        if not request.data:
            raise invalid_input("the upload is empty: send the file as the request body", field="body")
        limit = self.store.settings.max_upload_bytes
        if len(request.data) > limit:
            raise too_large(f"the upload is {len(request.data)} bytes; the limit is {limit}", limit)
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        filename = metadata.get("x-filename", "") or "upload"
        content_type = request.content_type or guess_content_type(filename)
        if content_type in ("application/x-www-form-urlencoded", ""):
            content_type = guess_content_type(filename)
        return await self.store.put_bytes(
            request.data, content_type=content_type, filename=filename, owner=caller().owner, role="upload"
        )

    async def GetArtifact(self, request, context):
        owner = None if caller().internal else caller().owner
        artifact, data = await self.store.get(request.artifact_id, owner=owner)
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="{artifact.filename or artifact.artifact_id}"'),)
        )
        return httpbody_pb2.HttpBody(content_type=artifact.content_type, data=data)

"""Download links a client can fetch without its API key, on every artifact a task carries.

Each ``Artifact`` in a task's output (the list of produced files and the ones inside the
typed result, an image of ``GenerateImageResponse.images`` say) gets ``download_url``:
an S3 presigned GET when the artifact is one object of the S3 store, else the gateway's
signed link ``/api/v1/media/files/{id}?expires=&signature=`` (checked by
``ArtifactService.GetSignedArtifact``). Links are made when a task is answered, streamed
or sent in a webhook, never stored, so they always live the configured time from then.
``url`` stays the relative, authenticated path.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator

from google.protobuf import any_pb2, symbol_database, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.core.errors import MediaTasksError
from mediatasks.registry.artifacts_servicer import UrlSigner
from mediatasks.v1 import common_pb2, tasks_pb2

# Registers every typed result in the descriptor pool, so a result's Any can be opened.
from mediatasks.v1 import audio_pb2, image_pb2, subtitle_pb2, video_pb2  # noqa: F401  isort: skip

_ARTIFACT = common_pb2.Artifact.DESCRIPTOR.full_name
# Whether an artifact is a single S3 object never changes: remembered per id.
_SINGLE_OBJECT_CACHE = 4096


def _artifacts_in(message: Message) -> Iterator[common_pb2.Artifact]:
    """Every Artifact inside ``message``, at any depth (not inside nested Any values)."""
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue  # a map of scalars
            items = list(value.values())
        elif field.label == FieldDescriptor.LABEL_REPEATED:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if item.DESCRIPTOR.full_name == _ARTIFACT:
                yield item
            else:
                yield from _artifacts_in(item)


class DownloadLinks:
    """Fills ``download_url`` (and its expiry) on the artifacts of tasks."""

    def __init__(self, signer: UrlSigner, store: ArtifactStore) -> None:
        self.signer = signer
        self.store = store
        self.settings = store.settings
        self._single_object: OrderedDict[str, bool] = OrderedDict()

    def base_url(self, request_origin: str = "") -> str:
        """MEDIATASKS_PUBLIC_BASE_URL, else the origin the request came to (the gateway
        forwards its Host), else "" (webhooks without the setting: a relative link)."""
        return self.settings.public_base_url.strip().rstrip("/") or request_origin

    async def _presigned(self, artifact: common_pb2.Artifact, lifetime: int) -> str:
        from mediatasks.core.artifacts.s3_backend import S3Artifacts

        backend = self.store.backend
        if not isinstance(backend, S3Artifacts):
            return ""
        single = self._single_object.get(artifact.artifact_id)
        if single is None:
            try:
                description, _ = await backend.describe(artifact.artifact_id)
            except MediaTasksError:
                return ""  # gone or unreachable: the signed gateway link still answers honestly
            single = not description.get("composite")
            self._single_object[artifact.artifact_id] = single
            while len(self._single_object) > _SINGLE_OBJECT_CACHE:
                self._single_object.popitem(last=False)
        else:
            self._single_object.move_to_end(artifact.artifact_id)
        if not single:
            return ""
        return await backend.presign_download(
            artifact.artifact_id,
            lifetime,
            filename=artifact.filename or artifact.artifact_id,
            content_type=artifact.content_type,
        )

    async def fill_artifact(self, artifact: common_pb2.Artifact, base: str, expires: int) -> None:
        lifetime = max(1, expires - int(time.time()))
        url = await self._presigned(artifact, lifetime)
        if not url:
            signature = self.signer.signature(artifact.artifact_id, expires)
            url = f"{base}/api/v1/media/files/{artifact.artifact_id}?expires={expires}&signature={signature}"
        artifact.download_url = url
        artifact.download_url_expires_at.CopyFrom(timestamp_pb2.Timestamp(seconds=expires))

    async def fill_output(self, output: tasks_pb2.TaskOutput, base: str) -> None:
        """Links on ``output.artifacts`` and on the artifacts inside ``output.result``."""
        expires = int(time.time()) + self.settings.presign_ttl_seconds
        for artifact in output.artifacts:
            if artifact.artifact_id:
                await self.fill_artifact(artifact, base, expires)
        if output.HasField("result"):
            await self._fill_any(output.result, base, expires)

    async def _fill_any(self, packed: any_pb2.Any, base: str, expires: int) -> None:
        try:
            result_class = symbol_database.Default().GetSymbol(packed.TypeName())
        except KeyError:
            return  # a result type this process does not know (a background app's): left as it is
        result = result_class()
        if not packed.Unpack(result):
            return
        found = [a for a in _artifacts_in(result) if a.artifact_id]
        if not found:
            return
        for artifact in found:
            await self.fill_artifact(artifact, base, expires)
        packed.Pack(result)

    async def fill_task(self, task: tasks_pb2.Task, base: str) -> tasks_pb2.Task:
        if task.HasField("output"):
            await self.fill_output(task.output, base)
        return task

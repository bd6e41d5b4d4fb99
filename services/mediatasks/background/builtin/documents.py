"""``document_processing``: the document cut into overlapping chunks, each embedded
through an OpenAI-compatible API (OpenAI, OpenRouter, a local server) with the ``openai``
SDK. The chunks and their vectors are the task's result, kept in PostgreSQL with the
task and read back with ``GET /api/background/tasks/{task_id}``."""

from __future__ import annotations

from dataclasses import dataclass

import openai

from mediatasks.background.builtin._settings import settings_of
from mediatasks.worker import BackgroundTask, RetryPolicy, TaskDefinition, TaskFailed, TransientError

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_OVERLAP = 200


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # character offsets into the document
    end: int
    text: str


def chunk_text(content: str, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Chunks of at most ``size`` characters, each starting ``overlap`` characters before
    the previous one ended; a chunk ends at the last whitespace of its window when there
    is one in its second half, so words are not cut."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("need size >= 1 and 0 <= overlap < size")
    chunks: list[Chunk] = []
    start = 0
    length = len(content)
    while start < length:
        end = min(start + size, length)
        if end < length:
            cut = max(content.rfind(" ", start, end), content.rfind("\n", start, end))
            if cut > start + size // 2:
                end = cut
        text = content[start:end].strip()
        if text:
            chunks.append(Chunk(len(chunks), start, end, text))
        if end >= length:
            break
        start = max(end - overlap, start + 1)
    return chunks


def _client(task: BackgroundTask) -> tuple[openai.AsyncOpenAI, str]:
    settings = settings_of(task)
    base_url = settings.embeddings_base_url or settings.openai_base_url
    api_key = settings.embeddings_api_key or settings.openai_api_key
    if not api_key:
        raise TaskFailed(
            "embeddings need an API key: set MEDIATASKS_EMBEDDINGS_API_KEY (and MEDIATASKS_EMBEDDINGS_BASE_URL for "
            "OpenRouter or another OpenAI-compatible API) on the worker",
            reason="EMBEDDINGS_NOT_CONFIGURED",
        )
    client = openai.AsyncOpenAI(
        api_key=api_key, base_url=base_url or None, max_retries=0, timeout=settings.rpc_timeout_seconds * 6
    )
    return client, settings.embeddings_model


async def process_document(task: BackgroundTask) -> dict:
    payload = task.payload
    size = int(payload.get("chunk_size", DEFAULT_CHUNK_SIZE))
    overlap = int(payload.get("chunk_overlap", min(DEFAULT_OVERLAP, size // 5)))
    if overlap >= size:
        raise TaskFailed("chunk_overlap must be smaller than chunk_size", reason="INVALID_INPUT")
    chunks = chunk_text(payload["content"], size, overlap)
    if not chunks:
        raise TaskFailed("the document has no text", reason="INVALID_INPUT")
    await task.update_progress(5, f"chunked into {len(chunks)}")
    task.log(f"{len(chunks)} chunk(s) of at most {size} characters, {overlap} overlapping")
    client, model = _client(task)
    batch = settings_of(task).embeddings_batch_size
    vectors: list[list[float]] = []
    try:
        for first in range(0, len(chunks), batch):
            part = chunks[first : first + batch]
            response = await client.embeddings.create(model=model, input=[chunk.text for chunk in part])
            ordered = sorted(response.data, key=lambda item: item.index)
            if len(ordered) != len(part):
                raise TransientError(f"asked {len(part)} embeddings, got {len(ordered)}", reason="EMBEDDINGS_SHORT")
            vectors.extend(list(item.embedding) for item in ordered)
            await task.update_progress(5 + 90 * len(vectors) / len(chunks), "embedding")
    except (openai.RateLimitError, openai.APIConnectionError, openai.InternalServerError) as exc:
        raise TransientError(f"embeddings API: {exc}", reason="EMBEDDINGS_UNAVAILABLE") from None
    except openai.APIStatusError as exc:
        raise TaskFailed(
            f"embeddings API refused: {exc.status_code} {exc.message}", reason="EMBEDDINGS_REFUSED"
        ) from None
    finally:
        await client.close()
    await task.update_progress(98, "storing")
    return {
        "document_id": payload["document_id"],
        "model": model,
        "dimensions": len(vectors[0]),
        "chunk_count": len(chunks),
        "chunks": [
            {"index": c.index, "start": c.start, "end": c.end, "text": c.text, "embedding": v}
            for c, v in zip(chunks, vectors, strict=True)
        ],
    }


DOCUMENT_PROCESSING = TaskDefinition(
    "document_processing",
    process_document,
    payload_schema={
        "type": "object",
        "required": ["document_id", "content"],
        "additionalProperties": False,
        "properties": {
            "document_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "content": {"type": "string", "minLength": 1, "maxLength": 500000},
            "chunk_size": {"type": "integer", "minimum": 50, "maximum": 8000},
            "chunk_overlap": {"type": "integer", "minimum": 0, "maximum": 4000},
        },
    },
    priority="normal",
    retry=RetryPolicy(max_retries=3, base_delay=60.0),
    description="Chunk a document with overlap and embed every chunk (OpenAI-compatible API).",
    builtin=True,
)

"""The artifact store (:mod:`.store`) over its two backends (:mod:`.nats_backend`, :mod:`.s3_backend`)."""

from mediatasks.core.artifacts.backend import guess_content_type, looks_like_artifact_id, safe_filename
from mediatasks.core.artifacts.store import ArtifactStore

__all__ = ["ArtifactStore", "guess_content_type", "looks_like_artifact_id", "safe_filename"]

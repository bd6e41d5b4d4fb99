from __future__ import annotations

from pathlib import Path

from mediatasks.client import transfer
from mediatasks.client.models import Artifact, Task


def test_a_tus_offer_is_read_from_the_options_headers() -> None:
    offer = transfer.parse_tus_offer(
        204,
        {
            "tus-version": "1.0.0",
            "tus-extension": "creation,termination,checksum,expiration",
            "tus-max-size": "1000",
            "tus-checksum-algorithm": "sha256",
        },
    )
    assert offer is not None and offer.accepts(1000) and not offer.accepts(1001)
    assert "sha256" in offer.checksum_algorithms
    assert transfer.parse_tus_offer(404, {"tus-version": "1.0.0"}) is None
    assert transfer.parse_tus_offer(204, {"tus-version": "0.2.2"}) is None
    assert transfer.parse_tus_offer(204, {"tus-version": "1.0.0"}).accepts(10) is False  # no creation


def test_creation_metadata_is_base64_per_tus() -> None:
    headers = transfer.creation_headers(5, "a b.txt", "text/plain", "ab" * 32)
    assert headers["Upload-Length"] == "5" and headers["Tus-Resumable"] == "1.0.0"
    pairs = dict(item.split(" ") for item in headers["Upload-Metadata"].split(","))
    assert pairs["filename"] == "YSBiLnR4dA=="


def test_a_download_never_lands_outside_the_directory_asked(tmp_path: Path) -> None:
    assert transfer.download_target(tmp_path, 'attachment; filename="../../etc/x"', "id1") == tmp_path / "x"
    assert transfer.download_target(tmp_path, 'attachment; filename=".."', "id1") == tmp_path / "id1"
    assert transfer.download_target(tmp_path / "out.bin", 'attachment; filename="a"', "id1") == tmp_path / "out.bin"


def test_artifact_ids_come_from_ids_urls_artifacts_and_tasks() -> None:
    assert transfer.artifact_id_of("/api/v1/media/artifacts/abc") == "abc"
    assert transfer.artifact_id_of(Artifact(artifact_id="def")) == "def"
    task = Task.from_json({"task_id": "t", "output": {"artifacts": [{"artifact_id": "ghi"}]}})
    assert transfer.artifact_id_of(task) == "ghi"

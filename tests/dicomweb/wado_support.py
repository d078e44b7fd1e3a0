"""Helpers shared by the WADO tests: store datasets through the ingest pipeline, read answers."""

import io

from dicom_data import receive_one, to_bytes

from archive.dicomweb import multipart

OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"
OHIF_FRAMES_QUOTED = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
OHIF_METADATA = (
    "application/dicom+json, multipart/related; type=application/octet-stream; transfer-syntax=*"  # noqa: E501
)


def store(*datasets) -> list[bytes]:
    """Store each dataset; returns the bytes sent, to compare with what comes back."""
    sent = []
    for ds in datasets:
        data = to_bytes(ds)
        result = receive_one(data)
        assert result.ok, result.reason
        sent.append(data)
    return sent


def instance_path(ds) -> str:
    return (
        f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def parts_of(response) -> list[tuple[str, bytes]]:
    """(Content-Type, payload) of each part of a multipart/related test-client response."""
    boundary = multipart.boundary_of(response["Content-Type"])
    return [
        (part.content_type, part.read())
        for part in multipart.decode(io.BytesIO(body_of(response)), boundary)
    ]

"""What the configured store (folder or bucket) holds for an instance, for assertions that
must hold with either backend."""

from archive import stores


def stored_bytes(instance) -> bytes:
    with stores.current().open(instance.file_path) as f:
        return f.read()


def is_stored(instance) -> bool:
    return key_exists(instance.file_path)


def key_exists(key: str) -> bool:
    return stores.current().size(key) is not None


def remove_stored(row) -> None:
    stores.current().delete(row.file_path)


def put_stored(row, data: bytes) -> None:
    """Put a file back where the row says it is (after ``remove_stored``)."""
    import io

    from archive import storage

    stores.current().place_many([(storage.spool(io.BytesIO(data)), row.file_path)])


def stored_pieces(row, pieces) -> bytes:
    """The bytes of (offset, length) pieces of a stored file (a frame's fragments)."""
    raw = stored_bytes(row)
    return b"".join(raw[offset : offset + length] for offset, length in pieces)


def store_all(datasets) -> list[bytes]:
    """Ingest the datasets in one call of the pipeline; returns the bytes sent, to compare with
    what comes back."""
    import io

    from dicom_data import to_bytes

    from archive.ingest import Arrival, receive

    sent = [to_bytes(ds) for ds in datasets]
    results = receive([Arrival.from_stream(io.BytesIO(data)) for data in sent])
    assert all(result.ok for result in results), [r.reason for r in results if not r.ok]
    return sent

"""``dicomjson.read`` walks a small file in memory (``elements``) and leaves the rest to
``dcmread``: the DICOM JSON, and every value read later (a BulkDataURI's), are the same
whichever reader read the file."""

import io
import json
import os
import warnings

import pytest
from dicom_data import bundled_files, ct_slice, pet_slice, to_bytes
from pydicom.data import get_charset_files
from pydicom.dataelem import RawDataElement

from archive import dicomjson, elements

SMALL = [
    path
    for path in bundled_files() + sorted(get_charset_files())
    if os.path.isfile(path) and os.path.getsize(path) <= elements.WHOLE
]


def _document(path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            dataset = dicomjson.read(path)
            out = dicomjson.to_json(dataset, dicomjson.bulk_path)
            deferred = {
                f"{tag:08X}": dataset[tag].value
                for tag, raw in dataset._dict.items()
                if isinstance(raw, RawDataElement) and raw.value is None and raw.length
            }
        except Exception as exc:
            return type(exc).__name__
    text = json.dumps(out, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text + repr(sorted(deferred.items()))


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.rsplit("/", 1)[-1])
def test_every_small_bundled_file_gives_the_same_document_either_way(path, monkeypatch):
    fast = _document(path)
    monkeypatch.setattr(elements, "read", lambda data, defer_size: None)
    assert fast == _document(path)


def test_a_small_file_is_walked_in_memory_and_its_large_values_read_from_there(tmp_path):
    ds = pet_slice()
    path = tmp_path / "pet.dcm"
    path.write_bytes(to_bytes(ds))
    stored = dicomjson.read(path)
    assert isinstance(stored.buffer, io.BytesIO) and stored.filename is None
    raw = stored.get_item(0x7FE00010, keep_deferred=True)
    assert raw.value is None and raw.length > dicomjson.BULK_THRESHOLD
    path.unlink()  # nothing left on disk to read from
    assert dicomjson.element_at(stored, (0x7FE00010,)).value == ds.PixelData


def test_a_large_file_stays_on_disk(tmp_path):
    path = tmp_path / "ct.dcm"
    path.write_bytes(to_bytes(ct_slice(rows=256, columns=256)))
    assert path.stat().st_size > elements.WHOLE
    stored = dicomjson.read(path)
    assert stored.filename == str(path)
    raw = stored.get_item(0x7FE00010, keep_deferred=True)
    assert raw.value is None

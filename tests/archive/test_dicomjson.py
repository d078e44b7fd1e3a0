"""DICOM JSON of a stored file: tags, VRs, BulkDataURIs, person names, and a round trip."""

import json

import pydicom
import pytest
from dicom_data import (
    bundled_files,
    compressed,
    ct_slice,
    multiframe,
    pet_slice,
    rgb_image,
    to_bytes,
)
from pydicom.dataset import Dataset

from archive import dicomjson

BASE = "http://x/dicom-web/studies/1/series/2/instances/3/bulk/"


def as_json(ds, tmp_path) -> dict:
    path = tmp_path / "file.dcm"
    path.write_bytes(to_bytes(ds))
    return dicomjson.to_json(dicomjson.read(path), lambda p: BASE + dicomjson.bulk_path(p))


def test_tags_and_vrs_of_a_ct_slice(tmp_path):
    ds = ct_slice(rows=64, columns=64, patient_name="Smith^John")
    out = as_json(ds, tmp_path)

    assert out["00080018"] == {"vr": "UI", "Value": [ds.SOPInstanceUID]}
    assert out["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Smith^John"}]}
    assert out["00080008"] == {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY", "AXIAL"]}
    assert out["00280010"] == {"vr": "US", "Value": [64]}
    assert out["00280030"] == {"vr": "DS", "Value": [0.7, 0.7]}
    assert out["00200013"] == {"vr": "IS", "Value": [1]}
    assert out["00281052"] == {"vr": "DS", "Value": [-1024.0]}
    assert list(out) == sorted(out)
    assert not any(tag.startswith("0002") for tag in out)
    json.dumps(out, allow_nan=False)


def test_pixel_data_is_a_bulk_data_uri_never_inline(tmp_path):
    out = as_json(ct_slice(rows=64, columns=64), tmp_path)
    assert out["7FE00010"] == {"vr": "OW", "BulkDataURI": BASE + "7FE00010"}

    tiny = as_json(ct_slice(rows=4, columns=4), tmp_path)  # 32 bytes: below the threshold
    assert tiny["7FE00010"] == {"vr": "OW", "BulkDataURI": BASE + "7FE00010"}


def test_encapsulated_pixel_data_is_ob(tmp_path):
    out = as_json(compressed(multiframe(frames=3)), tmp_path)
    assert out["7FE00010"] == {"vr": "OB", "BulkDataURI": BASE + "7FE00010"}
    assert out["00280008"] == {"vr": "IS", "Value": [3]}


def test_large_binary_values_become_uris_small_ones_stay_inline(tmp_path):
    ds = rgb_image()
    ds.add_new(0x00091010, "OB", b"\x01" * 4000)  # private blob, large
    ds.add_new(0x00091011, "OB", b"\x02\x03")  # private blob, small
    ds.ICCProfile = b"\x00" * 3000
    out = as_json(ds, tmp_path)

    assert out["00091010"] == {"vr": "OB", "BulkDataURI": BASE + "00091010"}
    assert out["00091011"] == {"vr": "OB", "InlineBinary": "AgM="}
    assert out["00282000"] == {"vr": "OB", "BulkDataURI": BASE + "00282000"}
    assert out["00280006"] == {"vr": "US", "Value": [0]}  # PlanarConfiguration kept


def test_sequence_items_and_uris_inside_them(tmp_path):
    ds = pet_slice()
    item = ds.RadiopharmaceuticalInformationSequence[0]
    item.add_new(0x00091001, "OB", b"\x07" * 2000)
    out = as_json(ds, tmp_path)

    drug = out["00540016"]["Value"][0]
    assert drug["00181075"] == {"vr": "DS", "Value": [6586.2]}
    assert drug["00181074"] == {"vr": "DS", "Value": [370000000.0]}
    assert drug["00181072"] == {"vr": "TM", "Value": ["093000"]}
    assert drug["00091001"] == {"vr": "OB", "BulkDataURI": BASE + "00540016/0/00091001"}


def test_round_trip_through_pydicom(tmp_path):
    ds = pet_slice()
    out = as_json(ds, tmp_path)

    def load_bulk(tag, vr, uri):
        assert uri == BASE + "7FE00010"
        return ds.PixelData

    back = Dataset.from_json(out, bulk_data_uri_handler=load_bulk)
    for keyword in ("PatientName", "StudyInstanceUID", "SOPInstanceUID", "Units", "CorrectedImage"):
        assert back[keyword].value == ds[keyword].value
    assert float(back.PatientWeight) == 70
    assert back.PixelSpacing == [4, 4]
    assert back.RadiopharmaceuticalInformationSequence[0].RadionuclideHalfLife == 6586.2
    assert back.PixelData == ds.PixelData


def test_bulk_paths_parse_back():
    assert dicomjson.bulk_path((0x7FE00010,)) == "7FE00010"
    assert dicomjson.bulk_path((0x00540016, 0, 0x00181072)) == "00540016/0/00181072"
    assert dicomjson.parse_bulk_path("00540016/0/00181072") == (0x00540016, 0, 0x00181072)
    assert dicomjson.parse_bulk_path("7fe00010") == (0x7FE00010,)
    bad_paths = ("", "7FE0001", "00540016/0", "00540016/x/00181072", "zzzzzzzz", "../etc")
    bad_paths += ("0x7FE001", "+7FE0001", " 7FE0001", "00540016/\u00b2/00181072")
    for bad in bad_paths:
        assert dicomjson.parse_bulk_path(bad) is None


def test_element_at_follows_a_bulk_path(tmp_path):
    ds = pet_slice()
    path = tmp_path / "pet.dcm"
    path.write_bytes(to_bytes(ds))
    stored = dicomjson.read(path)
    assert dicomjson.element_at(stored, (0x7FE00010,)).value == ds.PixelData
    assert dicomjson.element_at(stored, (0x00540016, 0, 0x00181075)).value == 6586.2
    assert dicomjson.element_at(stored, (0x00540016, 1, 0x00181075)) is None
    assert dicomjson.element_at(stored, (0x00091234,)) is None


@pytest.mark.filterwarnings("ignore")
def test_every_bundled_file_gives_valid_json():
    """pydicom's own test files, broken ones included: whatever parses gives JSON that
    PostgreSQL's jsonb accepts (no NaN, no NUL), never an exception."""
    converted = 0
    for name in bundled_files():
        try:
            ds = dicomjson.read(name)
            ds.keys()
        except Exception:
            continue  # ingest refuses these; nothing to convert
        text = json.dumps(dicomjson.to_json(ds, dicomjson.bulk_path), allow_nan=False)
        assert "\\u0000" not in text
        converted += 1
    assert converted > 50


def test_deferred_pixel_data_is_not_read(tmp_path):
    """Large values stay on disk: the dataset still holds them unread after conversion."""
    path = tmp_path / "ct.dcm"
    path.write_bytes(to_bytes(ct_slice(rows=64, columns=64)))
    ds = dicomjson.read(path)
    dicomjson.to_json(ds, dicomjson.bulk_path)
    raw = ds.get_item(0x7FE00010, keep_deferred=True)
    assert isinstance(raw, pydicom.dataelem.RawDataElement) and raw.value is None

"""C-FIND answers written from DICOM JSON to bytes: the same bytes pydicom writes for the same
data set, in implicit and explicit VR little endian, for what the index gives (text, names
with three component groups, several values, numbers, empty values) and what pydicom is left
to write (sequences, binary values, AT)."""

import pydicom
import pytest
from pynetdicom.dsutils import encode as pydicom_bytes

from dicomnet import jsonbytes

ANSWER = {
    "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
    "00080020": {"vr": "DA", "Value": ["20240115"]},
    "00080030": {"vr": "TM"},
    "00080052": {"vr": "CS", "Value": ["IMAGE"]},
    "00080054": {"vr": "AE", "Value": ["OHIFSITE"]},
    "00080061": {"vr": "CS", "Value": ["CT", "MR"]},
    "00081030": {"vr": "LO", "Value": ["Tête, thorax"]},
    "00100010": {
        "vr": "PN",
        "Value": [
            {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}
        ],
    },  # fmt: skip
    "00100020": {"vr": "LO", "Value": ["PID-1"]},
    "0020000D": {"vr": "UI", "Value": ["1.2.3.45"]},  # odd length: padded with a NUL
    "00200013": {"vr": "IS", "Value": [7]},
    "00200032": {"vr": "DS", "Value": [-125.5, 0.25, 3.0]},
    "00201208": {"vr": "IS", "Value": [1200]},
    "00280010": {"vr": "US", "Value": [512]},
    "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
    "00280106": {"vr": "SS", "Value": [-2000]},
    "00181310": {"vr": "US", "Value": [0, 512, 512, 0]},
    "00189087": {"vr": "FD", "Value": [1000.5]},
    "00181030": {"vr": "LO"},
    "00204000": {"vr": "LT", "Value": ["comment"]},
    "00081140": {
        "vr": "SQ",
        "Value": [
            {
                "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                "00081155": {"vr": "UI", "Value": ["1.2.3.4"]},
            }
        ],
    },  # fmt: skip
    "00082112": {"vr": "SQ"},
    "00209165": {"vr": "AT", "Value": ["00200032"]},
    "00091010": {"vr": "OB", "InlineBinary": "AQIDBA=="},
    "00091011": {"vr": "UN"},
}


@pytest.mark.parametrize("implicit_vr", [True, False])
def test_bytes_equal_pydicoms(implicit_vr):
    expected = pydicom_bytes(pydicom.Dataset.from_json(ANSWER), implicit_vr, True)
    assert jsonbytes.encode(ANSWER, implicit_vr=implicit_vr) == expected


@pytest.mark.parametrize("implicit_vr", [True, False])
def test_read_back_by_pydicom(implicit_vr):
    """Keys in any order come out in tag order, and pydicom reads the values back."""
    shuffled = dict(reversed(ANSWER.items()))
    written = jsonbytes.encode(shuffled, implicit_vr=implicit_vr)
    read = pydicom.dcmread(pydicom.filebase.DicomBytesIO(written), force=True)
    assert [f"{int(e.tag):08X}" for e in read] == sorted(ANSWER)
    assert str(read.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert read.StudyDescription == "Tête, thorax"
    assert list(read.ModalitiesInStudy) == ["CT", "MR"]
    assert read.StudyInstanceUID == "1.2.3.45"
    assert read.InstanceNumber == 7 and read.NumberOfStudyRelatedInstances == 1200
    assert [float(v) for v in read.ImagePositionPatient] == [-125.5, 0.25, 3]
    assert read.Rows == 512 and list(read.AcquisitionMatrix) == [0, 512, 512, 0]
    assert read.StudyTime == "" and read.ReferencedImageSequence[0].ReferencedSOPInstanceUID

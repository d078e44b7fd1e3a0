"""C-FIND with dcmtk's findscu at each level, answered by the QIDO-RS query core: the answers
equal QIDO-RS's for the same keys. Cancel and refusals with pynetdicom."""

import pydicom
import pytest
from dicom_data import ct_series, mr_slice, receive_one, uid
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, DEFAULT_TRANSFER_SYNTAXES
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from archive import caches
from archive.models import Study


@pytest.fixture
def archive(transactional_db):
    """Three studies of three patients: two CT series, an MR series, a CT series."""
    studies = {}
    jane = dict(patient_name="Doe^Jane", patient_id="PID-JANE", study_date="20240115")
    study = uid()
    for number in (1, 2):
        for ds in ct_series(2, rows=16, columns=16, study_uid=study, series_number=number,
                            **jane):  # fmt: skip
            assert receive_one(ds).ok
    studies["jane"] = study
    study, series = uid(), uid()
    for i in range(3):
        ds = mr_slice(i, study_uid=study, series_uid=series, patient_name="Doe^John",
                      patient_id="PID-JOHN", study_date="20230610", accession="ACC-J")  # fmt: skip
        assert receive_one(ds).ok
    studies["john"] = study
    study = uid()
    for ds in ct_series(1, rows=16, columns=16, study_uid=study, patient_name="Smith^Anna",
                        patient_id="PID-ANNA", study_date="20220101"):  # fmt: skip
        assert receive_one(ds).ok
    studies["anna"] = study
    return studies


def findscu(dcmtk, listener, tmp_path, model: str, keys: list[str], calling="WORKSTATION",
            options=()):  # fmt: skip
    out = tmp_path / f"find-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    args = ["-aet", calling, "-aec", listener.ae_title, model, *options, "-X", "-od", out]
    for key in keys:
        args += ["-k", key]
    dcmtk("findscu", *args, *listener.address, check=True)
    return [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


def qido(client, path: str, **params) -> list[dict]:
    response = client.get(f"/dicom-web/{path}", params)
    assert response.status_code == 200, response.content
    return response.json()


def value(found: dict, tag: str):
    element = found.get(tag, {})
    values = element.get("Value", [])
    if not values:
        return ""
    first = values[0]
    return first["Alphabetic"] if isinstance(first, dict) else str(first)


@pytest.mark.parametrize(
    "keys, params",
    [
        (["PatientName=Doe*"], {"PatientName": "Doe*"}),
        (["StudyDate=20230101-20241231"], {"StudyDate": "20230101-20241231"}),
        (["PatientID=PID-J?NE"], {"PatientID": "PID-J?NE"}),
        (["ModalitiesInStudy=MR"], {"ModalitiesInStudy": "MR"}),
        (
            ["StudyDate=-20230610", "AccessionNumber=ACC*"],
            {"StudyDate": "-20230610", "AccessionNumber": "ACC*"},
        ),  # fmt: skip
        ([], {}),  # universal matching
    ],
)
def test_study_level_equals_qido(
    listener, remote_ae, dcmtk, tmp_path, admin_client, archive, keys, params
):
    remote_ae("WORKSTATION")
    returned = ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "AccessionNumber",
                "ModalitiesInStudy", "NumberOfStudyRelatedInstances"]  # fmt: skip
    asked = {key.split("=")[0] for key in keys}
    answers = findscu(dcmtk, listener, tmp_path, "-S", ["QueryRetrieveLevel=STUDY", *keys,
                      *[k for k in returned if k not in asked]])  # fmt: skip
    expected = qido(admin_client, "studies", **params)
    assert len(answers) == len(expected) > 0
    ours = sorted((a.StudyInstanceUID, str(a.PatientName), a.StudyDate,
                   int(a.NumberOfStudyRelatedInstances)) for a in answers)  # fmt: skip
    theirs = sorted((value(e, "0020000D"), value(e, "00100010"), value(e, "00080020"),
                     int(value(e, "00201208"))) for e in expected)  # fmt: skip
    assert ours == theirs
    for answer in answers:
        assert answer.QueryRetrieveLevel == "STUDY"
        assert set(returned) <= {e.keyword for e in answer}


def test_series_and_image_levels_equal_qido(
    listener, remote_ae, dcmtk, tmp_path, admin_client, archive
):
    remote_ae("WORKSTATION")
    study = archive["jane"]
    series = findscu(dcmtk, listener, tmp_path, "-S", ["QueryRetrieveLevel=SERIES",
                     f"StudyInstanceUID={study}", "Modality=CT", "SeriesInstanceUID",
                     "SeriesNumber", "NumberOfSeriesRelatedInstances"])  # fmt: skip
    expected = qido(admin_client, f"studies/{study}/series", Modality="CT")
    assert sorted((s.SeriesInstanceUID, int(s.SeriesNumber)) for s in series) == sorted(
        (value(e, "0020000E"), int(value(e, "00200011"))) for e in expected
    )
    assert [int(s.NumberOfSeriesRelatedInstances) for s in series] == [2, 2]
    first = series[0].SeriesInstanceUID
    stored = Study.objects.get(study_instance_uid=study)
    caches.build(stored.pk, stored.generation)  # (what the worker does after a store)
    images = findscu(dcmtk, listener, tmp_path, "-S", ["QueryRetrieveLevel=IMAGE",
                     f"StudyInstanceUID={study}", f"SeriesInstanceUID={first}",
                     "SOPInstanceUID", "InstanceNumber", "InstanceNumber", "Rows",
                     "SliceThickness"])  # fmt: skip
    expected = qido(admin_client, f"studies/{study}/series/{first}/instances")
    assert sorted((i.SOPInstanceUID, int(i.InstanceNumber)) for i in images) == sorted(
        (value(e, "00080018"), int(value(e, "00200013"))) for e in expected
    )
    assert {int(i.Rows) for i in images} == {16}
    # Not in the index: read from the instance's DICOM JSON (built by the worker) at IMAGE level.
    assert {float(i.SliceThickness) for i in images} == {1.0}


def test_patient_root_patient_level(listener, remote_ae, dcmtk, tmp_path, archive):
    remote_ae("WORKSTATION")
    keys = ["QueryRetrieveLevel=PATIENT", "PatientName=Doe*", "PatientID",
            "NumberOfPatientRelatedStudies"]  # fmt: skip
    patients = findscu(dcmtk, listener, tmp_path, "-P", keys)
    found = [(str(p.PatientName), p.PatientID, int(p.NumberOfPatientRelatedStudies))
             for p in patients]  # fmt: skip
    assert sorted(found) == [("Doe^Jane", "PID-JANE", 1), ("Doe^John", "PID-JOHN", 1)]
    studies = findscu(dcmtk, listener, tmp_path, "-P", ["QueryRetrieveLevel=STUDY",
                      "PatientID=PID-JOHN", "StudyInstanceUID"])  # fmt: skip
    assert [s.StudyInstanceUID for s in studies] == [archive["john"]]


def find_with_pynetdicom(listener, identifier, model=StudyRootQueryRetrieveInformationModelFind,
                         calling="WORKSTATION", cancel_after=None, syntaxes=None,
                         max_pdu=None):  # fmt: skip
    ae = AE(ae_title=calling)
    ae.add_requested_context(model, syntaxes or DEFAULT_TRANSFER_SYNTAXES)
    if max_pdu is not None:
        ae.maximum_pdu_size = max_pdu
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    answers = []
    try:
        for status, found in assoc.send_c_find(identifier, model, msg_id=7):
            answers.append((status.Status, found))
            if cancel_after is not None and len(answers) == cancel_after:
                assoc.send_c_cancel(7, query_model=model)
    finally:
        assoc.release()
    return answers


def test_cancel_stops_the_answers(listener, remote_ae, transactional_db):
    remote_ae("WORKSTATION")
    Study.objects.bulk_create(
        Study(
            study_instance_uid=uid(),
            patient_name="Many^Patient",
            patient_name_key="MANY^PATIENT",
            patient_id=f"P{i}",
            study_date="20240101",
        )  # fmt: skip
        for i in range(2000)
    )
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "Many*"
    identifier.StudyInstanceUID = ""
    answers = find_with_pynetdicom(listener, identifier, cancel_after=1)
    assert answers[-1][0] == 0xFE00
    assert len(answers) < 2000


def test_refusals(listener, remote_ae, archive):
    remote_ae("NOQUERY", may_query=False)
    remote_ae("WORKSTATION")
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    assert find_with_pynetdicom(listener, identifier, calling="NOQUERY")[-1][0] == 0x0124
    # PATIENT level exists in Patient Root only; a range on a UID is not a UID.
    identifier.QueryRetrieveLevel = "PATIENT"
    assert find_with_pynetdicom(listener, identifier)[-1][0] == 0xA900
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = "1.2-1.3"
    answer = find_with_pynetdicom(listener, identifier)[-1]
    assert answer[0] == 0xA900
    model = PatientRootQueryRetrieveInformationModelFind
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = "PID-ANNA"
    identifier.PatientName = ""
    answers = find_with_pynetdicom(listener, identifier, model=model)
    assert [str(found.PatientName) for status, found in answers if status == 0xFF00] == [
        "Smith^Anna"
    ]


def test_answers_in_each_transfer_syntax_and_fragmented(listener, remote_ae, archive):
    """The handler writes pending answers itself (``dicomnet.pending``) in implicit and explicit
    VR little endian, split to fit the peer's maximum PDU length; deflated and big endian ones
    go through pynetdicom. pynetdicom's SCU reads the same answers every way."""
    remote_ae("WORKSTATION")
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    for keyword in ("StudyInstanceUID", "PatientName", "StudyDate", "ModalitiesInStudy",
                    "NumberOfStudyRelatedInstances", "RetrieveAETitle"):  # fmt: skip
        setattr(identifier, keyword, "")

    def found(**options):
        answers = find_with_pynetdicom(listener, identifier, **options)
        assert [status for status, _ in answers] == [0xFF00] * 3 + [0x0000], options
        return sorted(
            (a.StudyInstanceUID, str(a.PatientName), a.StudyDate, str(a.ModalitiesInStudy),
             int(a.NumberOfStudyRelatedInstances), a.RetrieveAETitle, a.QueryRetrieveLevel)
            for status, a in answers if status == 0xFF00
        )  # fmt: skip

    expected = found(syntaxes=[ImplicitVRLittleEndian])
    assert {(a[1], a[4], a[5]) for a in expected} == {
        ("Doe^Jane", 4, "OHIFSITE"), ("Doe^John", 3, "OHIFSITE"), ("Smith^Anna", 1, "OHIFSITE")
    }  # fmt: skip
    for options in (
        {"syntaxes": [ExplicitVRLittleEndian]},
        {"syntaxes": [ExplicitVRLittleEndian], "max_pdu": 64},  # every message in fragments
        {"syntaxes": [ImplicitVRLittleEndian], "max_pdu": 7},  # a byte to a fragment
        {"syntaxes": [DeflatedExplicitVRLittleEndian]},
        {"syntaxes": [ExplicitVRBigEndian]},
    ):
        assert found(**options) == expected, options


def test_findscu_reads_answers_in_fragments(listener, remote_ae, dcmtk, tmp_path):
    """Answers longer than findscu's smallest maximum PDU (4 KiB) arrive in fragments."""
    remote_ae("WORKSTATION")
    comments = "a long comment " * 500 + "end"
    series = ct_series(3, rows=16, columns=16)
    for ds in series:
        ds.ImageComments = comments
        assert receive_one(ds).ok
    study = series[0].StudyInstanceUID
    stored = Study.objects.get(study_instance_uid=study)
    caches.build(stored.pk, stored.generation)  # ImageComments is read from the DICOM JSON
    images = findscu(dcmtk, listener, tmp_path, "-S", ["QueryRetrieveLevel=IMAGE",
                     f"StudyInstanceUID={study}", "SOPInstanceUID", "ImageComments"],
                     options=["--max-pdu", "4096"])  # fmt: skip
    assert sorted(i.SOPInstanceUID for i in images) == sorted(ds.SOPInstanceUID for ds in series)
    assert {i.ImageComments for i in images} == {comments}


@pytest.mark.parametrize("level", ["STUDY", "SERIES", "IMAGE"])
def test_answers_hold_what_pydicom_reads_from_the_dicom_json(level, transactional_db):
    """Each answer's elements are converted from the match's DICOM JSON one by one, and written
    to bytes from it: the same values pydicom's own reader gives, for names with three
    component groups, several values, numbers and dates."""
    from pydicom import Dataset
    from pydicom.filebase import DicomBytesIO

    from dicomnet import find, jsonbytes

    ds = mr_slice(0, patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", patient_id="PID-Y")
    assert receive_one(ds).ok
    assert receive_one(ct_series(1, rows=16, columns=16, study_uid=ds.StudyInstanceUID)[0]).ok
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level
    keys = {
        "STUDY": ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime",
                  "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                  "NumberOfStudyRelatedInstances", "AccessionNumber"],
        "SERIES": ["StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
                   "NumberOfSeriesRelatedInstances", "SeriesDescription"],
        "IMAGE": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID",
                  "InstanceNumber", "Rows", "Columns", "NumberOfFrames"],
    }[level]  # fmt: skip
    for keyword in keys:
        setattr(identifier, keyword, "")
    identifier.StudyInstanceUID = ds.StudyInstanceUID
    request = find.parse(identifier, patient_root=False)

    matches = list(find._rows(request.query, find.EVERYTHING))
    answers = [
        pydicom.dcmread(DicomBytesIO(jsonbytes.encode(found, implicit_vr=False)), force=True)
        for found in find.answers(request, "OHIFSITE")
    ]
    assert len(answers) == len(matches) == (1 if level == "STUDY" else 2)
    for match, answer in zip(matches, answers, strict=True):
        expected = Dataset.from_json(match)
        for keyword in keys:
            if keyword in expected:
                assert answer[keyword].value == expected[keyword].value, keyword
                assert answer[keyword].VR == expected[keyword].VR, keyword
    if level == "STUDY":
        assert str(answers[0].PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"
        assert list(answers[0].ModalitiesInStudy) == ["CT", "MR"]
        assert answers[0].NumberOfStudyRelatedInstances == 2

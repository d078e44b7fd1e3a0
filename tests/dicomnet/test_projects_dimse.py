"""Per-study access over the DICOM network: an AE a project lists in its remote AE titles finds
and retrieves that project's studies only (C-FIND at study and patient level, C-MOVE); an AE no
project lists is a reader without a project (READERS_WITHOUT_PROJECT: every study by default)."""

import pydicom
import pytest
from dicom_data import ct_series, receive_one
from pynetdicom import AE
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)
from test_retrieve import move, storescp  # noqa: F401 - fixture

from accounts.models import Project
from archive.models import Study


@pytest.fixture
def two_studies(transactional_db):
    a = ct_series(2, rows=16, columns=16, patient_id="PID-A", patient_name="Alpha^A")
    b = ct_series(1, rows=16, columns=16, patient_id="PID-B", patient_name="Beta^B")
    for ds in a + b:
        assert receive_one(ds).ok
    project = Project.objects.create(name="Research", remote_ae_titles="RESEARCH, OTHER")
    project.studies.add(Study.objects.get(study_instance_uid=a[0].StudyInstanceUID))
    return a, b


def find(listener, calling, level="STUDY", model=StudyRootQueryRetrieveInformationModelFind):
    ae = AE(ae_title=calling)
    ae.add_requested_context(model)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = level
    identifier.PatientID = ""
    if level == "STUDY":
        identifier.StudyInstanceUID = ""
    try:
        answers = list(assoc.send_c_find(identifier, model))
        return [found.PatientID for status, found in answers if status.Status == 0xFF00]
    finally:
        assoc.release()


def test_a_listed_ae_finds_and_moves_only_its_projects_studies(
    listener,
    remote_ae,
    two_studies,
    storescp,  # noqa: F811
):
    a, b = two_studies
    remote_ae("RESEARCH")
    remote_ae("WORKSTATION")

    assert find(listener, "RESEARCH") == ["PID-A"]
    assert find(listener, "RESEARCH", "PATIENT", PatientRootQueryRetrieveInformationModelFind) == [
        "PID-A"
    ]
    assert sorted(find(listener, "WORKSTATION")) == ["PID-A", "PID-B"]

    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = b[0].StudyInstanceUID
    final = move(listener, identifier, calling="RESEARCH")[-1]
    assert final.Status == 0x0000 and final.get("NumberOfCompletedSuboperations", 0) == 0
    assert list(storescp.iterdir()) == []
    identifier.StudyInstanceUID = a[0].StudyInstanceUID
    final = move(listener, identifier, calling="RESEARCH")[-1]
    assert final.NumberOfCompletedSuboperations == 2


def test_an_unlisted_ae_is_a_reader_without_a_project(listener, remote_ae, two_studies, settings):
    """READERS_WITHOUT_PROJECT holds over the DICOM network as at every other door: with
    "none", an AE no project lists finds nothing; a listed one still finds its project."""
    remote_ae("RESEARCH")
    remote_ae("WORKSTATION")
    settings.READERS_WITHOUT_PROJECT = "none"
    assert find(listener, "WORKSTATION") == []
    assert find(listener, "RESEARCH") == ["PID-A"]

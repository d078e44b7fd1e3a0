"""Orthanc (Debian's package) as a real peer: it sends a study to us with its
/modalities/{id}/store, and we C-MOVE a study to it; both sides then hold the same instances,
byte for byte in their data sets."""

import io
import sys
from pathlib import Path

import pydicom
import pytest
import requests
from conftest import dataset_bytes
from dicom_data import ct_series, receive_one, to_bytes
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove
from stored import stored_bytes

from archive.models import Instance, Study

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from orthanc import ORTHANC, Orthanc  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(ORTHANC).exists(), reason="apt-get install orthanc")


@pytest.fixture
def orthanc(listener, remote_ae):
    """Orthanc as PEERORTHANC, knowing this archive as the modality "archive"; registered
    here as a remote AE (may store, is a destination)."""
    peer = Orthanc(
        dicom_aet="PEERORTHANC",
        modalities={"archive": (listener.ae_title, "127.0.0.1", listener.port)},
    )
    with peer:
        remote_ae("PEERORTHANC", port=peer.dicom_port)
        yield peer


def orthanc_instances(peer) -> dict[str, bytes]:
    found = {}
    for orthanc_id in requests.get(peer.url + "/instances", timeout=30).json():
        raw = requests.get(f"{peer.url}/instances/{orthanc_id}/file", timeout=30).content
        found[pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True).SOPInstanceUID] = raw
    return found


def test_orthanc_sends_a_study_to_us(orthanc):
    series = ct_series(3, rows=32, columns=32)
    for ds in series:
        answer = requests.post(orthanc.url + "/instances", data=to_bytes(ds), timeout=30)
        assert answer.ok, answer.text
    study_id = answer.json()["ParentStudy"]
    job = requests.post(f"{orthanc.url}/modalities/archive/store", json={
        "Resources": [study_id], "Synchronous": True}, timeout=120)  # fmt: skip
    assert job.ok, job.text
    theirs = orthanc_instances(orthanc)
    ours = {i.sop_instance_uid: stored_bytes(i) for i in Instance.objects.all()}
    assert set(ours) == set(theirs) == {ds.SOPInstanceUID for ds in series}
    for uid, raw in ours.items():
        assert dataset_bytes(raw) == dataset_bytes(theirs[uid])


def test_we_move_a_study_to_orthanc(orthanc, listener, remote_ae):
    remote_ae("WORKSTATION")
    series = ct_series(4, rows=32, columns=32)
    for ds in series:
        assert receive_one(ds).ok
    ae = AE(ae_title="WORKSTATION")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = series[0].StudyInstanceUID
    statuses = [s for s, _ in assoc.send_c_move(
        identifier, "PEERORTHANC", StudyRootQueryRetrieveInformationModelMove)]  # fmt: skip
    assoc.release()
    assert statuses[-1].Status == 0x0000
    assert statuses[-1].NumberOfCompletedSuboperations == 4
    theirs = orthanc_instances(orthanc)
    assert set(theirs) == {ds.SOPInstanceUID for ds in series}
    study = Study.objects.get(study_instance_uid=series[0].StudyInstanceUID)
    for instance in Instance.objects.filter(series__study=study):
        assert dataset_bytes(theirs[instance.sop_instance_uid]) == dataset_bytes(
            stored_bytes(instance)
        )

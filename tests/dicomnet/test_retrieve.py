"""C-MOVE to a storescp started by the test and C-GET back on the same association (dcmtk's
movescu and getscu); sub-operation counts with pynetdicom."""

import subprocess
import time

import pydicom
import pytest
from conftest import dataset_bytes
from dicom_data import compressed, ct_series, receive_one
from oidc.provider import free_port
from pydicom.uid import JPEGLSLossless
from pynetdicom import AE
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelMove,
)
from stored import remove_stored, stored_bytes

from accounts.models import AccessEvent
from archive.models import Instance


@pytest.fixture
def stored(transactional_db):
    """One study: a CT series of 3 (explicit little endian) and one of 2 (JPEG-LS)."""
    first = ct_series(3, rows=16, columns=16)
    second = [compressed(ds, JPEGLSLossless) for ds in ct_series(
        2, rows=16, columns=16, study_uid=first[0].StudyInstanceUID, series_number=2)]  # fmt: skip
    for ds in first + second:
        assert receive_one(ds).ok
    return first + second


@pytest.fixture
def storescp(tmp_path, remote_ae):
    """dcmtk's storescp on a free port, registered as the C-MOVE destination STORESCP."""
    folder = tmp_path / "received"
    folder.mkdir()
    port = free_port()
    process = subprocess.Popen(
        ["storescp", "-aet", "STORESCP", "+xa", "-od", str(folder), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.3)
    remote_ae("STORESCP", port=port, may_store=False, may_query=False, may_retrieve=False)
    yield folder
    process.terminate()
    process.wait(10)


def received_equal_stored(folder, expected_uids):
    received = {}
    for path in folder.iterdir():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        received[ds.SOPInstanceUID] = path.read_bytes()
    assert set(received) == set(expected_uids)
    for uid, raw in received.items():
        instance = Instance.objects.get(sop_instance_uid=uid)
        assert dataset_bytes(raw) == dataset_bytes(stored_bytes(instance))


def test_movescu_study_to_a_registered_storescp(
    listener, remote_ae, dcmtk, stored, storescp, wait_for
):
    remote_ae("WORKSTATION")
    study = stored[0].StudyInstanceUID
    result = dcmtk("movescu", "-aet", "WORKSTATION", "-aec", listener.ae_title, "-aem",
                   "STORESCP", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k",
                   f"StudyInstanceUID={study}", *listener.address)  # fmt: skip
    assert result.returncode == 0, result.stderr
    received_equal_stored(storescp, [ds.SOPInstanceUID for ds in stored])
    wait_for(lambda: AccessEvent.objects.filter(method="C-MOVE").exists(), 10)
    event = AccessEvent.objects.get(method="C-MOVE")
    assert event.study_instance_uid == study
    assert "completed=5 failed=0 warning=0 remaining=0 destination=STORESCP" in event.query


def test_movescu_series_and_instance_levels(listener, remote_ae, dcmtk, stored, storescp):
    remote_ae("WORKSTATION")
    base = ["-aet", "WORKSTATION", "-aec", listener.ae_title, "-aem", "STORESCP", "-S", "-k"]
    series = f"SeriesInstanceUID={stored[3].SeriesInstanceUID}"
    dcmtk("movescu", *base, "QueryRetrieveLevel=SERIES", "-k", series, *listener.address,
          check=True)  # fmt: skip
    instance = f"SOPInstanceUID={stored[0].SOPInstanceUID}"
    dcmtk("movescu", *base, "QueryRetrieveLevel=IMAGE", "-k", instance, *listener.address,
          check=True)  # fmt: skip
    received_equal_stored(storescp, [stored[0].SOPInstanceUID, stored[3].SOPInstanceUID,
                                     stored[4].SOPInstanceUID])  # fmt: skip


def test_getscu_returns_on_the_same_association(
    listener, remote_ae, dcmtk, stored, tmp_path, wait_for
):
    """The uncompressed series at SERIES level, then the JPEG-LS instances at IMAGE level
    (getscu offers one context per SOP class: +xt puts JPEG-LS first in it)."""
    remote_ae("WORKSTATION")
    folder = tmp_path / "got"
    folder.mkdir()
    base = ["-aet", "WORKSTATION", "-aec", listener.ae_title, "-S", "-od", folder, "-k"]
    series = f"SeriesInstanceUID={stored[0].SeriesInstanceUID}"
    dcmtk("getscu", *base, "QueryRetrieveLevel=SERIES", "-k", series, *listener.address,
          check=True)  # fmt: skip
    instances = "SOPInstanceUID=" + "\\".join(ds.SOPInstanceUID for ds in stored[3:])
    dcmtk("getscu", "+xt", *base, "QueryRetrieveLevel=IMAGE", "-k", instances,
          *listener.address, check=True)  # fmt: skip
    received_equal_stored(folder, [ds.SOPInstanceUID for ds in stored])
    wait_for(lambda: AccessEvent.objects.filter(method="C-GET").count() == 2, 10)
    outcomes = sorted(e.query for e in AccessEvent.objects.filter(method="C-GET"))
    assert outcomes == ["completed=2 failed=0 warning=0 remaining=0",
                        "completed=3 failed=0 warning=0 remaining=0"]  # fmt: skip


def move(listener, identifier, destination="STORESCP", calling="WORKSTATION",
         model=StudyRootQueryRetrieveInformationModelMove):  # fmt: skip
    ae = AE(ae_title=calling)
    ae.add_requested_context(model)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    try:
        return [status for status, _ in assoc.send_c_move(identifier, destination, model)]
    finally:
        assoc.release()


def test_patient_root_moves_a_patient(listener, remote_ae, stored, storescp):
    remote_ae("WORKSTATION")
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = stored[0].PatientID
    final = move(listener, identifier, model=PatientRootQueryRetrieveInformationModelMove)[-1]
    assert (final.Status, final.NumberOfCompletedSuboperations) == (0x0000, 5)
    received_equal_stored(storescp, [ds.SOPInstanceUID for ds in stored])
    # PATIENT is a Patient Root level only.
    assert move(listener, identifier)[-1].Status == 0xA900


def test_sub_operation_counts_with_a_missing_file(listener, remote_ae, stored, storescp):
    remote_ae("WORKSTATION")
    remove_stored(Instance.objects.get(sop_instance_uid=stored[1].SOPInstanceUID))
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.SeriesInstanceUID = stored[0].SeriesInstanceUID
    statuses = move(listener, identifier)
    pending = [s for s in statuses if s.Status == 0xFF00]
    assert [s.NumberOfRemainingSuboperations for s in pending] == [2, 1, 0][: len(pending)]
    final = statuses[-1]
    assert final.Status == 0xB000  # sub-operations complete, one or more failures
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations,
            final.NumberOfWarningSuboperations) == (2, 1, 0)  # fmt: skip
    received_equal_stored(storescp, [stored[0].SOPInstanceUID, stored[2].SOPInstanceUID])


def test_move_refusals(listener, remote_ae, stored, storescp):
    remote_ae("WORKSTATION")
    remote_ae("NORETRIEVE", may_retrieve=False)
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = stored[0].StudyInstanceUID
    assert move(listener, identifier, destination="NOWHERE")[-1].Status == 0xA801
    assert move(listener, identifier, calling="NORETRIEVE")[-1].Status == 0x0124
    identifier.StudyInstanceUID = ""
    assert move(listener, identifier)[-1].Status == 0xA900
    assert not any(storescp.iterdir())


def test_c_get_into_another_uncompressed_syntax_is_converted(listener, remote_ae, stored):
    """A receiver that takes CT only as implicit VR little endian gets the explicit VR series
    converted (its stored files are sent as they are only to a peer that takes them so)."""
    from pydicom.uid import ImplicitVRLittleEndian
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelGet

    remote_ae("WORKSTATION")
    got = []

    def on_store(event):
        got.append((event.context.transfer_syntax, event.dataset))
        return 0x0000

    ae = AE(ae_title="WORKSTATION")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, ImplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title,
                         ext_neg=[build_role(CTImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])  # fmt: skip
    assert assoc.is_established
    identifier = pydicom.Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.SeriesInstanceUID = stored[0].SeriesInstanceUID
    statuses = [
        s.Status for s, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
    ]
    assoc.release()

    assert statuses[-1] == 0x0000
    assert {syntax for syntax, _ in got} == {ImplicitVRLittleEndian}
    sent = {ds.SOPInstanceUID: ds for ds in stored[:3]}
    assert set(sent) == {ds.SOPInstanceUID for _, ds in got}
    for _, ds in got:
        original = sent[ds.SOPInstanceUID]
        assert ds.PixelData == original.PixelData
        assert ds.PatientName == original.PatientName

"""C-STORE into the archive: storescu of pydicom's test files and a generated CT series in
several transfer syntaxes, read back byte for byte through WADO-URI; bad input and broken
associations leave nothing half-indexed and no file in the spool."""

import io
import shutil
import threading
import time

import pydicom
import pytest
from conftest import dataset_bytes
from dicom_data import compressed, ct_series, ct_slice, to_bytes
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from accounts.models import AccessEvent
from archive.models import Instance, Study

BUNDLED = [
    "CT_small.dcm",  # explicit VR little endian
    "MR_small_implicit.dcm",  # implicit VR little endian
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG lossless, first-order prediction
    "JPEG2000.dcm",  # JPEG 2000
]
# (pydicom's MR_small_* compressed files are left out: dcmtk reads their pixel data as native
# and converts them to an uncompressed syntax before sending. The generated series below
# covers RLE, JPEG-LS and JPEG 2000 lossless.)


def wado_uri(client, instance: Instance) -> bytes:
    series = instance.series
    response = client.get(
        "/wado",
        {
            "requestType": "WADO",
            "studyUID": series.study.study_instance_uid,
            "seriesUID": series.series_instance_uid,
            "objectUID": instance.sop_instance_uid,
            "contentType": "application/dicom",
        },
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


# storescu's option proposing each transfer syntax (first, for the uncompressed ones).
PROPOSE = {
    "1.2.840.10008.1.2": "-xi",
    "1.2.840.10008.1.2.1": "-xe",
    "1.2.840.10008.1.2.4.50": "-xy",  # JPEG baseline
    "1.2.840.10008.1.2.4.70": "-xs",  # JPEG lossless, first-order prediction
    "1.2.840.10008.1.2.4.80": "-xt",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90": "-xv",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "-xw",  # JPEG 2000
    "1.2.840.10008.1.2.5": "-xr",  # RLE
}


def storescu(dcmtk, listener, files, calling="MODALITY"):
    """storescu, once per transfer syntax of the files, proposing it."""
    groups: dict[str, list] = {}
    for path in files:
        syntax = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        groups.setdefault(PROPOSE[syntax], []).append(path)
    for option, paths in groups.items():
        result = dcmtk("storescu", "-aet", calling, "-aec", listener.ae_title, option, "-R",
                       *listener.address, *paths)  # fmt: skip
        if result.returncode != 0:
            return result
    return result


def without_group_lengths(ds):
    for element in list(ds):
        if element.tag.element == 0 or element.tag == 0xFFFCFFFC:
            del ds[element.tag]
    return ds


def spool_is_empty() -> bool:
    from dicomnet.store import spool_dir

    return not any(spool_dir().iterdir())


def test_storescu_of_pydicom_files_in_every_transfer_syntax(
    listener, remote_ae, dcmtk, admin_client, tmp_path, wait_for
):
    from pydicom.data import get_testdata_file

    remote_ae("MODALITY")
    files = []
    for name in BUNDLED:
        path = tmp_path / name
        shutil.copy(get_testdata_file(name), path)
        files.append(path)
    result = storescu(dcmtk, listener, files)
    assert result.returncode == 0, result.stderr
    for path in files:
        sent = pydicom.dcmread(path, stop_before_pixels=True)
        instance = Instance.objects.get(sop_instance_uid=sent.SOPInstanceUID)
        assert instance.transfer_syntax_uid == sent.file_meta.TransferSyntaxUID, path.name
        # storescu decodes and re-encodes what it sends (group lengths and trailing padding
        # dropped), so these are compared element by element; pixel data byte for byte.
        stored = pydicom.dcmread(io.BytesIO(wado_uri(admin_client, instance)))
        original = pydicom.dcmread(path)
        assert without_group_lengths(stored) == without_group_lengths(original), path.name
        assert stored.PixelData.rstrip(b"\0") == original.PixelData.rstrip(b"\0"), path.name
    assert spool_is_empty()
    # One access-log row per study, with the count of what was stored.
    wait_for(lambda: AccessEvent.objects.filter(method="C-STORE").exists(), 10)
    events = AccessEvent.objects.filter(method="C-STORE")
    assert {e.study_instance_uid for e in events} == set(
        Study.objects.values_list("study_instance_uid", flat=True)
    )
    assert all(e.username == "AE:MODALITY" and e.ip == "127.0.0.1" for e in events)
    assert sum(int(e.query.split("stored=")[1].split()[0]) for e in events) == len(BUNDLED)


@pytest.mark.parametrize(
    "transfer_syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
    ],  # fmt: skip
)
def test_generated_ct_series_in_a_transfer_syntax(
    listener, remote_ae, dcmtk, admin_client, write_files, transfer_syntax
):
    remote_ae("MODALITY")
    series = ct_series(3, rows=64, columns=64)
    for ds in series:
        if transfer_syntax == ImplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        elif transfer_syntax != ExplicitVRLittleEndian:
            compressed(ds, transfer_syntax)
    files = write_files(series)
    result = storescu(dcmtk, listener, files)
    assert result.returncode == 0, result.stderr
    for ds, path in zip(series, files, strict=True):
        instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert instance.transfer_syntax_uid == transfer_syntax
        assert dataset_bytes(wado_uri(admin_client, instance)) == dataset_bytes(path.read_bytes())
    study = Study.objects.get(study_instance_uid=series[0].StudyInstanceUID)
    assert study.number_of_study_related_instances == 3


def store_with_pynetdicom(listener, dataset_or_path, calling="MODALITY", syntax=None):
    """One C-STORE; returns the response status dataset."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage, syntax or ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    try:
        return assoc.send_c_store(dataset_or_path)
    finally:
        assoc.release()


def test_statuses_stored_again_and_other_bytes(listener, remote_ae, tmp_path):
    remote_ae("MODALITY")
    ds = ct_slice(0, rows=32, columns=32)
    path = tmp_path / "one.dcm"
    path.write_bytes(to_bytes(ds))
    assert store_with_pynetdicom(listener, path).Status == 0x0000
    assert store_with_pynetdicom(listener, path).Status == 0x0000  # same bytes: success
    ds.StudyDescription = "other bytes, same SOP Instance UID"
    path.write_bytes(to_bytes(ds))
    answer = store_with_pynetdicom(listener, path)
    assert answer.Status == 0xB006
    assert "kept" in answer.ErrorComment
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).count() == 1
    assert spool_is_empty()


def test_dataset_without_sop_instance_uid_cannot_be_understood(listener, remote_ae, tmp_path):
    remote_ae("MODALITY")
    ds = ct_slice(0, rows=32, columns=32)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    del ds.SOPInstanceUID
    ds.preamble = b"\0" * 128
    path = tmp_path / "no-uid.dcm"
    ds.save_as(path, enforce_file_format=False)
    # (the command still names an instance: pynetdicom takes it from the file meta)
    answer = store_with_pynetdicom(listener, path)
    assert answer.Status == 0xC000
    assert "SOPInstanceUID is missing" in answer.ErrorComment
    assert not Instance.objects.exists() and not Study.objects.exists()
    assert spool_is_empty()


def test_truncated_dataset_cannot_be_understood(listener, remote_ae, tmp_path):
    remote_ae("MODALITY")
    ds = ct_slice(0, rows=64, columns=64)
    path = tmp_path / "truncated.dcm"
    path.write_bytes(to_bytes(ds)[:-3000])  # the pixel data stops short of its length
    answer = store_with_pynetdicom(listener, path)
    assert answer.Status == 0xC000
    assert "truncated" in answer.ErrorComment
    assert not Instance.objects.exists()
    assert spool_is_empty()


def test_store_refused_for_an_ae_not_allowed_to_store(listener, remote_ae, tmp_path):
    remote_ae("VIEWER", may_store=False)
    path = tmp_path / "one.dcm"
    path.write_bytes(to_bytes(ct_slice(0, rows=32, columns=32)))
    assert store_with_pynetdicom(listener, path, calling="VIEWER").Status == 0x0124
    assert not Instance.objects.exists()
    assert spool_is_empty()


def test_association_aborted_mid_transfer_leaves_nothing(listener, remote_ae, tmp_path, wait_for):
    """A large data set sent slowly from a file; the association is aborted while it is on
    the wire: nothing is indexed and the partial file is removed from the spool."""
    from dicomnet.store import spool_dir

    remote_ae("MODALITY")
    ds = ct_slice(0, rows=2048, columns=2048)  # 8 MiB of pixel data
    path = tmp_path / "big.dcm"
    path.write_bytes(to_bytes(ds))
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.maximum_pdu_size = 16384  # many small PDUs: the abort lands mid-transfer
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title,
                         max_pdu=16384)  # fmt: skip
    assert assoc.is_established
    ae.dimse_timeout = ae.network_timeout = 5
    # Each P-DATA PDU is held back a little (about 3 s for the whole data set), so the abort
    # lands mid-transfer however fast the listener drains loopback on a busy machine.
    queue_pdu = assoc.dul.send_pdu

    def slowly(primitive):
        time.sleep(0.006)
        queue_pdu(primitive)

    assoc.dul.send_pdu = slowly
    sender = threading.Thread(target=lambda: assoc.send_c_store(path), daemon=True)
    sender.start()
    wait_for(lambda: any(spool_dir().iterdir()), 20, 0.01, "the transfer to start")
    assoc.abort()  # (the sending thread then ends on its own; it is not waited for)
    wait_for(spool_is_empty, 10, message="the partial file to be removed")
    time.sleep(0.5)
    assert not Instance.objects.exists() and not Study.objects.exists()


def test_a_full_disk_is_out_of_resources(full_disk, listener, remote_ae, tmp_path):
    remote_ae("MODALITY")
    small = tmp_path / "small.dcm"
    small.write_bytes(to_bytes(ct_slice(0, rows=16, columns=16)))
    assert store_with_pynetdicom(listener, small).Status == 0x0000  # a small one fits
    big = ct_slice(1, rows=512, columns=512)
    path = tmp_path / "big.dcm"
    path.write_bytes(to_bytes(big))  # 0.5 MB: more than the disk holds
    answer = store_with_pynetdicom(listener, path)
    assert answer.Status == 0xA700
    assert Instance.objects.count() == 1
    assert spool_is_empty()
    # The listener still serves: the next small one is stored.
    other = tmp_path / "other.dcm"
    other.write_bytes(to_bytes(ct_slice(2, rows=16, columns=16)))
    assert store_with_pynetdicom(listener, other).Status == 0x0000


@pytest.mark.worker
def test_an_association_s_studies_are_built_from_one_message(
    listener, remote_ae, settings, celery_worker, wait_for, tmp_path_factory
):
    """Six instances of two studies over one association: the caches of both are built, from
    one message sent when the association ends, not one per instance."""
    settings.PRELOAD = True
    settings.CACHE_BUILD_DELAY = 0
    remote_ae("MODALITY")
    first = ct_series(3, rows=16, columns=16)
    second = ct_series(3, rows=16, columns=16)
    logs = sorted({p.resolve() for p in tmp_path_factory.getbasetemp().glob("worker*/worker.log")})
    before = {path: len(path.read_text().splitlines()) for path in logs}

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    for ds in first + second:
        assert assoc.send_c_store(ds).Status == 0
    assoc.release()

    studies = [Study.objects.get(study_instance_uid=s[0].StudyInstanceUID) for s in (first, second)]

    def built():
        for study in studies:
            study.refresh_from_db()
        return all(study.cache_state == "ready" for study in studies)

    wait_for(built, timeout=60, message="the caches of both studies")

    def lines():
        return [line for path in logs for line in path.read_text().splitlines()[before[path] :]]

    # One message built both studies (its result lists two outcomes); one a C-STORE would have
    # been six build_caches. Messages earlier tests queued before the session's worker started
    # may arrive meanwhile, so plain build_caches lines are not counted.
    received = [line for line in lines() if "build_caches_of[" in line and "received" in line]
    assert len(received) == 1, received
    task_id = received[0].split("build_caches_of[")[1].split("]")[0]
    (done,) = wait_for(
        lambda: [line for line in lines() if f"[{task_id}] succeeded" in line],
        message="the build_caches_of task to finish",
    )
    assert done.endswith("['built', 'built']"), done

"""STOW-RS driven by a third-party client: dicomweb-client's ``store_instances``."""

import io

import pydicom
import pytest
from dicom_data import compressed, ct_series, ct_slice, multiframe, uid
from dicomweb_client.api import DICOMwebClient
from requests import HTTPError

from archive.models import Instance, Study


def as_sent(ds) -> bytes:
    """The client writes datasets with ``pydicom.dcmwrite`` (pydicom 3: file meta without
    the preamble); the archive stores them with the 128-byte preamble and DICM added."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)
    return bytes(128) + b"DICM" + buffer.getvalue()


@pytest.fixture
def client(dicomweb_session, dicomweb_url):
    return DICOMwebClient(url=dicomweb_url, session=dicomweb_session)


def test_store_instances(client, dicomweb_url):
    datasets = ct_series(3, rows=16, columns=16) + [compressed(multiframe(3))]
    answer = client.store_instances(datasets)

    referenced = answer.ReferencedSOPSequence
    assert [item.ReferencedSOPInstanceUID for item in referenced] == [
        ds.SOPInstanceUID for ds in datasets
    ]
    assert all("WarningReason" not in item for item in referenced)
    assert "FailedSOPSequence" not in answer
    for ds in datasets:
        stored = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
        assert stored.absolute_path.read_bytes() == as_sent(ds)
    assert Study.objects.count() == 2


def test_store_instances_in_study(client):
    datasets = ct_series(2, rows=16, columns=16)
    study_uid = datasets[0].StudyInstanceUID
    answer = client.store_instances(datasets, study_instance_uid=study_uid)
    assert answer.RetrieveURL.endswith(f"/studies/{study_uid}")
    assert Study.objects.get(study_instance_uid=study_uid).number_of_study_related_instances == 2


def test_store_again_reports_warning(client):
    ds = ct_slice(rows=16, columns=16)
    client.store_instances([ds])
    answer = client.store_instances([ds])
    assert answer.ReferencedSOPSequence[0].WarningReason == 0xB006
    assert Instance.objects.count() == 1


def test_wrong_study_is_refused(client):
    ds = ct_slice(rows=16, columns=16)
    with pytest.raises(HTTPError) as raised:
        client.store_instances([ds], study_instance_uid=uid())
    assert raised.value.response.status_code == 409
    assert Instance.objects.count() == 0

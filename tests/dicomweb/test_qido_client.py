"""QIDO-RS driven by a third-party client (dicomweb-client) against the live server, with its
own defaults: percent-encoded values, repeated includefield, limit/offset paging."""

from urllib.parse import urlsplit

import pytest
from dicom_data import ct_series, mr_slice, pet_slice, receive_one
from dicomweb_client.api import DICOMwebClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(dicomweb_session, dicomweb_url):
    return DICOMwebClient(url=dicomweb_url, session=dicomweb_session)


@pytest.fixture
def stored():
    cts = ct_series(3, rows=32, columns=32, patient_name="Smith^John", patient_id="P100",
                    study_date="20240310", description="Chest CT")  # fmt: skip
    mr = mr_slice(0, patient_name="Smithers^Waylon", patient_id="P200", study_date="20230105")
    pet = pet_slice(0, patient_name="Jones^Ann", patient_id="Q300", study_date="20240620")
    for ds in (*cts, mr, pet):
        assert receive_one(ds).ok
    return {"ct": cts, "mr": mr, "pet": pet}


def value(dataset, keyword_tag):
    return dataset[keyword_tag]["Value"][0]


def test_search_for_studies_with_matching_rules(client, stored):
    everything = client.search_for_studies()
    assert [value(s, "00080020") for s in everything] == ["20240620", "20240310", "20230105"]

    wildcard = client.search_for_studies(search_filters={"PatientName": "SMI*"})
    assert sorted(value(s, "00100020") for s in wildcard) == ["P100", "P200"]

    fuzzy = client.search_for_studies(search_filters={"PatientName": "joh"}, fuzzymatching=True)
    assert [value(s, "00100020") for s in fuzzy] == ["P100"]

    dated = client.search_for_studies(search_filters={"StudyDate": "20240101-"})
    assert [value(s, "00100020") for s in dated] == ["Q300", "P100"]

    by_modality = client.search_for_studies(search_filters={"ModalitiesInStudy": "MR,PT"})
    assert [value(s, "00100020") for s in by_modality] == ["Q300", "P200"]

    by_uid = client.search_for_studies(
        search_filters={"StudyInstanceUID": stored["mr"].StudyInstanceUID},
        fields=["StudyDescription", "00100040"],
    )
    assert value(by_uid[0], "00081030") == "Generated study"
    assert value(by_uid[0], "00100040") == "F"


def test_paging_with_get_remaining(client, stored):
    page = client.search_for_studies(limit=2, offset=1)
    assert [value(s, "00100020") for s in page] == ["P100", "P200"]

    everything = client.search_for_studies(limit=1, get_remaining=True)
    assert [value(s, "00100020") for s in everything] == ["Q300", "P100", "P200"]


def test_search_for_series(client, stored):
    ct = stored["ct"][0]
    (series,) = client.search_for_series(ct.StudyInstanceUID)
    assert value(series, "0020000E") == ct.SeriesInstanceUID
    assert value(series, "00201209") == 3
    assert value(series, "00080060") == "CT"

    mr_series = client.search_for_series(search_filters={"Modality": "MR"})
    assert [value(s, "0020000E") for s in mr_series] == [stored["mr"].SeriesInstanceUID]
    assert value(mr_series[0], "00100020") == "P200"  # study attributes: study not fixed


def test_search_for_instances(client, stored):
    ct = stored["ct"]
    instances = client.search_for_instances(ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID)
    assert [value(i, "00080018") for i in instances] == [ds.SOPInstanceUID for ds in ct]

    numbered = client.search_for_instances(
        ct[0].StudyInstanceUID, search_filters={"InstanceNumber": "2"}
    )
    assert [value(i, "00080018") for i in numbered] == [ct[1].SOPInstanceUID]

    pet = client.search_for_instances(search_filters={"00100020": "Q3*"})
    assert [value(i, "00080018") for i in pet] == [stored["pet"].SOPInstanceUID]
    assert value(pet[0], "00280010") == 128
    # RetrieveURL is absolute and names this server as the client addressed it (the
    # client sends its own Host header, without the port).
    url = urlsplit(value(pet[0], "00081190"))
    assert url.hostname == urlsplit(client.base_url).hostname
    assert url.path == (
        f"/dicom-web/studies/{stored['pet'].StudyInstanceUID}"
        f"/series/{stored['pet'].SeriesInstanceUID}/instances/{stored['pet'].SOPInstanceUID}"
    )

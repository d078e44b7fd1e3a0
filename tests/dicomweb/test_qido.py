"""QIDO-RS over HTTP: OHIF's exact requests, every Accept it may send, returned attributes,
paging, URLs behind proxies, and bad input answered with a 400 that names the parameter."""

import pytest
from dicom_data import ct_series, mr_slice, pet_slice, receive_one

from archive.models import Instance, Study

OHIF_STUDY_LIST = (
    "/dicom-web/studies?PatientName=*smi*&00100020=*1*&StudyDate=20240101-20241231"
    "&ModalitiesInStudy=CT,MR&limit=101&offset=0&fuzzymatching=false"
    "&includefield=00081030,00080060,00080090,00100030"
)
DICOM_JSON = "application/dicom+json"


def store(*datasets):
    for ds in datasets:
        result = receive_one(ds)
        assert result.ok, result.reason


@pytest.fixture
def archive(db):
    """Three patients: Smith (CT + MR, 2024), Smithers (MR, 2023), Jones (PT, 2024)."""
    smith = dict(patient_name="Smith^John", patient_id="P100", study_date="20240310",
                 description="Chest CT", accession="A1")  # fmt: skip
    cts = ct_series(2, rows=32, columns=32, **smith)
    mr = mr_slice(0, study_uid=cts[0].StudyInstanceUID, series_number=2, **smith)
    smithers = mr_slice(0, patient_name="Smithers^Waylon", patient_id="P200",
                        study_date="20230105", description="Head MR", accession="A2")  # fmt: skip
    jones = pet_slice(0, patient_name="Jones^Ann", patient_id="Q300", study_date="20240620",
                      description="Whole body", accession="A3")  # fmt: skip
    store(*cts, mr, smithers, jones)
    return {"smith": cts + [mr], "smithers": [smithers], "jones": [jones]}


def value(dataset: dict, tag: str):
    values = dataset[tag].get("Value", [])
    return values[0] if len(values) == 1 else values


@pytest.mark.parametrize(
    "accept",
    [
        DICOM_JSON,
        "application/json",
        "*/*",
        None,
        "application/dicom+json; charset=utf-8",
        "application/dicom+json, application/json",  # dicomweb-client's
    ],
)
def test_ohif_study_list_query(admin_client, archive, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = admin_client.get(OHIF_STUDY_LIST, **headers)

    assert response.status_code == 200
    expected_type = "application/json" if accept == "application/json" else DICOM_JSON
    assert response["Content-Type"] == expected_type
    (study,) = response.json()
    ct = archive["smith"][0]
    assert value(study, "0020000D") == ct.StudyInstanceUID
    assert value(study, "00100010") == {"Alphabetic": "Smith^John"}
    assert value(study, "00100020") == "P100"
    assert value(study, "00100030") == "19700101"
    assert value(study, "00080020") == "20240310"
    assert value(study, "00080030") == "101500"
    assert value(study, "00080050") == "A1"
    assert value(study, "00081030") == "Chest CT"
    assert value(study, "00080061") == ["CT", "MR"]
    assert value(study, "00080090") == {"Alphabetic": "Referrer^Rita"}
    assert value(study, "00201206") == 2
    assert value(study, "00201208") == 3
    assert value(study, "00080005") == "ISO_IR 192"
    assert value(study, "00080056") == "ONLINE"
    assert value(study, "00081190") == f"http://testserver/dicom-web/studies/{ct.StudyInstanceUID}"
    assert study["00100010"]["vr"] == "PN" and study["00201208"]["vr"] == "IS"
    assert "Warning" not in response


def test_ohif_viewer_open_queries(admin_client, archive):
    """Opening the viewer: the study header by UID, then the patient's other studies by MRN."""
    uid = archive["smith"][0].StudyInstanceUID
    header = admin_client.get(
        f"/dicom-web/studies?StudyInstanceUID={uid}&limit=101&offset=0&fuzzymatching=false"
        "&includefield=00081030,00080060",
        HTTP_ACCEPT=DICOM_JSON,
    ).json()
    priors = admin_client.get("/dicom-web/studies?00100020=P100", HTTP_ACCEPT=DICOM_JSON).json()

    assert [value(s, "0020000D") for s in header] == [uid]
    assert value(header[0], "00081030") == "Chest CT"
    assert [value(s, "0020000D") for s in priors] == [uid]


@pytest.mark.parametrize("accept", [DICOM_JSON, "application/json", "*/*", None])
def test_ohif_series_query(admin_client, archive, accept):
    ct, _, mr = archive["smith"]
    url = f"/dicom-web/studies/{ct.StudyInstanceUID}/series?includefield=0008103E,00080021"
    response = admin_client.get(url, **({"HTTP_ACCEPT": accept} if accept else {}))

    assert response.status_code == 200
    first, second = response.json()
    assert [value(s, "0020000E") for s in (first, second)] == [
        ct.SeriesInstanceUID,
        mr.SeriesInstanceUID,
    ]
    assert [value(s, "00080060") for s in (first, second)] == ["CT", "MR"]
    assert [value(s, "00200011") for s in (first, second)] == [1, 2]
    assert [value(s, "00201209") for s in (first, second)] == [2, 1]
    assert value(first, "0008103E") == "Generated"
    assert value(first, "00080021") == "20240310"
    assert value(first, "0020000D") == ct.StudyInstanceUID
    assert value(first, "00081190").endswith(
        f"/dicom-web/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}"
    )
    assert "00100010" not in first  # the study is fixed by the URL


def test_instances_of_a_series_in_instance_number_order(admin_client, archive):
    first, second, _ = archive["smith"]
    url = f"/dicom-web/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances"
    instances = admin_client.get(url).json()

    assert [value(i, "00080018") for i in instances] == [
        first.SOPInstanceUID,
        second.SOPInstanceUID,
    ]
    assert [value(i, "00200013") for i in instances] == [1, 2]
    assert value(instances[0], "00080016") == "1.2.840.10008.5.1.4.1.1.2"
    assert (value(instances[0], "00280010"), value(instances[0], "00280011")) == (32, 32)
    assert value(instances[0], "00280100") == 16
    assert value(instances[0], "00081190") == (
        f"http://testserver/dicom-web/studies/{first.StudyInstanceUID}"
        f"/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}"
    )


def test_series_and_instances_without_study_carry_study_attributes(admin_client, archive):
    series = admin_client.get("/dicom-web/series?PatientName=jones*").json()
    assert len(series) == 1
    assert value(series[0], "00100010") == {"Alphabetic": "Jones^Ann"}
    assert value(series[0], "00080060") == "PT"

    instances = admin_client.get("/dicom-web/instances?Modality=MR&PatientID=P2*").json()
    assert len(instances) == 1
    assert value(instances[0], "00080018") == archive["smithers"][0].SOPInstanceUID
    assert value(instances[0], "0020000E") == archive["smithers"][0].SeriesInstanceUID
    assert value(instances[0], "00081030") == "Head MR"

    study = archive["smith"][0].StudyInstanceUID
    in_study = admin_client.get(f"/dicom-web/studies/{study}/instances?Modality=MR").json()
    assert [value(i, "00080060") for i in in_study] == ["MR"]


def test_percent_encoded_wildcards_and_fuzzy_names(admin_client, archive):
    encoded = admin_client.get("/dicom-web/studies?PatientName=SMI%2A").json()
    assert sorted(value(s, "00100020") for s in encoded) == ["P100", "P200"]

    fuzzy = admin_client.get("/dicom-web/studies?PatientName=wAyL&fuzzymatching=true").json()
    assert [value(s, "00100020") for s in fuzzy] == ["P200"]


def test_names_in_other_character_sets_come_back_as_utf8(admin_client, db):
    latin1 = mr_slice(0, patient_name="Müller^Jürgen", patient_id="L1")
    latin1.SpecificCharacterSet = "ISO_IR 100"
    store(latin1)

    response = admin_client.get("/dicom-web/studies?PatientName=müller*")
    (study,) = response.json()
    assert value(study, "00100010") == {"Alphabetic": "Müller^Jürgen"}
    assert value(study, "00080005") == "ISO_IR 192"
    assert "Müller".encode() in response.content


def test_person_name_groups_are_split(admin_client, db):
    store(mr_slice(0, patient_name="Yamada^Tarou=山田^太郎=やまだ^たろう", patient_id="J1"))

    (study,) = admin_client.get("/dicom-web/studies?PatientID=J1").json()
    assert value(study, "00100010") == {
        "Alphabetic": "Yamada^Tarou",
        "Ideographic": "山田^太郎",
        "Phonetic": "やまだ^たろう",
    }
    fuzzy = admin_client.get("/dicom-web/studies?PatientName=山田&fuzzymatching=true").json()
    assert [value(s, "00100020") for s in fuzzy] == ["J1"]


def test_limit_offset_and_warning_header(admin_client, archive):
    first = admin_client.get("/dicom-web/studies?limit=2")
    rest = admin_client.get("/dicom-web/studies?limit=2&offset=2")

    assert [value(s, "00080020") for s in first.json()] == ["20240620", "20240310"]
    assert first["Warning"].startswith("299 testserver: The number of results exceeded")
    assert [value(s, "00080020") for s in rest.json()] == ["20230105"]
    assert "Warning" not in rest


def test_absurd_limit_is_clamped_with_a_warning(admin_client, archive, settings):
    settings.QIDO_MAX_LIMIT = 2
    response = admin_client.get("/dicom-web/studies?limit=999999999")
    assert response.status_code == 200
    assert len(response.json()) == 2
    assert "299" in response["Warning"]

    settings.QIDO_MAX_LIMIT = 5  # clamped, but nothing cut: no warning
    response = admin_client.get("/dicom-web/studies?limit=999999999")
    assert len(response.json()) == 3
    assert "Warning" not in response


def test_includefield_all_on_instances_reads_the_stored_dicom_json(admin_client, archive):
    jones = archive["jones"][0]
    instance = Instance.objects.get(sop_instance_uid=jones.SOPInstanceUID)
    metadata = jones.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda e: (
        f"$DICOMWEB_BASE$/studies/x/bulk/{e.tag:08X}"))  # fmt: skip
    instance.metadata = metadata
    instance.save()

    (everything,) = admin_client.get(
        f"/dicom-web/instances?SOPInstanceUID={jones.SOPInstanceUID}&includefield=all"
    ).json()
    (some,) = admin_client.get(
        f"/dicom-web/instances?SOPInstanceUID={jones.SOPInstanceUID}&includefield=00541001"
    ).json()

    assert value(everything, "00541001") == "BQML"  # Units, only in the file
    assert value(everything, "00101030") == 70  # PatientWeight from the index, as a number
    assert "7FE00010" not in everything  # no bulk data in search results
    drug = value(everything, "00540016")
    assert drug["00181075"]["Value"] == [6586.2]
    assert value(some, "00541001") == "BQML"
    assert "00540016" not in some


def test_includefield_all_on_studies_returns_every_index_attribute(admin_client, archive):
    (study,) = admin_client.get("/dicom-web/studies?PatientID=Q300&includefield=all").json()
    (plain,) = admin_client.get("/dicom-web/studies?PatientID=Q300").json()

    assert value(study, "00101030") == 70  # PatientWeight, DS as a number
    assert value(study, "00101020") == 1.7  # PatientSize
    assert study["00101010"] == {"vr": "AS"}  # PatientAge: empty, present without a Value
    assert "00101030" not in plain
    assert "00080060" not in study  # Modality: a series attribute


def test_retrieve_url_behind_a_proxy_under_a_sub_path(admin_client, archive, settings):
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["pacs.example.org", "testserver"]
    response = admin_client.get(
        "/dicom-web/studies?PatientID=Q300",
        SCRIPT_NAME="/pacs",
        HTTP_X_FORWARDED_HOST="pacs.example.org",
        HTTP_X_FORWARDED_PROTO="https",
    )
    (study,) = response.json()
    uid = archive["jones"][0].StudyInstanceUID
    assert value(study, "00081190") == f"https://pacs.example.org/pacs/dicom-web/studies/{uid}"


def test_head_and_empty_results(admin_client, archive):
    assert admin_client.head("/dicom-web/studies").status_code == 200
    response = admin_client.get("/dicom-web/studies?PatientID=nobody")
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    "url, named",
    [
        ("/dicom-web/studies?Foo=1", "Foo"),
        ("/dicom-web/studies?StudyDate=20241332", "StudyDate"),
        ("/dicom-web/studies?StudyDate=yesterday", "StudyDate"),
        ("/dicom-web/studies?limit=-5", "limit"),
        ("/dicom-web/studies?offset=1e9", "offset"),
        ("/dicom-web/studies?offset=99999999999999", "offset"),
        ("/dicom-web/studies?includefield=Bogus", "includefield"),
        ("/dicom-web/studies?SOPInstanceUID=1.2", "SOPInstanceUID"),
        ("/dicom-web/studies?StudyInstanceUID=1.2.3;DROP", "StudyInstanceUID"),
        ("/dicom-web/studies?PatientID=%00", "PatientID"),
        ("/dicom-web/instances?Rows=512", "Rows"),  # no index across the archive
        ("/dicom-web/instances?PatientName=*%00*&fuzzymatching=true", "PatientName"),
        ("/dicom-web/series?StudyTime=99", "StudyTime"),
        ("/dicom-web/studies/1.2.abc/series", "study"),
        (f"/dicom-web/studies/{'1' * 65}/instances", "study"),
        ("/dicom-web/studies/1.2/series/../instances", "series"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(admin_client, archive, url, named):
    before = list(Study.objects.values_list("study_instance_uid", "generation"))
    response = admin_client.get(url, HTTP_ACCEPT=DICOM_JSON)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(named)
    assert list(Study.objects.values_list("study_instance_uid", "generation")) == before


def test_unsupported_accept_is_406(admin_client, archive):
    response = admin_client.get("/dicom-web/studies", HTTP_ACCEPT="application/dicom+xml")
    assert response.status_code == 406


def test_searching_needs_a_login(client, archive):
    response = client.get("/dicom-web/studies")
    assert response.status_code in (401, 403)
    assert "0020000D" not in response.content.decode()

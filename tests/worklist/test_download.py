"""A study downloaded as a zip holds exactly its instances, byte for byte."""

import io
import zipfile

from dicom_data import ct_series, mr_slice, to_bytes


def test_zip_holds_every_instance_of_the_study_and_nothing_else(client_as, store):
    ct = ct_series(3, rows=32, columns=32, patient_id="ZIP-1", study_date="20240202")
    mr = mr_slice(study_uid=ct[0].StudyInstanceUID, series_number=2, patient_id="ZIP-1")
    other = mr_slice(patient_id="OTHER")
    store(*ct, mr, other)

    response = client_as("reader").get(f"/worklist/studies/{ct[0].StudyInstanceUID}/download")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="ZIP-1_20240202_{ct[0].StudyInstanceUID}.zip"'
    )
    chunks = list(response.streaming_content)
    assert len(chunks) > 4  # produced piece by piece, not in one buffer
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        got = {info.filename: archive.read(info) for info in infos}
    expected = {ds.SOPInstanceUID: to_bytes(ds) for ds in (*ct, mr)}
    assert {name.rsplit("/", 1)[1].removesuffix(".dcm"): data for name, data in got.items()} == (
        expected
    )
    assert sorted({name.split("/")[0] for name in got}) == ["001_CT_Generated", "002_MR_Generated"]


def test_unknown_or_malformed_study_is_404(client_as):
    client = client_as("reader")
    assert client.get("/worklist/studies/1.2.3/download").status_code == 404
    assert client.get("/worklist/studies/..%2Fetc/download").status_code == 404


def test_download_needs_login(db, client):
    response = client.get("/worklist/studies/1.2.3/download", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/worklist/studies/1.2.3/download").status_code == 401  # a script

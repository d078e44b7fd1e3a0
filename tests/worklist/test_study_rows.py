"""What one study row shows, its series on demand, and the state endpoint the page polls."""

from dicom_data import ct_series, mr_slice

from archive.models import Study


def test_row_shows_every_column_formatted(client_as, store):
    ds = mr_slice(
        patient_name="Doe^Jane", patient_id="PID7", accession="ACC7", description="MR Knee"
    )
    ds.PatientBirthDate = "19800229"
    ds.StudyTime = "143015.5"
    store(ds)
    html = client_as("reader").get("/").content.decode()
    for text in (
        "DOE, JANE",
        "PID7",
        "1980-02-29",
        ">F<",
        "2024-01-15",
        "14:30",
        "MR Knee",
        '<span class="chip">MR</span>',
        "ACC7",
        'class="badge state-pending"',
        f'src="/dicom-web/studies/{ds.StudyInstanceUID}/thumbnail"',
        'loading="lazy"',
        f'href="/ohif/viewer?StudyInstanceUIDs={ds.StudyInstanceUID}"',
        f'href="/worklist/studies/{ds.StudyInstanceUID}/download"',
        f'href="/dicom-web/studies/{ds.StudyInstanceUID}/ohif-dicom-json-link?open=viewer"',
        "Open as DICOM JSON",
    ):
        assert text in html, text
    row = html.split(f'data-uid="{ds.StudyInstanceUID}"')[1]
    assert '<td class="col-series num">1</td>' in row
    assert '<td class="col-instances num">1</td>' in row


def test_series_are_loaded_on_demand(client_as, store):
    ct = ct_series(2, rows=32, columns=32, series_description="Axial 1mm")
    mr = mr_slice(study_uid=ct[0].StudyInstanceUID, series_number=5, series_description="T1")
    store(*ct, mr)
    response = client_as("reader").get(f"/worklist/studies/{ct[0].StudyInstanceUID}/series")
    html = response.content.decode()
    assert html.index("Axial 1mm") < html.index("T1")  # by series number
    assert f'data-uid="{ct[0].SeriesInstanceUID}"' in html
    assert (
        f'src="/dicom-web/studies/{ct[0].StudyInstanceUID}/series/{mr.SeriesInstanceUID}/thumbnail"'
        in html
    )
    assert '<td class="num">2</td>' in html  # CT instance count
    assert '<span class="chip">MR</span>' in html


def test_states_answer_for_the_asked_studies_only(client_as, store):
    [a] = store(mr_slice())
    [b] = store(mr_slice())
    Study.objects.filter(study_instance_uid=b.study_instance_uid).update(cache_generation=1)
    response = client_as("reader").get(
        "/worklist/states", {"uid": [a.study_instance_uid, b.study_instance_uid, "x'; drop"]}
    )
    assert response.json() == {
        "studies": {
            a.study_instance_uid: {
                "state": "pending",
                "series": 1,
                "instances": 1,
                "modalities": ["MR"],
            },
            b.study_instance_uid: {
                "state": "ready",
                "series": 1,
                "instances": 1,
                "modalities": ["MR"],
            },
        }
    }


def test_rows_fragment_is_the_results_part_for_the_same_search(client_as, store):
    [a] = store(mr_slice(patient_name="Alpha^A"))
    store(mr_slice(patient_name="Beta^B"))
    html = client_as("reader").get("/worklist/rows", {"name": "alpha"}).content.decode()
    assert "<html" not in html
    assert html.count('<tr class="study"') == 1
    assert f'data-uid="{a.study_instance_uid}"' in html


def test_every_page_needs_login(db, client):
    for url in ("/", "/worklist/rows", "/worklist/states", "/worklist/studies/1.2/series"):
        response = client.get(url, headers={"Accept": "text/html,*/*"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url

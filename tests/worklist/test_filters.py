"""Filters of the study list, as a clinician uses them: through the URL of the page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone


def listed(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<tr class="study" data-uid="([0-9.]+)"', response.content.decode())


@pytest.fixture
def studies(make_study):
    today = timezone.localdate()
    return {
        "jane": make_study(
            patient_name="Doe^Jane",
            patient_id="PID-1",
            accession_number="ACC100",
            study_description="CT Chest w/o contrast",
            modalities_in_study="CT\\SR",
            study_date=today.strftime("%Y%m%d"),
        ),
        "john": make_study(
            patient_name="DOE^JOHN",
            patient_id="PID-2",
            accession_number="ACC200",
            study_description="MR Brain",
            modalities_in_study="MR",
            study_date=(today - timedelta(days=5)).strftime("%Y%m%d"),
        ),
        "ann": make_study(
            patient_name="Smith^Ann",
            patient_id="X-9",
            accession_number="B300",
            study_description="PET/CT whole body",
            modalities_in_study="CT\\PT",
            study_date=(today - timedelta(days=20)).strftime("%Y%m%d"),
        ),
        "old": make_study(
            patient_name="Old^Otto",
            patient_id="PID-3",
            study_description="Chest X-ray",
            modalities_in_study="CR",
            study_date="19991231",
        ),
    }


def uids(studies, *names):
    return {studies[name].study_instance_uid for name in names}


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("doe", {"jane", "john"}),  # prefix, any case
        ("Doe, Ja", {"jane"}),  # as the list shows names
        ("DOE^JO", {"john"}),
        ("*ann", {"ann"}),  # wildcard anywhere
        ("d?e*", {"jane", "john"}),
        ("nobody", set()),
    ],
)
def test_patient_name_matches_prefix_and_wildcards_ignoring_case(
    client_as, studies, typed, expected
):
    response = client_as("reader").get("/", {"name": typed})
    assert set(listed(response)) == uids(studies, *expected)


def test_patient_id_accession_and_description(client_as, studies):
    client = client_as("reader")
    assert set(listed(client.get("/", {"pid": "PID-2"}))) == uids(studies, "john")
    assert set(listed(client.get("/", {"pid": "PID-*"}))) == uids(studies, "jane", "john", "old")
    assert set(listed(client.get("/", {"accession": "B300"}))) == uids(studies, "ann")
    assert set(listed(client.get("/", {"description": "chest"}))) == uids(studies, "jane", "old")


def test_several_modalities_match_any_of_them_as_whole_codes(client_as, studies):
    client = client_as("reader")
    assert set(listed(client.get("/", {"modality": ["PT", "MR"]}))) == uids(studies, "ann", "john")
    assert set(listed(client.get("/", {"modality": "CT"}))) == uids(studies, "jane", "ann")
    assert set(listed(client.get("/", {"modality": "SR"}))) == uids(studies, "jane")
    assert listed(client.get("/", {"modality": "C"})) == []


def test_date_presets_and_custom_range(client_as, studies):
    client = client_as("reader")
    today = timezone.localdate()
    assert set(listed(client.get("/", {"date": "today"}))) == uids(studies, "jane")
    assert set(listed(client.get("/", {"date": "7d"}))) == uids(studies, "jane", "john")
    assert set(listed(client.get("/", {"date": "30d"}))) == uids(studies, "jane", "john", "ann")
    window = {"from": (today - timedelta(days=25)).isoformat(), "to": (today - timedelta(days=1))}
    assert set(listed(client.get("/", window))) == uids(studies, "john", "ann")
    assert set(listed(client.get("/", {"to": "2000-01-01"}))) == uids(studies, "old")


def test_filters_combine_and_stay_in_the_page_for_bookmarking(client_as, studies):
    response = client_as("reader").get("/", {"name": "doe", "modality": "MR", "date": "30d"})
    assert set(listed(response)) == uids(studies, "john")
    html = response.content.decode()
    assert 'name="name" value="doe"' in html
    assert 'value="MR" checked' in html
    assert '<option value="30d" selected>' in html


def test_unusable_parameters_are_explained_and_the_rest_still_runs(client_as, studies):
    response = client_as("reader").get(
        "/", {"name": "doe", "from": "yesterday", "sort": "password", "page": "-3"}
    )
    assert set(listed(response)) == uids(studies, "jane", "john")
    html = response.content.decode()
    assert "Part of the search could not be used" in html
    assert "from &#x27;yesterday&#x27; is not a date (YYYY-MM-DD)" in html
    assert "cannot sort by &#x27;password&#x27;" in html


def test_no_match_tells_what_to_do(client_as, studies):
    html = client_as("reader").get("/", {"name": "zzz"}).content.decode()
    assert "No study matches this search" in html
    assert "Clear all filters" in html


def test_empty_archive_points_uploaders_at_upload(client_as):
    html = client_as("uploader").get("/").content.decode()
    assert "The archive holds no studies yet" in html
    assert "Use <strong>Upload</strong>" in html

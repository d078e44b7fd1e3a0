"""Sorting by any column and paging without counting the table."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from worklist.views import COLUMNS


def listed(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<tr class="study" data-uid="([0-9.]+)"', response.content.decode())


@pytest.fixture
def three(make_study):
    return [
        make_study(
            patient_name="Baker^Bea",
            patient_id="P2",
            study_date="20240301",
            study_time="090000",
            number_of_study_related_instances=5,
        ),
        make_study(
            patient_name="adams^al",
            patient_id="P3",
            study_date="20240301",
            study_time="120000",
            number_of_study_related_instances=50,
        ),
        make_study(
            patient_name="Cole^Cy",
            patient_id="P1",
            study_date="20230101",
            number_of_study_related_instances=7,
        ),
    ]


def test_newest_study_first_by_default(client_as, three):
    baker, adams, cole = (s.study_instance_uid for s in three)
    assert listed(client_as("reader").get("/")) == [adams, baker, cole]


@pytest.mark.parametrize(
    "sort, order",
    [
        ("name", [1, 0, 2]),  # case-insensitive: adams, Baker, Cole
        ("-name", [2, 0, 1]),
        ("pid", [2, 0, 1]),
        ("instances", [0, 2, 1]),
        ("-instances", [1, 2, 0]),
        ("date", [2, 0, 1]),
    ],
)
def test_sort_by_column_either_way(client_as, three, sort, order):
    response = client_as("reader").get("/", {"sort": sort})
    assert listed(response) == [three[i].study_instance_uid for i in order]


def test_every_column_header_sorts(client_as, three):
    client = client_as("reader")
    html = client.get("/").content.decode()
    for key, _label in COLUMNS:
        hrefs = re.findall(rf'<th class="col-{key}"[^>]*>\s*<a href="\?([^"]*)"', html)
        assert hrefs, key
        response = client.get("/?" + hrefs[0].replace("&amp;", "&"))
        assert sorted(listed(response)) == sorted(s.study_instance_uid for s in three), key


def test_state_column_sorts_what_needs_attention_first(client_as, make_study):
    ready = make_study(patient_name="R", generation=2, cache_generation=2)
    pending = make_study(patient_name="P", generation=1)
    failed = make_study(patient_name="F", generation=3, cache_generation=1, cache_error="boom")
    response = client_as("reader").get("/", {"sort": "state"})
    assert listed(response) == [s.study_instance_uid for s in (failed, pending, ready)]
    html = response.content.decode()
    assert 'class="badge state-failed" title="boom"' in html
    only_ready = client_as("admin").get("/", {"state": "ready"})
    assert listed(only_ready) == [ready.study_instance_uid]


def test_pages_follow_each_other_without_a_count(client_as, make_study, settings):
    settings.WORKLIST_PAGE_SIZE = 4
    made = [
        make_study(patient_name=f"P^{i:02d}", study_date=f"202401{i + 1:02d}") for i in range(10)
    ]
    newest_first = [s.study_instance_uid for s in reversed(made)]
    client = client_as("reader")
    seen = []
    for page in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/", {"page": page, "name": "p"})
        assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
        seen += listed(response)
        html = response.content.decode()
        assert ('rel="next"' in html) == (page < 3)
        assert ('rel="prev"' in html) == (page > 1)
    assert seen == newest_first
    assert "Studies 9–10" in html
    past = client.get("/", {"page": 9}).content.decode()
    assert "This page is past the last study" in past

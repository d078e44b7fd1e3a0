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
    client = client_as("admin")
    for state, study in (("ready", ready), ("pending", pending), ("failed", failed)):
        assert listed(client.get("/", {"state": state})) == [study.study_instance_uid], state


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="\?([^"]*)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def walk(client, start: str, rel: str) -> list[list[str]]:
    """Follow the page's next (or prev) links from ``start``; the studies of each page."""
    pages, params = [], start
    while params is not None:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/?" + params)
        # The total is counted up to WORKLIST_EXACT_COUNT_LIMIT only, never over the table.
        sql = [q["sql"].upper() for q in queries.captured_queries]
        counts = [q for q in sql if "COUNT(" in q]
        assert counts and all("LIMIT" in sql for sql in counts)
        pages.append(listed(response))
        params = link(response.content.decode(), rel)
        assert len(pages) < 20
    return pages


@pytest.mark.parametrize("sort", ["-date", "name", "-instances", "state", "received", "sex"])
def test_next_and_previous_links_walk_every_study_once(client_as, make_study, settings, sort):
    """Ties in the sort column (same sex, same count...) are broken by the primary key, so
    pages never overlap or skip a study, forwards or backwards."""
    settings.WORKLIST_PAGE_SIZE = 4
    made = [
        make_study(
            patient_name=f"P^{i % 3}",
            patient_sex="FM"[i % 2],
            study_date=f"202401{i % 5 + 1:02d}",
            number_of_study_related_instances=i % 4,
            generation=1,
            cache_generation=1 if i % 3 else None,
        )
        for i in range(11)
    ]
    client = client_as("reader")
    forward = walk(client, f"sort={sort}&name=p", "next")
    assert [len(page) for page in forward] == [4, 4, 3]
    everyone = [uid for page in forward for uid in page]
    assert sorted(everyone) == sorted(s.study_instance_uid for s in made)
    last = client.get("/?" + f"sort={sort}&name=p")
    for _ in range(2):
        last = client.get("/?" + link(last.content.decode(), "next"))
    assert "Studies 9–11 of 11" in last.content.decode()
    backward = walk(client, link(last.content.decode(), "prev"), "prev")
    assert backward == forward[-2::-1]


def test_a_bookmarked_page_number_still_works(client_as, make_study, settings):
    settings.WORKLIST_PAGE_SIZE = 4
    made = [make_study(patient_name=f"P^{i}", study_date=f"202401{i + 1:02d}") for i in range(10)]
    newest_first = [s.study_instance_uid for s in reversed(made)]
    client = client_as("reader")
    assert listed(client.get("/", {"page": 2})) == newest_first[4:8]
    html = client.get("/", {"page": 3}).content.decode()
    assert listed_html(html) == newest_first[8:]
    assert "Studies 9–10" in html
    assert 'rel="next"' not in html
    assert "page=2" in link(html, "prev")
    past = client.get("/", {"page": 9}).content.decode()
    assert "This page is past the last study" in past


def test_a_damaged_page_link_says_so_and_shows_the_first_page(client_as, make_study):
    made = [make_study(patient_name=f"P^{i}", study_date=f"2024010{i + 1}") for i in range(3)]
    client = client_as("reader")
    for cursor in ("garbage", "WyJ4IiwxXQ", "WyIyMDI0MDEwMSIsIjEwIiwieCJd"):
        response = client.get("/", {"after": cursor, "page": 5})
        assert listed(response) == [s.study_instance_uid for s in reversed(made)]
        assert "the page link was out of date; showing page 1" in response.content.decode()


def listed_html(html: str) -> list[str]:
    return re.findall(r'<tr class="study" data-uid="([0-9.]+)"', html)

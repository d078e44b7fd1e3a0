"""The list says how many studies match ("1–25 of 30"), counted exactly up to a limit and
estimated past it; the page size and the compact rows are chosen in the URL and kept by every
link and by the search form."""

import re

import pytest
from django.db import connection


def listed(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<tr class="study" data-uid="([0-9.]+)"', response.content.decode())


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="\?([^"]*)"', html)]


def header_links(html: str) -> list[str]:
    return [
        h.replace("&amp;", "&") for h in re.findall(r'<th class[^>]*>\s*<a href="\?([^"]*)"', html)
    ]


@pytest.fixture
def thirty(make_study):
    return [
        make_study(patient_name=f"Case^{i:02d}", study_date=f"2024{i % 12 + 1:02d}01")
        for i in range(30)
    ]


def test_the_total_is_shown_above_and_below_the_list(client_as, thirty):
    client = client_as("reader")
    html = client.get("/").content.decode()
    assert html.count("Studies 1–30 of 30") == 2
    html = client.get("/", {"name": "case, 0"}).content.decode()
    assert "Studies 1–10 of 10" in html


def test_past_the_limit_the_total_is_an_estimate(client_as, thirty, settings):
    settings.WORKLIST_EXACT_COUNT_LIMIT = 20
    client = client_as("reader")
    html = client.get("/", {"size": 25}).content.decode()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE archive_study")
        html = client.get("/", {"size": 25}).content.decode()
        assert "Studies 1–25 of about 30" in html
    else:
        assert "Studies 1–25 of more than 20" in html


def test_the_page_size_is_chosen_in_the_url_and_kept(client_as, thirty):
    client = client_as("reader")
    response = client.get("/", {"size": 25, "sort": "name"})
    assert len(listed(response)) == 25
    html = response.content.decode()
    assert "Studies 1–25 of 30" in html
    following = re.search(r'rel="next" href="\?([^"]*)"', html).group(1).replace("&amp;", "&")
    assert "size=25" in following
    assert len(listed(client.get("/?" + following))) == 5
    # Every sort header keeps it; the search form carries it in a hidden field.
    assert all("size=25" in h for h in header_links(html))
    assert '<input type="hidden" name="size" value="25">' in html
    # The choice itself: three links, the current one plain.
    assert '<strong aria-current="true">25</strong>' in html
    assert {h for h in hrefs(html) if "size=" in h and "page" not in h} >= {
        "sort=name&size=50",
        "sort=name&size=100",
    }


def test_an_unknown_page_size_is_explained(client_as, thirty):
    response = client_as("reader").get("/", {"size": 7})
    assert len(listed(response)) == 30
    assert "size &#x27;7&#x27; is not one of 25, 50, 100" in response.content.decode()


def test_compact_rows_are_kept_in_the_url(client_as, thirty):
    client = client_as("reader")
    html = client.get("/").content.decode()
    assert '<table class="studies">' in html
    compact = re.search(r'class="btn small density" href="\?([^"]*)"', html).group(1)
    assert compact == "rows=compact"
    html = client.get("/?" + compact).content.decode()
    assert '<table class="studies compact">' in html
    assert all("rows=compact" in h for h in header_links(html))
    assert all("rows=compact" in h for h in hrefs(html) if "size=" in h)
    assert '<input type="hidden" name="rows" value="compact">' in html
    assert re.search(r'class="btn small density" href="\?"', html)  # back to roomy rows


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("synthetic", {"given", "family"}),  # any part of the name, as OHIF's list finds it
        ("SYNTH", {"given", "family"}),
        ("marie", {"middle"}),  # a second word in a part
        ("ynthetic", set()),  # the start of a part or word, not inside one
        ("patient, synth", {"given"}),  # with a comma: family name, then given name
        ("*ynth*", {"given", "family"}),  # the documented wildcards still work
    ],
)
def test_one_word_finds_given_names_too(client_as, make_study, typed, expected):
    made = {
        "given": make_study(patient_name="Patient^Synthetic"),
        "family": make_study(patient_name="Synthetic^Ann"),
        "middle": make_study(patient_name="Doe^Jane Marie"),
        "other": make_study(patient_name="Goldsmith^Bob"),
    }
    found = set(listed(client_as("reader").get("/", {"name": typed})))
    assert found == {made[k].study_instance_uid for k in expected}

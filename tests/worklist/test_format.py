"""How index strings read in the list: names, dates, times."""

import pytest

from archive.display import dicom_date, dicom_time, person_name
from worklist.templatetags.worklist_format import modalities


@pytest.mark.parametrize(
    "stored, shown",
    [
        ("Doe^Jane", "DOE, JANE"),
        ("DOE^JANE^M^DR^JR", "DOE, DR JANE M, JR"),
        ("Doe", "DOE"),
        ("^Jane", "JANE"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "YAMADA, TAROU"),
        ("=山田^太郎", "山田, 太郎"),
        ("", ""),
    ],
)
def test_person_name(stored, shown):
    assert person_name(stored) == shown


def test_dates_times_and_modalities():
    assert dicom_date("20240115") == "2024-01-15"
    assert dicom_date("2024") == "2024"
    assert dicom_time("101500.123") == "10:15"
    assert dicom_time("10:15:00") == "10:15"
    assert dicom_time("") == ""
    assert modalities("CT\\PT") == ["CT", "PT"]
    assert modalities("") == []


def test_the_favicon_answers_everyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and b"#5acce6" in response.content

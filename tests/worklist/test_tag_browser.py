"""The read-only DICOM tag browser: one instance's attributes from its stored DICOM JSON, named
and in tag order, sequences folded with their items inside, the series' other instances a
click away; reached from the worklist's series rows and from the admin."""

import re

import pytest
from dicom_data import ct_series
from pydicom.dataset import Dataset

from archive import tagtree
from archive.models import Instance


@pytest.fixture
def series(store):
    datasets = ct_series(3, rows=8, columns=8, patient_name="Tags^Tina", patient_id="TAG-1")
    for ds in datasets:
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = f"{ds.SOPInstanceUID}.9"
        ds.ReferencedImageSequence = [item, item]
        block = ds.private_block(0x0009, "ACME 1.0", create=True)
        block.add_new(0x10, "LO", "vendor secret")
    store(*datasets)
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def tags_url(ds) -> str:
    return f"/worklist/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/tags"


def test_the_first_instance_is_shown_with_names_values_and_folded_sequences(client_as, series):
    response = client_as("reader").get(tags_url(series[0]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Instance 1 of 3" in html and series[0].SOPInstanceUID in html
    row = re.search(r"<code>\(0010,0010\)</code>.*?</tr>", html, re.S).group(0)
    assert "PatientName" in row and "Tags^Tina" in row and ">PN<" in row
    sequence = re.search(r"<code>\(0008,1140\)</code>.*?</details>", html, re.S).group(0)
    assert "<summary>2 items</summary>" in sequence
    assert sequence.count("Item ") == 2
    assert f"{series[0].SOPInstanceUID}.9" in sequence
    assert "Private tag" in html and "vendor secret" in html
    assert "(binary: retrieved through its BulkDataURI)" in html  # the pixel data
    tags = re.findall(r"<td class=\"tag\"><code>\(([0-9A-F]{4},[0-9A-F]{4})\)", html)
    top_level = [t for t in tags if t != "0008,1150" and t != "0008,1155"]
    assert top_level == sorted(top_level)


def test_the_other_instances_are_a_click_away(client_as, series):
    client = client_as("reader")
    first = client.get(tags_url(series[0])).content.decode()
    following = re.search(r'rel="next" href="([^"]*)"', first).group(1)
    second = client.get(tags_url(series[0]) + following).content.decode()
    assert "Instance 2 of 3" in second and series[1].SOPInstanceUID in second
    assert 'rel="prev"' in second


def test_a_wrong_series_is_not_found(client_as, series):
    client = client_as("reader")
    wrong = tags_url(series[0]).replace(series[0].SeriesInstanceUID, "1.2.3.4")
    assert client.get(wrong).status_code == 404
    assert client.get("/worklist/studies/x/series/y/tags").status_code == 404


def test_it_is_linked_from_the_series_rows_and_the_admin(client_as, series, admin_client):
    study = series[0].StudyInstanceUID
    rows = client_as("reader").get(f"/worklist/studies/{study}/series").content.decode()
    assert f'href="{tags_url(series[0])}"' in rows
    instance = Instance.objects.get(sop_instance_uid=series[1].SOPInstanceUID)
    page = admin_client.get(f"/admin/archive/instance/{instance.pk}/change/").content.decode()
    assert f'href="{tags_url(series[1])}?sop={series[1].SOPInstanceUID}"' in page
    listing = admin_client.get("/admin/archive/series/").content.decode()
    assert f'href="{tags_url(series[0])}"' in listing


def test_values_are_told_in_words():
    rows = tagtree.elements(
        {
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane", "Ideographic": "山田"}]},
            "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
            "00420011": {"vr": "OB", "InlineBinary": "AAAA"},
            "00081140": {"vr": "SQ", "Value": []},
            "00100020": {"vr": "LO"},
        }
    )
    assert [(e.tag, e.keyword, e.value) for e in rows] == [
        ("(0008,1140)", "ReferencedImageSequence", "0 items"),
        ("(0010,0010)", "PatientName", "Doe^Jane=山田"),
        ("(0010,0020)", "PatientID", ""),
        ("(0028,0030)", "PixelSpacing", "0.5\\0.5"),
        ("(0042,0011)", "EncapsulatedDocument", "(binary, about 3 bytes)"),
    ]

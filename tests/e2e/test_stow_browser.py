"""STOW-RS, DELETE and OHIF's reject call from inside a logged-in browser page, as OHIF makes
them: XMLHttpRequest with the session cookie and the Origin header Chromium adds, no CSRF
token (OHIF sends none), the body encoded as dcmjs' dicomweb-client encodes it."""

import base64

import pytest
from dicom_data import ct_series, to_bytes

from archive.models import Instance, Series, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# dcmjs-org/dicomweb-client storeInstances: CRLF before the first delimiter, quoted boundary.
STORE_JS = """async ([files, boundary]) => {
  const parts = [];
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file), c => c.charCodeAt(0));
    parts.push(`\\r\\n--${boundary}\\r\\nContent-Type: application/dicom\\r\\n\\r\\n`, bytes);
  }
  parts.push(`\\r\\n--${boundary}--`);
  return await new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/dicom-web/studies');
    xhr.setRequestHeader(
      'Content-Type', `multipart/related; type="application/dicom"; boundary="${boundary}"`);
    xhr.onload = () => resolve({status: xhr.status, body: xhr.responseText});
    xhr.send(new Blob(parts));
  });
}"""

CALL_JS = """async ([method, url]) => {
  const response = await fetch(url, {method});
  return response.status;
}"""


def test_upload_delete_and_reject_from_the_page(page, live_server):
    first, second = ct_series(2, rows=16, columns=16), ct_series(1, rows=16, columns=16)
    second_study = second[0].StudyInstanceUID
    page.goto(f"{live_server.url}/dicom-web/studies?limit=1")  # any page of this origin

    files = [base64.b64encode(to_bytes(ds)).decode() for ds in first + second]
    answer = page.evaluate(STORE_JS, [files, "7b3c1a2e-0f4d-4c55-9a1e-2b6f8d0c9e31"])

    assert answer["status"] == 200, answer["body"]
    stored = [Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID) for ds in first + second]
    assert [i.absolute_path.read_bytes() for i in stored] == [to_bytes(d) for d in first + second]
    study_uid, series_uid = first[0].StudyInstanceUID, first[0].SeriesInstanceUID
    reject = f"/dicom-web/studies/{study_uid}/series/{series_uid}/reject/113001%5EDCM"
    assert page.evaluate(CALL_JS, ["POST", reject]) == 204
    assert not Series.objects.filter(series_instance_uid=series_uid).exists()
    assert page.evaluate(CALL_JS, ["DELETE", f"/dicom-web/studies/{second_study}"]) == 204
    assert not Study.objects.exists()
    assert not any(i.absolute_path.exists() for i in stored)

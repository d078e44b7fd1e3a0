"""Time QIDO-RS searches through the whole Django stack (middleware, auth, DRF, rendering),
in-process, against the database in DATABASE_URL (fill it with bench/qido_rows.py first).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qido_bench \\
        .venv/bin/python bench/qido_search.py [--runs 50]

Prints each search's median and p95 in milliseconds, the CPU time this process spent (a
figure that holds when the machine is busy; the database's share is not in it) and the number
of results, which is checked, so that a broken server does not look fast.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

SEARCHES = {
    "no filter, limit 101": "/dicom-web/studies?limit=101",
    "wildcard name *smi*": "/dicom-web/studies?PatientName=*smi*&limit=101",
    "date range 2020": "/dicom-web/studies?StudyDate=20200101-20201231&limit=101",
    "modality MR": "/dicom-web/studies?ModalitiesInStudy=MR&limit=101",
    "patient ID": "/dicom-web/studies?PatientID={patient_id}&limit=101",
    "OHIF study list": (
        "/dicom-web/studies?PatientName=*smi*&00100020=*1*&StudyDate=20200101-20241231"
        "&ModalitiesInStudy=CT,MR&limit=101&offset=0&fuzzymatching=false"
        "&includefield=00081030,00080060,00080090,00100030"
    ),
    "fuzzy name": "/dicom-web/studies?PatientName=mar&fuzzymatching=true&limit=101",
    "series of a study (OHIF)": "/dicom-web/studies/{study}/series?includefield=0008103E,00080021",
    "instances of a series": "/dicom-web/studies/{study}/series/{series}/instances",
}


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from archive.models import Series, Study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    user, _ = get_user_model().objects.get_or_create(
        username="qido-bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client(HTTP_HOST="localhost")
    _log_in(client, user)
    series = Series.objects.order_by("-pk").select_related("study").first()
    values = {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "patient_id": series.study.patient_id,
    }
    print(f"{Study.objects.count()} studies, {args.runs} runs per search")
    for label, url in SEARCHES.items():
        url = url.format(**values)
        timings, cpu = [], []
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, HTTP_ACCEPT="application/dicom+json")
            timings.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200, (url, response.status_code, response.content)
        count = len(response.json())
        assert count > 0, f"{label}: no results"
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(
            f"{label:28} median {statistics.median(timings):7.1f} ms  p95 {p95:7.1f} ms  "
            f"(Python CPU {statistics.median(cpu):5.1f} ms)  {count} results"
        )


def _log_in(client, user):
    """A session for the user, made directly: no login signal handlers, no password hashing
    (HTTP Basic would time PBKDF2, not the search)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key


if __name__ == "__main__":
    main()

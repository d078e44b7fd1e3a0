"""Worklist page time at archive scale: generate N studies (``generate_studies``) in a
throwaway database and print the median server time of the study list and of searches.

    .venv/bin/python bench/worklist.py                      # 100,000 studies, SQLite
    .venv/bin/python bench/worklist.py --database-url postgres://postgres@127.0.0.1:5432/postgres

"Server time" is the whole Django request (middleware, query, template, and the total shown
above the list: exact up to WORKLIST_EXACT_COUNT_LIMIT, PostgreSQL's estimate past it)
measured in process with the test client, so network and browser are left out. With
PostgreSQL a database named bench_worklist_<pid> is created on that server and dropped at the
end. Aim: < 150 ms.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [
    ("study list, first page (newest first)", "/"),
    ("study list, 100 per page, compact rows", "/?size=100&rows=compact"),
    ("study list, page 200 (bookmarked page number: offset)", "/?page=200"),
    ("study list, page {deep} (bookmarked page number: offset)", "/?page={deep}"),
    ("study list, page {deep} (Next link: keyset)", "next-of:/?page={before_deep}"),
    ("name prefix 'smith'", "/?name=smith"),
    ("one word of any name part 'anna'", "/?name=anna"),
    ("filtered: name + modality CT + last 30 days", "/?name=tay&modality=CT&date=30d"),
    ("patient ID exact", "/?pid=P000123"),
    ("description 'knee', sorted by name", "/?description=knee&sort=name"),
    ("last 7 days", "/?date=7d"),
    ("sorted by instance count", "/?sort=-instances"),
    ("failed studies only", "/?state=failed"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench-worklist-")
    os.environ["DATA_DIR"] = workdir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")
    drop = None
    if args.database_url:
        os.environ["DATABASE_URL"], drop = _create_database(args.database_url)
    else:
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    try:
        run(args)
    finally:
        if drop:
            drop()


def run(args):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    call_command("generate_studies", args.studies)
    print(f"generated {args.studies} studies in {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    user = get_user_model().objects.create_superuser("bench", password="bench-password")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    print(f"{connection.vendor}, {args.studies} studies, median of {args.repeat} requests")
    print(f"{'scenario':55} {'median ms':>10} {'p90 ms':>8} {'rows':>5}  total shown")
    medians = []
    from django.conf import settings

    deep = max(2, args.studies // settings.WORKLIST_PAGE_SIZE * 9 // 10)
    for label, url in SCENARIOS:
        label = label.format(deep=deep)
        url = url.format(deep=deep, before_deep=deep - 1)
        if url.startswith("next-of:"):
            url = _next_link(client.get(url.removeprefix("next-of:")).content.decode())
        client.get(url)  # warm caches and connection
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        rows = response.content.count(b'<tr class="study"')
        p90 = statistics.quantiles(times, n=10)[-1]
        medians.append(statistics.median(times))
        shown = re.search(r'class="count">Studies [^<]* of ([^<]*)<', response.content.decode())
        total = shown.group(1) if shown else "-"
        print(f"{label:55} {medians[-1]:10.1f} {p90:8.1f} {rows:5}  {total}")
    verdict = "under" if max(medians) < 150 else "OVER"
    print(f"slowest median {max(medians):.1f} ms: {verdict} the 150 ms aim")
    _count_cost(args.repeat, settings.WORKLIST_EXACT_COUNT_LIMIT)


def _count_cost(repeat: int, limit: int):
    """The total alone (paging.count_studies), inside the page times above."""
    from django.utils import timezone

    from worklist.paging import count_studies
    from worklist.query import WorklistQuery

    print(f"\nthe total alone (exact up to {limit:,}, then an estimate), median ms")
    for label, params in [
        ("every study", {}),
        ("name prefix 'smith'", {"name": "smith"}),
        ("description 'knee'", {"description": "knee"}),
        ("last 7 days", {"date": "7d"}),
    ]:
        query = WorklistQuery.from_params(params)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            total = count_studies(query, timezone.localdate(), limit)
            times.append((time.perf_counter() - start) * 1000)
        shown = f"{total.kind} {total.value:,}".strip()
        print(f"{label:55} {statistics.median(times):10.1f}  {shown}")


def _next_link(html: str) -> str:
    found = re.search(r'rel="next" href="([^"]*)"', html)
    return "/" + found.group(1).replace("&amp;", "&")


def _create_database(server_url: str):
    import psycopg

    name = f"bench_worklist_{os.getpid()}"
    parsed = urlparse(server_url)
    admin = psycopg.connect(server_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urlunparse(parsed._replace(path=f"/{name}")), drop


if __name__ == "__main__":
    main()

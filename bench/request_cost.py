"""What the hot requests cost in Python: a frame, a study's series and a PatientID search, each
sent 500 times through Django's WSGI handler in this process (no HTTP server, no client), with
a reader's session cookie as the viewer sends them. The fixed cost of a request shows here
without the noise of sockets and client threads; ``--profile NAME`` prints where it goes.

    .venv/bin/python bench/request_cost.py                   # SQLite, the embedded default
    .venv/bin/python bench/request_cost.py --profile series \\
        --database-url postgres://postgres@127.0.0.1:5432/postgres

Every answer is checked (status, and the frame's length). Not part of the test suite.
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from ours import Archive  # noqa: E402

FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--profile", choices=["frame", "series", "patientid"])
    args = parser.parse_args()

    ct = corpus.files(corpus.ct(20, 512, 20))
    tiny = sorted(p for p in corpus.tiny_studies(corpus.TINY_PER_FOLDER).iterdir() if p.is_dir())
    ds = pydicom.dcmread(ct[0], stop_before_pixels=True)
    with Archive(args.database_url, args.broker_url) as archive:
        archive.setup_django()
        archive.migrate()
        for folder in (ct[0].parent, tiny[0]):
            archive.manage("import_dicom", str(folder), "--no-progress")
        cookie = f"sessionid={archive.reader_session('request-cost')}"
        from django.core.handlers.wsgi import WSGIHandler

        app = WSGIHandler()
        instance = (
            f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}"
        )
        requests = {
            "frame": (f"{instance}/frames/1", "", FRAMES, ds.Rows * ds.Columns * 2),
            "series": (f"/dicom-web/studies/{ds.StudyInstanceUID}/series", "", "", 0),
            "patientid": ("/dicom-web/studies", "PatientID=P0000042", "", 0),
        }

        def send(path, query, accept, least):
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1:8000",
                "HTTP_COOKIE": cookie,
                "HTTP_ACCEPT": accept or "application/dicom+json",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(),
                "wsgi.errors": sys.stderr,
            }
            status = []
            body = app(environ, lambda line, headers, exc=None: status.append(line))
            size = sum(len(chunk) for chunk in body)
            body.close()
            if not status[0].startswith("200") or size < least:
                sys.exit(f"{path}: {status[0]}, {size} bytes")

        for name, request in requests.items():
            for _ in range(50):
                send(*request)
            started = time.perf_counter()
            for _ in range(args.requests):
                send(*request)
            each = (time.perf_counter() - started) / args.requests
            print(f"{name:10} {each * 1e6:7.0f} us per request", flush=True)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                send(*requests[args.profile])
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()

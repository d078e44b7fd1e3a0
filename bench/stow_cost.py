"""What a STOW-RS request of small instances costs in Python: requests of 20 CT slices 64x64
(9 KB each, one new study a request, as bench/dicomweb.py --stow-only sends them) through
Django's WSGI handler in this process (no HTTP server, no client threads), with an uploader's
session cookie and CSRF token. Prints the CPU time (``process_time``) and wall time per
instance, so that a change can be judged on a shared machine; ``--profile`` prints where the
time goes (pyinstrument, wall time), ``--cpu-profile N`` its N costliest functions by CPU
(cProfile; ``SORT=tottime`` for their own time). ``--batch 1`` weighs what a request costs
beside its files (20 instances a request spent about as much on the request as on its files,
session 11).

    .venv/bin/python bench/stow_cost.py                      # SQLite, the embedded default
    .venv/bin/python bench/stow_cost.py --profile \\
        --database-url postgres://postgres@127.0.0.1:5432/postgres --broker-url redis://...

Every answer is checked (status and the instances stored). Not part of the test suite.
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import timing  # noqa: E402
from ours import ROOT, Archive, export_commit  # noqa: E402

CSRF = "a" * 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=40, help="timed requests (and rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best is shown")
    parser.add_argument("--size", type=int, default=64, help="rows and columns of each slice")
    parser.add_argument(
        "--batch",
        type=int,
        default=20,
        help="instances a request (one study); 1 shows what a request costs beside its files",
    )
    parser.add_argument("--profile", action="store_true", help="pyinstrument of one more round")
    parser.add_argument(
        "--cpu-profile",
        metavar="N",
        type=int,
        default=0,
        help="cProfile of one more round timed by CPU (process_time): its N costliest lines",
    )
    parser.add_argument("--commit", help="run this commit (git archive), not the working tree")
    args = parser.parse_args()

    rounds = args.rounds + (1 if args.profile else 0) + (1 if args.cpu_profile else 0)
    count = args.batch * args.requests * (rounds + 1)
    files = corpus.files(corpus.ct(count, args.size, args.batch))
    bodies = [
        timing.multipart_body([p.read_bytes() for p in group])
        for group in corpus.in_groups(files, args.batch)
    ]
    code = export_commit(args.commit) if args.commit else ROOT
    with Archive(args.database_url, args.broker_url, code=code) as archive:
        os.chdir(code)  # Celery's autodiscovery imports from the working directory first
        archive.setup_django()
        archive.migrate()
        cookie = f"sessionid={archive.reader_session('stow-cost', 'uploader')}; csrftoken={CSRF}"
        from django.core.handlers.wsgi import WSGIHandler

        app = WSGIHandler()

        def send(content_type: str, body: bytes) -> None:
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/dicom-web/studies",
                "QUERY_STRING": "",
                "CONTENT_TYPE": content_type,
                "CONTENT_LENGTH": str(len(body)),
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1:8000",
                "HTTP_COOKIE": cookie,
                "HTTP_X_CSRFTOKEN": CSRF,
                "HTTP_ACCEPT": "application/dicom+json",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
            }
            status = []
            answer = app(environ, lambda line, headers, exc=None: status.append(line))
            content = b"".join(answer)
            answer.close()
            stored = json.loads(content).get("00081199", {}).get("Value", [])
            if not status[0].startswith("200") or len(stored) != args.batch:
                sys.exit(f"STOW: {status[0]}, {len(stored)} stored: {content[:300]!r}")

        pending = iter(bodies)
        for _ in range(args.requests):  # warm-up: imports, connections, first queries
            send(*next(pending))
        best = None
        for _ in range(args.rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                send(*next(pending))
            cpu = (time.process_time() - cpu) / (args.requests * args.batch)
            wall = (time.perf_counter() - wall) / (args.requests * args.batch)
            print(f"per instance: {cpu * 1e6:6.0f} us CPU, {wall * 1e6:6.0f} us wall", flush=True)
            best = cpu if best is None else min(best, cpu)
        print(f"best: {best * 1e6:.0f} us CPU per instance")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
            for _ in range(args.requests):
                send(*next(pending))
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.cpu_profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(args.requests):
                send(*next(pending))
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative"))
            stats.print_stats(args.cpu_profile)


if __name__ == "__main__":
    main()

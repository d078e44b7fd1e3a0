"""DICOMweb benchmark: the same workload against this archive (gunicorn + Celery worker, started
here on loopback) and Orthanc + its DICOMweb plugin (bench/orthanc.py), in the same run, on the
same generated corpus. Prints each operation's median and p95 and the ratio ours/Orthanc of the
medians (below 1.0: we are faster). Every answer is checked (status, media type, counts,
bytes; bench/dicomweb_ops.py), so a broken server cannot look fast. Not part of the test suite.

    .venv/bin/python bench/dicomweb.py --quick                         # a few minutes
    .venv/bin/python bench/dicomweb.py --database-url postgres://postgres@127.0.0.1:5432/postgres \
        --broker-url redis://127.0.0.1:6379/0                         # the full run

Workload: STOW-RS batches of 20 CT instances 512x512 (1 and 4 clients); QIDO-RS study searches
at about 200 and 12,000 studies (one tiny instance each, loaded into both), and at 100,000 study
rows for this archive only (bench/qido_rows.py); the series of a study, the instances of a
300-instance series; series and study metadata of a 300-slice 512x512 CT; every frame of it
with 1 and 6 clients; WADO-URI of every instance with 1 and 6 clients. Our login is a session
cookie, as the viewer's; Orthanc has no authentication.
"""

import argparse
import math
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import dicomweb_ops as ops  # noqa: E402
import timing  # noqa: E402
import wrk  # noqa: E402
from ingest import machine  # noqa: E402
from orthanc import Orthanc  # noqa: E402
from ours import ROOT, Archive, export_commit  # noqa: E402

STOW_BATCH = 20
# STOW requests sent to each server before the first STOW row, not measured: each of our web
# workers' first requests imports modules and opens connections, which the first row counted.
STOW_WARMUP = 8
# Warm-up requests each gunicorn worker serves before anything is measured (``warm_up``).
WARM_PER_WORKER = 3


def login(url: str) -> tuple[dict, dict]:
    """Log in through the site's local login form; returns (cookies, headers for unsafe
    methods: Django wants the CSRF token on a POST made with a session)."""
    session = requests.Session()
    page = url + "/accounts/login/?local=1"
    session.get(page).raise_for_status()
    answer = session.post(
        page,
        data={
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "username": ops.USER,
            "password": ops.PASSWORD,
            "next": "/",
        },
        headers={"Referer": page},
        allow_redirects=False,
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        sys.exit(f"cannot log in to {page}: HTTP {answer.status_code}")
    cookies = session.cookies.get_dict()
    return cookies, {"X-CSRFToken": cookies["csrftoken"]}


class Table:
    """Prints one line per operation as it finishes, and keeps the ratios for the end."""

    def __init__(self):
        self.ratios: list[tuple[str, float]] = []
        print(f"{'operation':46} {'ours median':>11} {'p95':>8} {'orthanc med':>11} {'p95':>8}"
              f" {'ratio':>6}  throughput")  # fmt: skip

    def row(self, name: str, ours: timing.Result, theirs: timing.Result | None) -> None:
        def cell(result: timing.Result | None) -> str:
            if result is None:
                return f"{'-':>11} {'-':>8}"
            if result.error:
                return f"{'FAILED':>11} {'':>8}"
            return f"{result.median_ms:9.1f}ms {result.p95_ms:6.1f}ms"

        ratio = math.nan
        if theirs and not ours.error and not theirs.error:
            ratio = ours.median_ms / theirs.median_ms
            self.ratios.append((name, ratio))
        rates = ""
        if ours.units > len(ours.latencies) or "clients" in name:
            rates = f"ours {ours.per_second:.0f}/s"
            if theirs and not theirs.error:
                rates += f", orthanc {theirs.per_second:.0f}/s"
        print(f"{name:46} {cell(ours)} {cell(theirs)} {ratio:6.2f}  {rates}", flush=True)
        for side, result in (("ours", ours), ("orthanc", theirs)):
            if result and result.error:
                print(f"    {side} FAILED: {result.error}", flush=True)

    def throughput_row(self, name: str, ours: wrk.Throughput, theirs: wrk.Throughput) -> None:
        """wrk's figures: median and 99th percentile latency; ratio of the rates, Orthanc's
        over ours (below 1: ours faster, as for the other rows)."""

        def cell(result: wrk.Throughput) -> str:
            if result.error:
                return f"{'FAILED':>11} {'':>8}"
            return f"{result.p50_ms:9.1f}ms {result.p99_ms:6.1f}ms"

        ratio = math.nan
        if not ours.error and not theirs.error:
            ratio = theirs.per_second / ours.per_second
            self.ratios.append((name, ratio))
        rates = f"ours {ours.per_second:.0f}/s, orthanc {theirs.per_second:.0f}/s (p99, not p95)"
        print(f"{name:46} {cell(ours)} {cell(theirs)} {ratio:6.2f}  {rates}", flush=True)
        for side, result in (("ours", ours), ("orthanc", theirs)):
            if result.error:
                print(f"    {side} FAILED: {result.error}", flush=True)


def start_logged_in(archive: Archive, name: str, workers: int = 2, threads: int = 4) -> ops.Server:
    """The archive migrated, with the bench user, its worker and web processes running, and
    that user logged in: a DICOMweb client as the benches use it."""
    archive.setup_django()
    archive.migrate()
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(ops.USER, "", ops.PASSWORD)
    archive.start_worker()
    url = archive.start_web(workers, threads)
    cookies, post_headers = login(url)
    return ops.Server(name, url + "/dicom-web", url + "/wado", cookies, post_headers)


def measure(table: Table, servers: list, name: str, make, clients: int, budget: float) -> None:
    results = [timing.run(make(server), clients, budget) for server in servers]
    table.row(name, results[0], results[1] if len(results) > 1 else None)


def requests_of(files: list[Path]) -> list[list[Path]]:
    """The files in STOW requests of STOW_BATCH (one study each, as ``corpus.ct`` makes them)."""
    return corpus.in_groups(files, STOW_BATCH)


def warm_up(archive: Archive, servers: list, files: list[Path]) -> int:
    """STOW requests to each server (studies of their own), their caches built, before
    anything is measured: both servers are then measured in their steady state.

    Each gunicorn worker pays for its first requests (imports, connections) and a client
    keeps its connection, so all of a 1-client row goes to one worker, whichever accepted it:
    ours gets requests on new connections until every worker has served WARM_PER_WORKER of
    them (seen in its CPU time), or the files run out. Orthanc then gets the same studies, so
    that both hold the same; returns how many studies that is."""
    ours, theirs = servers
    batches = requests_of(files)
    sent = STOW_WARMUP
    _warm(ours, batches[:sent], 2)
    web = archive.processes["web"].pid
    served = dict.fromkeys(timing.children_cpu_seconds(web), 0)
    while min(served.values()) < WARM_PER_WORKER and sent < len(batches):
        before = timing.children_cpu_seconds(web)
        _warm(ours, batches[sent : sent + 1], 1)  # a new client thread: a new connection
        after = timing.children_cpu_seconds(web)
        busiest = max(after, key=lambda pid: after[pid] - before.get(pid, 0.0))
        served[busiest] = served.get(busiest, 0) + 1
        sent += 1
    print(f"ours: warm-up requests served by each web worker: {sorted(served.values())}")
    _warm(theirs, batches[:sent], 2)
    archive.wait_for_caches(300)
    return sent


def _warm(server: ops.Server, batches: list[list[Path]], clients: int) -> None:
    result = timing.run(ops.stow_op(batches, clients)(server), clients, 0)
    if result.error:
        sys.exit(f"warm-up STOW to {server.name} failed: {result.error}")


def stow_row(table, archive, orthanc, servers, name, batches, clients) -> None:
    """A STOW row, and the CPU each server spent on it per instance: ours counts the web
    workers and the Celery worker until every study's caches are built (so that one row's
    cache builds neither land in the next row nor go uncounted), and PostgreSQL (every backend,
    those that ended too) and Redis when it uses them; Orthanc its one process, its SQLite
    index within. CPU is the figure least moved by whatever else the machine is doing.

    The two servers take turns, half the requests at a time, ours, Orthanc, Orthanc, ours
    (both get every request): what drifts meanwhile (a disk without a journal settling after
    deletions, the host's other guests) weighs on both alike."""
    count = sum(map(len, batches))
    half = len(batches) // 2
    halves = [batches[:half], batches[half:]]
    web, worker = archive.processes["web"].pid, archive.processes["worker"].pid
    redis = archive.env.get("CELERY_BROKER_URL", "").startswith("redis")
    parts = {
        "web": [web],
        "caches": [worker],
        "PostgreSQL": timing.servers_named("postgres") if archive.database_url else [],
        "Redis": timing.servers_named("redis-server") if redis else [],
    }
    measured = {"ours": parts, "theirs": {"orthanc": [orthanc.process.pid]}}
    spent = {side: dict.fromkeys(cpu, 0.0) for side, cpu in measured.items()}
    runs: dict[str, list] = {"ours": [], "theirs": []}
    turns = [("ours", halves[0]), ("theirs", halves[0]), ("theirs", halves[1]), ("ours", halves[1])]
    for side, chosen in turns:
        server = servers[0] if side == "ours" else servers[1]
        before = {part: timing.cpu_seconds(pids) for part, pids in measured[side].items()}
        runs[side].append(timing.run(ops.stow_op(chosen, clients)(server), clients, 0))
        if side == "ours":
            archive.wait_for_caches(300)
        for part, pids in measured[side].items():
            spent[side][part] += (timing.cpu_seconds(pids) - before[part]) / count
    table.row(name, timing.joined(runs["ours"]), timing.joined(runs["theirs"]))
    ours_cpu = sum(spent["ours"].values())
    theirs_cpu = spent["theirs"]["orthanc"]
    each = ", ".join(
        f"{part} {cpu * 1e6:.0f}" for part, cpu in spent["ours"].items() if parts[part]
    )
    print(
        f"{'':46} CPU an instance: ours {ours_cpu * 1e6:.0f} us ({each}),"
        f" orthanc {theirs_cpu * 1e6:.0f} us, ratio {ours_cpu / theirs_cpu:.2f}",
        flush=True,
    )


def load(archive: Archive, orthanc: Orthanc, folders: list[Path], preload: bool) -> str:
    """The same files into both servers; returns a line saying how long each took."""
    files = [f for folder in folders for f in corpus.files(folder)]
    command = ["import_dicom", *map(str, folders), "--workers", "2", "--no-progress"]
    ours, status, _, out = archive.manage(*command, PRELOAD="true" if preload else "false")
    if status != 0:
        sys.exit(f"import_dicom failed:\n{out}")
    theirs = orthanc.upload(files, clients=4)
    return f"loaded {len(files)}: ours {ours:.1f} s (import_dicom), Orthanc {theirs:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~200 studies only, fewer repeats")
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--broker-url", default="", help="e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--studies", type=int, default=12000, help="the large QIDO archive")
    parser.add_argument("--ours-rows", type=int, default=100000, help="0: skip that step")
    parser.add_argument("--slices", type=int, default=300, help="the CT series")
    parser.add_argument("--budget", type=float, default=20, help="seconds per QIDO operation")
    parser.add_argument("--commit", help="run this commit (git archive), not the working tree")
    parser.add_argument("--stow-only", action="store_true", help="the STOW rows, then stop")
    parser.add_argument("--web", default="2x4", help="gunicorn workers x threads (WEB_THREADS)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave both servers' folders in $TMPDIR (bench/README: a disk without a journal)",
    )
    args = parser.parse_args()
    repeats = 5 if args.quick else 20
    workers, threads = map(int, args.web.split("x"))
    # Twenty requests of twenty CT slices were a second or two of work for four clients, and
    # either server's rate then moved by half from run to run with the disk: forty and eighty.
    stow_batches = (3, 6) if args.quick else (40, 80)
    large = 0 if args.quick else args.studies

    print(f"machine: {machine()}; load {Path('/proc/loadavg').read_text().split()[0]}")
    stow_files = corpus.files(corpus.ct(STOW_BATCH * sum(stow_batches), 512, STOW_BATCH))
    # Small instances (CT 64x64, 9 KB): what the request and the index cost, not the bytes.
    small_files = corpus.files(corpus.ct(STOW_BATCH * sum(stow_batches), 64, STOW_BATCH))
    ct_files = corpus.files(corpus.ct(args.slices, 512, args.slices))
    warmup_files = corpus.files(corpus.ct(STOW_BATCH * STOW_WARMUP * 4, 64, STOW_BATCH))
    tiny = corpus.tiny_studies(max(large, corpus.TINY_PER_FOLDER))
    tiny_folders = sorted(p for p in tiny.iterdir() if p.is_dir())
    ct = ops.describe(ct_files)
    database = "PostgreSQL" if args.database_url else "SQLite"
    broker = args.broker_url.split(":")[0] or "filesystem"
    print(f"ours: {database}, {broker} broker, gunicorn {workers} workers x {threads} threads, "
          "celery worker concurrency 2")  # fmt: skip

    code = export_commit(args.commit) if args.commit else ROOT
    with (
        Archive(args.database_url, args.broker_url, keep=args.keep, code=code) as archive,
        Orthanc(keep=args.keep) as orthanc,
    ):
        print(f"orthanc: {orthanc.version()}")
        ours = start_logged_in(archive, "ours", workers, threads)
        theirs = ops.Server("orthanc", orthanc.dicomweb, orthanc.wado)
        servers = [ours, theirs]
        registry = ops.Registry()
        table = Table()

        for n in range(warm_up(archive, servers, warmup_files)):
            registry.add(corpus.study_attributes(n), "CT")
        for files, kind in ((small_files, "CT 64², 9 KB"), (stow_files, "CT")):
            batches = requests_of(files)
            first, second = batches[: stow_batches[0]], batches[stow_batches[0] :]
            for clients, chosen in ((1, first), (4, second)):
                name = f"STOW {len(chosen)} x {STOW_BATCH} {kind}, {clients} clients"
                stow_row(table, archive, orthanc, servers, name, chosen, clients)
            for n in range(len(batches)):
                registry.add(corpus.study_attributes(n), "CT")
        if args.stow_only:
            print("ratio = ours median / orthanc median (below 1.00: ours faster)")
            return

        print(load(archive, orthanc, [ct_files[0].parent], preload=True))
        registry.add(corpus.study_attributes(0), "CT")
        ready = archive.wait_for_caches(600)
        print(f"ours: caches ready for {ready} studies")
        print(load(archive, orthanc, tiny_folders[:1], preload=False))
        for i in range(corpus.TINY_PER_FOLDER):
            registry.add(corpus.study_attributes(i), corpus.tiny_modality(i))
        frames_probe(theirs, ct[0])

        qido_round(table, servers, registry, repeats, args.budget)
        for name, make, clients in ops.ct_ops(ct):
            measure(table, servers, name, make, clients, 0)
        frames_by_wrk(table, servers, ct)

        if large:
            print(load(archive, orthanc, tiny_folders[1:], preload=False))
            for i in range(corpus.TINY_PER_FOLDER, large):
                registry.add(corpus.study_attributes(i), corpus.tiny_modality(i))
            qido_round(table, servers, registry, repeats, args.budget)
        if large and args.ours_rows > len(registry.studies):
            import qido_rows

            extra = args.ours_rows - len(registry.studies)
            seconds = qido_rows.insert_studies(extra, series=1, instances=1, seed=7)
            print(f"ours: {args.ours_rows} studies after inserting rows ({seconds:.0f} s)")
            qido_round(table, [ours], None, repeats, args.budget)

        print("ratio = ours median / orthanc median (below 1.00: ours faster)")
        slower = [f"{name} ({ratio:.2f})" for name, ratio in table.ratios if ratio > 1]
        print("slower than Orthanc: " + (", ".join(slower) if slower else "none"))
        web, worker = archive.peak_rss_mb("web"), archive.peak_rss_mb("worker")
        print(f"peak memory: ours web {web:.0f} MB, worker {worker:.0f} MB;"
              f" orthanc {orthanc.peak_rss_mb():.0f} MB")  # fmt: skip


def frames_by_wrk(table: Table, servers: list, ct: list) -> None:
    """Every frame of the CT again, from wrk (a C client) over 1 and 6 connections: the
    Python clients above spend as much CPU per 0.5 MB answer as a server, on the same cores."""
    if not wrk.available():
        print("wrk is not installed (apt-get install wrk): the frame throughput rows are skipped")
        return
    for connections in (1, 6):
        results = []
        for server in servers:
            base, _, prefix = server.dicomweb.partition("/dicom-web")
            prefix = "/dicom-web" + prefix
            paths = [
                f"{prefix}/studies/{i.study}/series/{i.series}/instances/{i.sop}/frames/1"
                for i in ct
            ]
            headers = {"Accept": server.frames_accept}
            if server.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in server.cookies.items())
            results.append(
                wrk.get_paths(base, paths, headers, connections, min_bytes=512 * 512 * 2)
            )
        table.throughput_row(f"every frame, wrk, {connections} connection(s)", *results)


def qido_round(table, servers, registry, repeats: int, budget: float) -> None:
    count = len(registry.studies) if registry else "many"
    print(f"-- QIDO-RS at {count} studies")
    for name, make in ops.qido_ops(registry, repeats):
        measure(table, servers, name, make, 1, budget)


def frames_probe(orthanc: ops.Server, instance: ops.Instance) -> None:
    """Orthanc's DICOMweb plugin before 1.8 may refuse OHIF's ``transfer-syntax=*``; ask it
    for plain octet-stream then (the corpus is uncompressed, so the bytes are the same)."""
    url = (
        f"{orthanc.dicomweb}/studies/{instance.study}/series/{instance.series}"
        f"/instances/{instance.sop}/frames/1"
    )
    if orthanc.get(url, accept=ops.OHIF_FRAMES_ACCEPT).status_code != 200:
        orthanc.frames_accept = ops.PLAIN_FRAMES_ACCEPT
        print("orthanc: refuses transfer-syntax=*; frames asked as plain octet-stream")


if __name__ == "__main__":
    main()

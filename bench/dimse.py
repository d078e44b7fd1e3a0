"""DIMSE against Orthanc, in one run, with dcmtk's tools as the clients:

* C-STORE: ``storescu`` of ``--count`` CT slices (``--size`` pixels square) over one
  association, then split over four associations in parallel (each side emptied between);
* C-FIND: ``findscu`` study searches at ``--studies`` studies (median of ``--runs``), and
  the CPU time each server spent on them (what the load of other work distorts least);
* C-MOVE: ``movescu`` of a ``--move``-instance series to a local ``storescp``.

    .venv/bin/python bench/dimse.py                                   # the full size
    .venv/bin/python bench/dimse.py --count 40 --size 64 --studies 200 --move 20   # a check
    .venv/bin/python bench/dimse.py --tcp-nodelay                     # dcmtk without Nagle
    .venv/bin/python bench/dimse.py --database-url postgres://postgres@127.0.0.1:5432/postgres \\
        --broker-url redis://127.0.0.1:6379/0

This archive runs its own listener (``manage.py dicom_listener``), worker and database (a
fresh SQLite, or a fresh PostgreSQL database on ``--database-url``); Orthanc is Debian's, with
a configuration of its own (bench/orthanc.py). Both accept unknown calling AEs and know the
``storescp`` as BENCHSCP. Figures taken while other work loads the machine say little.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from ingest import machine  # noqa: E402
from orthanc import Orthanc, cpu_seconds, free_port  # noqa: E402
from ours import PYTHON, Archive  # noqa: E402

OURS_AET = "OHIFSITE"
ORTHANC_AET = "ORTHANC"
SCP_AET = "BENCHSCP"
SEARCHES = {
    "PatientName=Smith*": ["PatientName=Smith*"],
    "StudyDate 2020": ["StudyDate=20200101-20201231"],
    "PatientID exact": ["PatientID=P0000042"],
}
RETURNED = ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "AccessionNumber",
            "StudyDescription", "ModalitiesInStudy"]  # fmt: skip


def storescu(aet: str, port: int, files: list[Path], associations: int) -> float:
    """Seconds to send every file, split over ``associations`` storescu processes."""
    shares = [files[i::associations] for i in range(associations)]
    started = time.monotonic()
    processes = [
        subprocess.Popen(["storescu", "-aet", "BENCH", "-aec", aet, "127.0.0.1", str(port),
                          *map(str, share)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for share in shares
    ]  # fmt: skip
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"storescu to {aet} failed: {err.decode()[-2000:]}")
    return time.monotonic() - started


def findscu(aet: str, port: int, keys: list[str], folder: Path) -> tuple[float, int]:
    """Seconds for one study search, and the number of answers."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    args = ["findscu", "-aet", "BENCH", "-aec", aet, "-S", "-X", "-od", str(folder),
            "-k", "QueryRetrieveLevel=STUDY"]  # fmt: skip
    asked = {key.split("=")[0] for key in keys}
    for key in keys + [k for k in RETURNED if k not in asked]:
        args += ["-k", key]
    started = time.monotonic()
    subprocess.run([*args, "127.0.0.1", str(port)], check=True, capture_output=True)
    return time.monotonic() - started, len(list(folder.glob("rsp*.dcm")))


@contextlib.contextmanager
def server_cpu(pid: int, spent: list[float]):
    """CPU seconds the server (the process and its children) used during the block, added to
    ``spent``: what the load of other work on the machine distorts least."""
    before = cpu_seconds(pid)
    yield
    spent.append(cpu_seconds(pid) - before)


def movescu(aet: str, port: int, study_uid: str, received: Path, expected: int) -> float:
    shutil.rmtree(received, ignore_errors=True)
    received.mkdir(parents=True)
    scp_port = SCP_PORT
    command = ["storescp", "-aet", SCP_AET, "+xa", "-od", str(received), str(scp_port)]
    scp = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        started = time.monotonic()
        subprocess.run(["movescu", "-aet", "BENCH", "-aec", aet, "-aem", SCP_AET, "-S",
                        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
                        "127.0.0.1", str(port)], check=True, capture_output=True)  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        scp.terminate()
        scp.wait(10)
    got = len(list(received.iterdir()))
    if got != expected:
        raise RuntimeError(f"C-MOVE from {aet}: {got} of {expected} instances arrived")
    return seconds


SCP_PORT = free_port()


class OurSide:
    """This archive with its listener, emptied between phases through the ORM."""

    def __init__(self, args):
        self.archive = Archive(args.database_url, args.broker_url)
        self.archive.setup_django()
        self.archive.migrate()
        self.archive.start_worker()
        from dicomnet.models import RemoteAE

        RemoteAE.objects.create(ae_title=SCP_AET, host="127.0.0.1", port=SCP_PORT)
        self.port = free_port()
        self.archive._start("dicom", [PYTHON, "manage.py", "dicom_listener", "--port",
                            str(self.port), "--bind", "127.0.0.1"],
                            env={"DICOM_ACCEPT_UNKNOWN_AES": "true",
                                 "DICOM_MAX_ASSOCIATIONS": "16"})  # fmt: skip
        _wait_for_listener(self.port)

    @property
    def pid(self) -> int:
        """The listener's process (its listening processes are its children)."""
        return self.archive.processes["dicom"].pid

    def count(self) -> int:
        from archive.models import Instance

        return Instance.objects.count()

    def empty(self) -> None:
        from archive import deletion
        from archive.models import Study

        for study in Study.objects.all():
            deletion.delete_study(study)

    def load(self, folder: Path) -> None:
        _, status, _, out = self.archive.manage("import_dicom", str(folder), "--no-progress")
        if status != 0:
            raise RuntimeError(out)

    def stop(self) -> None:
        self.archive.stop()


def _wait_for_listener(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if subprocess.run(["echoscu", "-aet", "BENCH", "-aec", OURS_AET, "127.0.0.1", str(port)],
                          capture_output=True).returncode == 0:  # fmt: skip
            return
        time.sleep(0.3)
    raise RuntimeError("the DICOM listener did not answer C-ECHO within 60 s")


def orthanc() -> Orthanc:
    return Orthanc(dicom_aet=ORTHANC_AET, modalities={SCP_AET: (SCP_AET, "127.0.0.1", SCP_PORT)})


def orthanc_count(peer: Orthanc) -> int:
    return peer.statistics()["CountInstances"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="CT slices to store")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--studies", type=int, default=12000, help="studies to search")
    parser.add_argument("--move", type=int, default=300, help="instances of the moved series")
    parser.add_argument("--runs", type=int, default=9, help="runs of each search")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--broker-url", default="")
    parser.add_argument("--tcp-nodelay", action="store_true",
                        help="TCP_NODELAY=1 for dcmtk's tools and Orthanc (dcmtk's switch for "
                        "Nagle's algorithm, on by default in Debian's build)")  # fmt: skip
    args = parser.parse_args()
    if args.tcp_nodelay:
        os.environ["TCP_NODELAY"] = "1"  # read by every dcmtk-based process started below

    store_files = corpus.files(corpus.ct(args.count, args.size, per_series=100))
    tiny = corpus.tiny_studies(args.studies)
    move_folder = corpus.ct(args.move, args.size, per_series=args.move)
    move_files = corpus.files(move_folder)
    import pydicom

    move_study = pydicom.dcmread(move_files[0], stop_before_pixels=True).StudyInstanceUID
    # findscu writes each answer to a file: in memory when the machine has a tmpfs, since on a
    # disk other work keeps busy 1,200 small files took findscu up to 1.5 s of system time,
    # more than either server spent, and made most of both sides' figures.
    memory = Path("/dev/shm")
    scratch = Path(tempfile.mkdtemp(prefix="bench-dimse-", dir=memory if memory.is_dir() else None))
    rows = []
    print(f"machine: {machine()}; load {os.getloadavg()[0]:.1f}")
    print(f"dcmtk and Orthanc: TCP_NODELAY={os.environ.get('TCP_NODELAY', 'unset')}")
    ours = OurSide(args)
    try:
        for associations in (1, 4):
            ours.empty()
            ours_s = storescu(OURS_AET, ours.port, store_files, associations)
            assert ours.count() == len(store_files), ours.count()
            with orthanc() as peer:
                theirs_s = storescu(ORTHANC_AET, peer.dicom_port, store_files, associations)
                assert orthanc_count(peer) == len(store_files)
            name = f"C-STORE {len(store_files)} CT {args.size}², {associations} assoc."
            n = len(store_files)
            rows.append((name, n / ours_s, n / theirs_s, "instances/s"))

        ours.empty()
        ours.load(tiny)
        ours.load(move_folder)
        with orthanc() as peer:
            peer.upload(corpus.files(tiny) + move_files)
            cpu_rows = []
            for name, keys in SEARCHES.items():
                ours_t, theirs_t, answers = [], [], set()
                ours_cpu, theirs_cpu = [], []
                for _ in range(args.runs):
                    with server_cpu(ours.pid, ours_cpu):
                        seconds, n = findscu(OURS_AET, ours.port, keys, scratch / "find")
                    ours_t.append(seconds)
                    answers.add(("ours", n))
                    with server_cpu(peer.process.pid, theirs_cpu):
                        seconds, n = findscu(ORTHANC_AET, peer.dicom_port, keys, scratch / "find")
                    theirs_t.append(seconds)
                    answers.add(("orthanc", n))
                counts = {who: n for who, n in answers}
                if counts["ours"] != counts["orthanc"] or len(answers) != 2:
                    raise RuntimeError(f"{name}: the answers differ: {sorted(answers)}")
                rows.append((f"C-FIND {name} at {args.studies} studies ({counts['ours']} answers)",
                             1000 * statistics.median(ours_t), 1000 * statistics.median(theirs_t),
                             "ms (median)"))  # fmt: skip
                cpu_rows.append((f"  server CPU, {name}", 1000 * statistics.mean(ours_cpu),
                                 1000 * statistics.mean(theirs_cpu),
                                 "ms a search (mean)"))  # fmt: skip
            rows += cpu_rows
            ours_s = movescu(OURS_AET, ours.port, move_study, scratch / "moved", len(move_files))
            theirs_s = movescu(ORTHANC_AET, peer.dicom_port, move_study, scratch / "moved",
                               len(move_files))  # fmt: skip
            rows.append((f"C-MOVE a {len(move_files)}-instance series", len(move_files) / ours_s,
                         len(move_files) / theirs_s, "instances/s"))  # fmt: skip
            print(f"orthanc: {peer.version()}")
    finally:
        ours.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"load at the end {os.getloadavg()[0]:.1f}")
    print(f"{'':58} {'ours':>10} {'Orthanc':>10} {'ratio':>7}")
    for name, our, their, unit in rows:
        print(f"{name:58} {our:10.1f} {their:10.1f} {our / their:7.2f}  {unit}")


if __name__ == "__main__":
    main()

"""``manage.py dicom_listener`` with several processes on one port (SO_REUSEPORT): the kernel
spreads associations over them, each stores through the one pipeline, TERM stops them all, and
one that dies takes the others down so that the supervisor restarts the listener whole."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dicom_data import ct_slice
from oidc.provider import free_port
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from archive.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener_processes(database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DICOM_STORAGE_DIR": str(tmp_path / "archive"),
        "DICOM_ACCEPT_UNKNOWN_AES": "true",
        "DICOM_MAX_ASSOCIATIONS": "16",
    }
    command = [sys.executable, "manage.py", "dicom_listener", "--port", str(port),
               "--bind", "127.0.0.1", "--processes", "2"]  # fmt: skip
    parent = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _echo(port):
            assert parent.poll() is None, parent.stdout.read()
            assert time.monotonic() < deadline, "the listener did not answer C-ECHO"
            time.sleep(0.2)
        yield parent, port
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for child in _children(parent.pid):
            os.kill(child, signal.SIGKILL)


def _echo(port: int) -> bool:
    ae = AE(ae_title="PROBE")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="OHIFSITE")
    if not assoc.is_established:
        return False
    ok = assoc.send_c_echo().Status == 0
    assoc.release()
    return ok


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _served_by(pids: list[int], port: int) -> dict[int, int]:
    """Established connections on ``port`` held by each process (from /proc)."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            established.add(fields[9])
    counts = {}
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        counts[pid] = len(inodes & established)
    return counts


def test_associations_are_spread_over_the_processes_and_each_stores(listener_processes):
    parent, port = listener_processes
    children = _children(parent.pid)
    assert len(children) == 2

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage)
    held = [ae.associate("127.0.0.1", port, ae_title="OHIFSITE") for _ in range(12)]
    assert all(assoc.is_established for assoc in held)
    served = _served_by(children, port)
    assert sum(served.values()) == 12
    assert all(count > 0 for count in served.values()), served

    datasets = [ct_slice(i, rows=16, columns=16) for i in range(12)]
    for assoc, ds in zip(held, datasets, strict=True):
        assert assoc.send_c_store(ds).Status == 0
        assoc.release()
    stored = set(Instance.objects.values_list("sop_instance_uid", flat=True))
    assert stored == {ds.SOPInstanceUID for ds in datasets}

    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0
    assert not any(Path(f"/proc/{child}").exists() for child in children)
    assert not _echo(port)


def test_a_process_that_dies_stops_the_listener_for_its_supervisor(listener_processes):
    parent, port = listener_processes
    first, second = _children(parent.pid)
    os.kill(first, signal.SIGKILL)
    assert parent.wait(30) == 1
    deadline = time.monotonic() + 10
    while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{second}").exists()

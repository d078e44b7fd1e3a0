"""A throwaway Orthanc (Debian's package) with its DICOMweb plugin, for the benchmarks.

It listens on a free loopback port, keeps its index and files in a temporary folder that is
removed afterwards, and has no authentication; its DICOM port is on (a free loopback port too)
only when it is given an AE title, with the peers it may talk to (``modalities``). Nothing
here touches the system Orthanc service or its configuration.

    with Orthanc() as orthanc:
        requests.post(orthanc.url + "/instances", data=dicom_bytes)
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children, from /proc (VmHWM)."""
    return _memory_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """Resident memory now of a process and its children (VmRSS)."""
    return _memory_mb(pid, "VmRSS")


def _memory_mb(pid: int, field: str) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_children(kid)]
    return found


class Orthanc:
    def __init__(
        self,
        sync_storage: bool = True,
        threads: int = 50,
        dicom_aet: str | None = None,
        modalities: dict[str, tuple[str, str, int]] | None = None,
        keep: bool = False,
    ):
        self.sync_storage = sync_storage
        self.keep = keep  # leave the folder (its files) in place when stopped
        self.threads = threads
        self.dicom_aet = dicom_aet
        self.modalities = modalities or {}
        self.dicom_port = free_port()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dicomweb = self.url + "/dicom-web"
        self.wado = self.url + "/wado"
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None

    def config(self) -> dict:
        return {
            "Name": "bench",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"),
            "StorageCompression": False,
            "HttpPort": self.port,
            "HttpServerEnabled": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": self.dicom_aet is not None,
            "DicomAet": self.dicom_aet or "ORTHANC",
            "DicomPort": self.dicom_port,
            "DicomModalities": {name: list(peer) for name, peer in self.modalities.items()},
            "DicomCheckCalledAet": False,
            # Any calling AE may store, query and retrieve (C-MOVE to a known modality only).
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowMove": True,
            "HttpThreadsCount": self.threads,
            "ConcurrentJobs": 2,
            "SaveJobs": False,
            "SyncStorageArea": self.sync_storage,
            "OverwriteInstances": False,
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "WadoRoot": "/wado",
                "Ssl": False,
            },
        }

    def start(self) -> "Orthanc":
        self.folder = Path(tempfile.mkdtemp(prefix="bench-orthanc-"))
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        self.log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 closed in stop()
        self.process = subprocess.Popen(
            [ORTHANC, str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/system", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("Orthanc did not answer within 60 s")

    def upload(self, files: list[Path], clients: int = 4) -> float:
        """POST every file to /instances from ``clients`` threads, as Orthanc's
        ImportDicomFiles script does; returns the seconds taken. Every answer is checked."""
        queue = iter(files)
        lock = threading.Lock()
        failures: list[str] = []

        def client() -> None:
            session = requests.Session()
            while True:
                with lock:
                    path = next(queue, None)
                if path is None:
                    return
                answer = session.post(self.url + "/instances", data=path.read_bytes())
                if answer.status_code != 200 or answer.json().get("Status") != "Success":
                    failures.append(f"{path}: {answer.status_code} {answer.text[:200]}")

        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise RuntimeError(f"Orthanc refused {len(failures)} files: {failures[:3]}")
        return time.monotonic() - started

    def version(self) -> str:
        system = requests.get(self.url + "/system", timeout=10).json()
        plugins = requests.get(self.url + "/plugins/dicom-web", timeout=10).json()
        return f"Orthanc {system['Version']} + DICOMweb {plugins.get('Version', '?')}"

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.process.pid) if self.process else 0.0

    def statistics(self) -> dict:
        return requests.get(self.url + "/statistics", timeout=60).json()

    def log_text(self) -> str:
        return (self.folder / "orthanc.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()
        if self.folder is not None and not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.process = None

    def __enter__(self) -> "Orthanc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with Orthanc() as orthanc:
        print(orthanc.version(), "on", orthanc.url)
        print(orthanc.statistics())

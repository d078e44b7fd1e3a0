"""DIMSE fixtures: the listener running in this process on a free port, remote AEs, and
dcmtk's command-line tools as the real peers. Nothing is mocked."""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from oidc.provider import free_port

DCMTK_TIMEOUT = 120


@dataclass
class Listener:
    ae_title: str
    port: int
    host: str = "127.0.0.1"

    @property
    def address(self) -> list[str]:
        return [self.host, str(self.port)]


@pytest.fixture
def listener(transactional_db, settings):
    """``manage.py dicom_listener``'s server, started in this process (the handlers run on
    pynetdicom's threads against the test database)."""
    from dicomnet import listener as dicom_listener

    settings.DICOM_AE_TITLE = "OHIFSITE"
    settings.DICOM_ACSE_TIMEOUT = 10
    settings.DICOM_NETWORK_TIMEOUT = 10
    settings.DICOM_DIMSE_TIMEOUT = 30
    port = free_port()
    server = dicom_listener.start("127.0.0.1", port, block=False)
    try:
        yield Listener("OHIFSITE", port)
    finally:
        dicom_listener.stop(server)


@pytest.fixture
def remote_ae(transactional_db):
    """``remote_ae("STORESCU", port=..., **permissions)``: a registered peer on 127.0.0.1."""
    from dicomnet.models import RemoteAE

    def make(title: str, port: int | None = None, **fields) -> RemoteAE:
        return RemoteAE.objects.create(
            ae_title=title, host="127.0.0.1", port=port or free_port(), **fields
        )

    return make


def needs(tool: str):
    return pytest.mark.skipif(
        shutil.which(tool) is None, reason=f"{tool} not installed (apt-get install dcmtk)"
    )


@pytest.fixture
def dcmtk():
    """``dcmtk("storescu", "-aet", "X", ...)``: run one of dcmtk's tools, return its result."""

    def run(tool: str, *args, check: bool = False, cwd: Path | None = None):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install dcmtk)")
        result = subprocess.run(
            [tool, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=DCMTK_TIMEOUT,
            cwd=cwd,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{tool} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


def dataset_bytes(part10: bytes) -> bytes:
    """The data set of a Part-10 file, after its file meta group: what went over the wire."""
    assert part10[128:132] == b"DICM"
    # (0002,0000) UL, explicit VR: tag 4, VR 2, length 2, then the group's length.
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length :]


@pytest.fixture
def write_files(tmp_path):
    """Write datasets as Part-10 files; returns their paths."""
    from dicom_data import to_bytes

    def write(datasets, folder="send") -> list[Path]:
        target = tmp_path / folder
        target.mkdir(exist_ok=True)
        paths = []
        for i, ds in enumerate(datasets):
            path = target / f"{i:04d}.dcm"
            path.write_bytes(to_bytes(ds))
            paths.append(path)
        return paths

    return write

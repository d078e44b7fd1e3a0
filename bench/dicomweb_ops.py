"""The operations of bench/dicomweb.py: each builds, for one server, the list of requests to
time; every request checks its answer (status, media type, counts, bytes) and raises
``timing.Invalid`` when it is wrong."""

import hashlib
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import timing  # noqa: E402
from timing import Invalid  # noqa: E402

DICOM_JSON = ("application/dicom+json", "application/json")
OHIF_FRAMES_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
PLAIN_FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"'
USER, PASSWORD = "bench", "bench-password-3141"


@dataclass
class Server:
    name: str
    dicomweb: str
    wado: str
    cookies: dict = field(default_factory=dict)
    post_headers: dict = field(default_factory=dict)
    frames_accept: str = OHIF_FRAMES_ACCEPT
    _local: threading.local = field(default_factory=threading.local)

    def session(self) -> requests.Session:
        """One session per client thread, each with the login cookies."""
        if not hasattr(self._local, "session"):
            self._local.session = TimedSession()
            self._local.session.cookies.update(self.cookies)
        return self._local.session

    def get(self, url: str, accept: str = "application/dicom+json", **params):
        """GET with the query written as OHIF writes it (encodeURIComponent: ``*`` stays
        literal, a comma becomes %2C)."""
        if params:
            url += "?" + urllib.parse.urlencode(params, safe="*")
        return self.session().get(url, headers={"Accept": accept})


class TimedSession(requests.Session):
    """Reports each exchange's time (request sent, whole body received and decoded) to
    ``timing``; what the benchmark does with the body afterwards is not the server's time."""

    def request(self, *args, **kwargs):
        t0 = time.perf_counter()
        answer = super().request(*args, **kwargs)
        timing.count_exchange(time.perf_counter() - t0)
        return answer


def expect(answer: requests.Response, media_types: tuple[str, ...]) -> None:
    url = answer.request.url
    if answer.status_code != 200:
        raise Invalid(f"HTTP {answer.status_code} {answer.text[:200]!r} for {url[:150]}")
    content_type = answer.headers.get("Content-Type", "")
    if not content_type.startswith(media_types):
        raise Invalid(f"media type {content_type!r} for {url[:150]}")


def dicom_json(answer: requests.Response, count: int | None = None) -> list:
    expect(answer, DICOM_JSON)
    items = answer.json()
    if count is not None and len(items) != count:
        raise Invalid(f"{len(items)} results, expected {count}, for {answer.request.url[:150]}")
    return items


def values(items: list, tag: str) -> set:
    return {item[tag]["Value"][0] for item in items}


# --- What is loaded, to know the right answer to each search -------------------------------


class Registry:
    """The studies both servers hold: patient name and ID, date, modality."""

    def __init__(self):
        self.studies: list[dict] = []

    def add(self, attributes: dict, modality: str) -> None:
        self.studies.append({**attributes, "modality": modality})

    def count(self, match, limit: int = 101) -> int:
        return min(limit, sum(1 for study in self.studies if match(study)))


QUERIES = [
    ("QIDO all, limit 101", {"limit": 101}, lambda s: True),
    ("QIDO PatientName=Smi*", {"PatientName": "Smi*", "limit": 101},
     lambda s: s["patient_name"].startswith("Smi")),
    ("QIDO StudyDate range", {"StudyDate": "20180101-20191231", "limit": 101},
     lambda s: "20180101" <= s["study_date"] <= "20191231"),
    ("QIDO ModalitiesInStudy=MR", {"ModalitiesInStudy": "MR", "limit": 101},
     lambda s: s["modality"] == "MR"),
    ("QIDO PatientID", {"PatientID": "P0000042"}, lambda s: s["patient_id"] == "P0000042"),
    ("QIDO OHIF study list", {"limit": 101, "offset": 0, "fuzzymatching": "false",
                              "includefield": "00081030,00080060"}, lambda s: True),
    ("QIDO OHIF search", {"PatientName": "*mit*", "StudyDate": "20150101-20251231",
                          "ModalitiesInStudy": "CT", "limit": 101, "offset": 0,
                          "fuzzymatching": "false",
                          "includefield": "00081030,00080060,00080090,00100030"},
     lambda s: "MIT" in s["patient_name"].upper() and s["modality"] == "CT"),
]  # fmt: skip


def qido_ops(registry: Registry | None, repeats: int):
    """(name, make requests for a server) per study search; no registry: counts unknown."""
    for name, params, match in QUERIES:
        count = registry.count(match, params.get("limit", 10**9)) if registry else None

        def make(server: Server, name=name, params=params, count=count):
            def request() -> int:
                items = dicom_json(server.get(f"{server.dicomweb}/studies", **params))
                if count is not None and len(items) != count:
                    raise Invalid(f"{name}: {len(items)} studies, expected {count}")
                if len(items) > params.get("limit", 10**9):
                    raise Invalid(f"{name}: {len(items)} studies, over the limit")
                return 1

            return [request] * repeats

        yield name, make


# --- The 300-slice CT ----------------------------------------------------------------------


@dataclass
class Instance:
    study: str
    series: str
    sop: str
    file_sha256: str
    pixels_sha256: str


def describe(files: list[Path]) -> list[Instance]:
    found = []
    for path in files:
        data = path.read_bytes()
        ds = pydicom.dcmread(path)
        found.append(
            Instance(
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                ds.SOPInstanceUID,
                hashlib.sha256(data).hexdigest(),
                hashlib.sha256(ds.PixelData).hexdigest(),
            )
        )
    return found


def ct_ops(ct: list[Instance]):
    study, series, sops = ct[0].study, ct[0].series, {i.sop for i in ct}

    def study_series(server: Server):
        def request() -> int:
            items = dicom_json(server.get(f"{server.dicomweb}/studies/{study}/series"), 1)
            if values(items, "0020000E") != {series}:
                raise Invalid("wrong series")
            return 1

        return [request] * 10

    def series_instances(server: Server):
        url = f"{server.dicomweb}/studies/{study}/series/{series}/instances"

        def request() -> int:
            if values(dicom_json(server.get(url), len(ct)), "00080018") != sops:
                raise Invalid("wrong instances")
            return 1

        return [request] * 10

    def metadata(level: str):
        def make(server: Server):
            url = f"{server.dicomweb}/studies/{study}"
            url += f"/series/{series}/metadata" if level == "series" else "/metadata"

            def request() -> int:
                if values(dicom_json(server.get(url), len(ct)), "00080018") != sops:
                    raise Invalid("wrong instances in metadata")
                return 1

            return [request] * 10

        return make

    def frames(server: Server):
        def one(instance: Instance):
            url = (
                f"{server.dicomweb}/studies/{study}/series/{series}"
                f"/instances/{instance.sop}/frames/1"
            )

            def request() -> int:
                answer = server.get(url, accept=server.frames_accept)
                expect(answer, ("multipart/related",))
                parts = timing.multipart_parts(answer.headers["Content-Type"], answer.content)
                if len(parts) != 1:
                    raise Invalid(f"{len(parts)} parts for one frame")
                if hashlib.sha256(parts[0][1]).hexdigest() != instance.pixels_sha256:
                    raise Invalid(f"frame bytes differ from the original ({len(parts[0][1])} B)")
                return 1

            return request

        return [one(instance) for instance in ct]

    def wado_uri(server: Server):
        def one(instance: Instance):
            params = {
                "requestType": "WADO",
                "studyUID": study,
                "seriesUID": series,
                "objectUID": instance.sop,
                "contentType": "application/dicom",
            }

            # "/" literal: Orthanc 1.10 refuses contentType=application%2Fdicom (400).
            url = server.wado + "?" + urllib.parse.urlencode(params, safe="/")

            def request() -> int:
                answer = server.session().get(url)
                expect(answer, ("application/dicom",))
                if hashlib.sha256(answer.content).hexdigest() != instance.file_sha256:
                    raise Invalid("WADO-URI bytes differ from the stored file")
                return 1

            return request

        return [one(instance) for instance in ct]

    return [
        ("/studies/{s}/series", study_series, 1),
        (f"instances of the {len(ct)}-instance series", series_instances, 1),
        (f"series metadata ({len(ct)} slices)", metadata("series"), 1),
        (f"study metadata ({len(ct)} slices)", metadata("study"), 1),
        (f"every frame ({len(ct)}), 1 client", frames, 1),
        (f"every frame ({len(ct)}), 6 clients", frames, 6),
        (f"WADO-URI every instance ({len(ct)}), 1 client", wado_uri, 1),
        (f"WADO-URI every instance ({len(ct)}), 6 clients", wado_uri, 6),
    ]


def stow_op(batches: list[list[Path]], clients: int):
    def make(server: Server):
        def one(batch: list[Path]):
            content_type, body = timing.multipart_body([p.read_bytes() for p in batch])

            def request() -> int:
                answer = server.session().post(
                    f"{server.dicomweb}/studies",
                    data=body,
                    headers={
                        "Content-Type": content_type,
                        "Accept": "application/dicom+json",
                        **server.post_headers,
                    },
                )
                result = dicom_json(answer)
                result = result[0] if isinstance(result, list) else result
                stored = len(result.get("00081199", {}).get("Value", []))
                if stored != len(batch) or result.get("00081198", {}).get("Value"):
                    raise Invalid(f"STOW stored {stored} of {len(batch)}: {str(result)[:300]}")
                return len(batch)

            return request

        return [one(batch) for batch in batches]

    return make

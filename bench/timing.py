"""Timing and checking helpers for the HTTP benchmarks: run requests from N client threads,
keep each latency, summarise as median / p95; split multipart/related answers."""

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class Invalid(Exception):
    """A server's answer is wrong (status, media type, count or bytes)."""


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    error: str = ""
    units: int = 0  # instances or frames moved, for a throughput figure

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p95_ms(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    @property
    def per_second(self) -> float:
        return self.units / self.wall if self.wall else float("nan")


def joined(results: list[Result]) -> Result:
    """Several runs of one operation as one: their latencies, units and wall times together."""
    return Result(
        latencies=[latency for result in results for latency in result.latencies],
        wall=sum(result.wall for result in results),
        error=next((result.error for result in results if result.error), ""),
        units=sum(result.units for result in results),
    )


_clock = threading.local()


def count_exchange(seconds: float) -> None:
    """Called by the HTTP client (dicomweb_ops.TimedSession) with the time of each exchange:
    request sent to body received. A request's latency is the sum of its exchanges, so the
    client's own checking (JSON parsing, hashing, multipart splitting) is not counted against
    either server."""
    _clock.spent = getattr(_clock, "spent", 0.0) + seconds


def run(requests: list[Callable[[], int]], clients: int = 1, budget: float = 0.0) -> Result:
    """Call every request from ``clients`` threads; each returns the units it moved and
    raises ``Invalid`` on a wrong answer, which stops the run. With ``budget`` (seconds), stop
    handing out requests once it is spent, after at least three. Latency: the request's HTTP
    exchanges when it reported them (``count_exchange``), else its wall time."""
    result = Result()
    queue = iter(requests)
    lock = threading.Lock()
    started = time.monotonic()

    def client() -> None:
        while True:
            with lock:
                if result.error:
                    return
                spent = time.monotonic() - started
                if budget and spent > budget and len(result.latencies) >= 3:
                    return
                request = next(queue, None)
            if request is None:
                return
            _clock.spent = 0.0
            t0 = time.perf_counter()
            try:
                units = request()
            except Exception as exc:  # any failure marks the whole operation failed
                with lock:
                    result.error = result.error or f"{type(exc).__name__}: {exc}"[:300]
                return
            latency = _clock.spent or time.perf_counter() - t0
            with lock:
                result.latencies.append(latency)
                result.units += units

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.monotonic() - started
    return result


def multipart_parts(content_type: str, body: bytes) -> list[tuple[dict, bytes]]:
    """Split a multipart/related body into (headers, content) parts; Invalid if malformed."""
    boundary = None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"').encode()
    if not content_type.lower().startswith("multipart/related") or not boundary:
        raise Invalid(f"not multipart/related with a boundary: {content_type!r}")
    parts = []
    chunks = body.split(b"--" + boundary)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise Invalid("multipart body without its closing boundary")
    for chunk in chunks[1:-1]:
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise Invalid("multipart part without CRLFCRLF")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content[:-2] if content.endswith(b"\r\n") else content))
    return parts


def multipart_body(parts: list[bytes], media_type: str = "application/dicom") -> tuple[str, bytes]:
    """A multipart/related request body; returns (Content-Type, body)."""
    boundary = "benchboundary7d2a9c"
    chunks = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n".encode(), part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="{media_type}"; boundary={boundary}'
    return content_type, b"".join(chunks)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes and all their descendants (gunicorn's
    workers, Celery's pool), read from /proc: what a server spent, whatever else the machine
    was doing. A descendant that already exited is not counted unless its parent waited for it
    (then it is in the parent's children's times)."""
    processes = _processes()
    wanted = set(pids)
    grew = True
    while grew:
        found = {pid for pid, one in processes.items() if one.parent in wanted} - wanted
        grew = bool(found)
        wanted |= found
    return sum(processes[pid].cpu for pid in wanted if pid in processes)


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """The CPU seconds of each child of ``pid`` (each gunicorn worker, say), as in
    ``cpu_seconds``."""
    return {child: one.cpu for child, one in _processes().items() if one.parent == pid}


def servers_named(name: str) -> list[int]:
    """The pids of the running servers with this process name (PostgreSQL's postmaster, not
    its backends: ``cpu_seconds`` counts those, and those that ended, under it)."""
    processes = _processes()
    return [
        pid
        for pid, one in processes.items()
        if one.name == name and getattr(processes.get(one.parent), "name", "") != name
    ]


@dataclass(frozen=True)
class _Process:
    name: str
    parent: int
    cpu: float  # its own, and that of the children it waited for


def _processes() -> dict[int, _Process]:
    processes = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        cpu = sum(int(value) for value in fields[11:15]) / tick
        processes[int(entry)] = _Process(name, int(fields[1]), cpu)
    return processes

"""Throughput with wrk (Debian's ``wrk``), a C load generator: with Python clients on the same
two cores, the clients themselves cap what is measured (about 270 responses of 0.5 MB per
second from a server that does nothing). Answers are checked by the Python operations; here
only their status (wrk counts non-2xx answers) and size."""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Throughput:
    per_second: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    error: str = ""


def available() -> bool:
    return shutil.which("wrk") is not None


def get_paths(base_url: str, paths: list[str], headers: dict, connections: int,
              seconds: int = 10, min_bytes: int = 0) -> Throughput:  # fmt: skip
    """GET the paths round-robin over ``connections`` keep-alive connections."""
    script = "local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
    script += "local i = 0\nrequest = function()\n  i = i % #paths + 1\n"
    script += "  return wrk.format('GET', paths[i])\nend\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s"]
    command += [
        "--latency",
        "-s",
        lua.name,
        *sum((["-H", f"{k}: {v}"] for k, v in headers.items()), []),
    ]
    try:
        out = subprocess.run(
            command + [base_url], capture_output=True, text=True, timeout=seconds + 30
        ).stdout
    finally:
        Path(lua.name).unlink()
    found = Throughput()
    if "Non-2xx" in out or "Socket errors" in out:
        found.error = " ".join(
            line.strip() for line in out.splitlines() if "Non-2xx" in line or "errors" in line
        )
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        found.per_second = float(m.group(1))
    if (m := re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)) and found.per_second:
        scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}.get(m.group(2), 1)
        if float(m.group(1)) * scale / found.per_second < min_bytes:
            found.error = found.error or "answers smaller than a frame"
    for label, attr in (("50%", "p50_ms"), ("99%", "p99_ms")):
        if m := re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out):
            setattr(found, attr, float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)])
    if not found.per_second:
        found.error = found.error or f"no result from wrk: {out[-300:]!r}"
    return found

"""Where the time of one ``first_image.py`` run goes: the page's request waterfall (DevTools
Network events) and OHIF's own timeline (Cornerstone's image events, and each decode a web
worker was asked for), written as JSON and summarised as text.

Used by ``first_image.py --trace DIR``. The decodes are counted at the page's side of the
workers: every Comlink call posted to a worker and its answer (the image loader's
``decodeTask``), so a frame decoded twice while it streams counts twice.
"""

import json
import statistics
from pathlib import Path

# Before OHIF runs: wrap Worker.postMessage (Comlink's calls) and note Cornerstone's events
# once its event target exists. Times are epoch milliseconds, as CDP's wallTime * 1000.
INIT_JS = """(() => {
  const trace = (window.__trace = {calls: [], events: []});
  const now = () => performance.timeOrigin + performance.now();
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message && message.type === 'APPLY' && message.id) {
      const name = (message.path || []).join('.');
      const call = {id: message.id, name, posted: now()};
      trace.calls.push(call);
      const worker = this;
      const answered = (event) => {
        if (event.data && event.data.id === message.id) {
          call.answered = now();
          const value = event.data.value;  // the decoded frame: its own decode time
          call.decodeMs = value && value.decodeTimeInMS;
          worker.removeEventListener('message', answered);
        }
      };
      this.addEventListener('message', answered);
    }
    return post.call(this, message, ...rest);
  };
  const names = ['CORNERSTONE_IMAGE_LOADED', 'CORNERSTONE_IMAGE_RENDERED',
                 'CORNERSTONE_STACK_NEW_IMAGE', 'CORNERSTONE_IMAGE_LOAD_FAILED'];
  const hook = setInterval(() => {
    const target = window.cornerstone && window.cornerstone.eventTarget;
    if (!target) return;
    clearInterval(hook);
    trace.events.push({name: 'cornerstone', at: now()});
    for (const name of names) {
      target.addEventListener(name, (event) => {
        const image = event.detail && event.detail.image;
        trace.events.push({name, at: now(), imageId: image && image.imageId,
                           quality: image && image.imageQualityStatus});
      });
    }
  }, 5);
})();"""


class NetworkLog:
    """Every request of a CDP session's page, by requestId: URL, when it was sent, when its
    headers and first and last bytes came, its size on the wire and its encoding."""

    def __init__(self, cdp):
        self.requests: dict[str, dict] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.requestServedFromCache", self._cached)

    def _sent(self, event):
        self.requests[event["requestId"]] = {
            "url": event["request"]["url"],
            "type": event.get("type", ""),
            "priority": event["request"].get("initialPriority", ""),
            "sent": event["timestamp"],
            "wall": event["wallTime"],
        }

    def _response(self, event):
        row = self.requests.get(event["requestId"])
        if row is not None:
            response = event["response"]
            headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
            row.update(
                headers_at=event["timestamp"],
                status=response.get("status"),
                encoding=headers.get("content-encoding", ""),
                content_type=headers.get("content-type", "")[:60],
                from_cache=response.get("fromDiskCache", False),
            )

    def _data(self, event):
        row = self.requests.get(event["requestId"])
        if row is not None and "first_byte" not in row:
            row["first_byte"] = event["timestamp"]

    def _finished(self, event):
        row = self.requests.get(event["requestId"])
        if row is not None:
            row.update(finished=event["timestamp"], bytes=event["encodedDataLength"])

    def _cached(self, event):
        row = self.requests.get(event["requestId"])
        if row is not None:
            row["memory_cache"] = True

    def since(self, url_part: str) -> list[dict]:
        """Rows from the first request whose URL contains ``url_part``, times in seconds from
        it (``wall``: its epoch seconds, to place the page's own timeline)."""
        rows = sorted(self.requests.values(), key=lambda r: r["sent"])
        start = next(i for i, row in enumerate(rows) if url_part in row["url"])
        origin = rows[start]["sent"]
        wall = rows[start]["wall"]
        out = []
        for row in rows[start:]:
            rel = {k: round(v - origin, 4) for k, v in row.items() if k in TIMES and v}
            out.append({**row, **rel, "origin_wall": wall})
        return out


TIMES = ("sent", "headers_at", "first_byte", "finished")


def page_timeline(page, origin_wall: float) -> dict:
    trace = page.evaluate("() => window.__trace || {calls: [], events: []}")
    base = origin_wall * 1000

    def rel(ms):
        return round((ms - base) / 1000, 4) if ms else None

    calls = [
        {
            "name": c["name"],
            "posted": rel(c["posted"]),
            "answered": rel(c.get("answered")),
            "decode_ms": c.get("decodeMs"),
        }
        for c in trace["calls"]
    ]
    events = [{**e, "at": rel(e["at"])} for e in trace["events"]]
    return {"calls": calls, "events": events}


def save(folder: Path, name: str, requests: list[dict], timeline: dict, first_s: float):
    folder.mkdir(parents=True, exist_ok=True)
    record = {"first_s": first_s, "requests": requests, **timeline}
    (folder / f"{name}.json").write_text(json.dumps(record, indent=1))
    print(summary(record), flush=True)


def kind(url: str) -> str:
    if "/frames/" in url:
        return "frame"
    if url.endswith("/metadata") or "/metadata?" in url:
        return "metadata"
    if "/dicom-web/" in url:
        return "qido"
    if "app-config" in url:
        return "app-config"
    if url.endswith(".wasm"):
        return "wasm"
    if ".js" in url or ".css" in url:
        return "code"
    return "other"


def summary(record: dict) -> str:
    """A few lines: what happened before the first frame request, how many frames were in
    flight when the first one came back, and how many decodes each frame cost."""
    rows = record["requests"]
    lines = [f"  first image at {record['first_s']:.2f} s (bench clock)"]
    frames = [r for r in rows if kind(r["url"]) == "frame"]
    first_frame = frames[0] if frames else None
    for row in rows:
        if first_frame is not None and row["sent"] > first_frame["sent"]:
            break
        size = row.get("bytes", 0)
        lines.append(
            f"  {row['sent']:6.3f}-{row.get('finished', float('nan')):6.3f} s "
            f"{kind(row['url']):10} {size / 1e3:8.1f} kB {row.get('status', '')} "
            f"{row.get('encoding', '') or '-':5} {'cache' if row.get('from_cache') else ''} "
            f"{row['url'][-70:]}"
        )
    if first_frame is not None:
        done = first_frame.get("finished", float("inf"))
        in_flight = sum(1 for r in frames if r["sent"] <= done)
        lines.append(
            f"  first frame: sent {first_frame['sent']:.3f}, headers "
            f"{first_frame.get('headers_at', float('nan')):.3f}, done {done:.3f} s; "
            f"frame requests sent by then: {in_flight}; all frames: {len(frames)}, "
            f"{sum(r.get('bytes', 0) for r in frames) / 1e6:.1f} MB, last done "
            f"{max(r.get('finished', 0) for r in frames):.2f} s"
        )
    decodes = [c for c in record["calls"] if "decode" in c["name"].lower()]
    loaded = [e for e in record["events"] if e["name"] == "CORNERSTONE_IMAGE_LOADED"]
    rendered = [e for e in record["events"] if e["name"] == "CORNERSTONE_IMAGE_RENDERED"]
    durations = [c["answered"] - c["posted"] for c in decodes if c["answered"]]
    inside = [c["decode_ms"] for c in decodes if c.get("decode_ms") is not None]
    if decodes:
        lines.append(
            f"  worker calls: {len(record['calls'])} ({len(decodes)} decodes, first posted "
            f"{decodes[0]['posted']:.3f} s, median {statistics.median(durations or [0]) * 1e3:.0f}"
            f" ms posted to answered, {statistics.median(inside or [0]):.1f} ms decoding, "
            f"{sum(inside) / 1e3:.2f} s in all); images loaded: {len(loaded)}; "
            f"first rendered {rendered[0]['at'] if rendered else None} s"
        )
    cornerstone = [e for e in record["events"] if e["name"] == "cornerstone"]
    if cornerstone:
        lines.append(f"  cornerstone present at {cornerstone[0]['at']:.3f} s")
    return "\n".join(lines)

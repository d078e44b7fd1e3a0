"""gunicorn.conf.py, read by every gunicorn the archive runs (run.sh, the image, compose): no
control socket at the per-user path two archives on one host would share."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _without_sizes(environ) -> dict[str, str]:
    """The environment without the settings that size the server, so that the defaults are
    what a test without ``env`` sees whatever the shell running the suite has set."""
    return {k: v for k, v in environ.items() if k not in ("WEB_CONCURRENCY", "WEB_THREADS")}


def effective_settings(**env: str) -> dict[str, str]:
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "ohifsite.wsgi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**_without_sizes(os.environ), **env},
    ).stdout
    pairs = (line.split("=", 1) for line in printed.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_shared_control_socket_is_off_and_the_settings_are_the_archives():
    settings = effective_settings()
    assert settings["control_socket_disable"] == "True"
    assert settings["threads"] == "4"
    assert settings["timeout"] == "300"
    assert settings["accesslog"] == "-"


def test_workers_and_threads_come_from_the_environment():
    settings = effective_settings(WEB_CONCURRENCY="6", WEB_THREADS="1")
    assert (settings["workers"], settings["threads"]) == ("6", "1")

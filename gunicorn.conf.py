"""gunicorn's settings wherever the archive is served (run.sh, the container image, compose):
gunicorn reads ./gunicorn.conf.py from its working directory. The address is given by each."""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads share a process's memory and its interpreter lock. On two cores, 6 workers x 1 thread
# stored small instances no faster than 2 x 4 (bench/README, session 8).
threads = int(os.environ.get("WEB_THREADS", "4"))
# Long enough for a large STOW-RS or a whole-study download.
timeout = 300
accesslog = "-"
# gunicorn 25.1+ opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl): a second archive on the host would take over the first one's.
# Nothing here uses it; run.sh's supervisor or the container runtime stops and restarts.
control_socket_disable = True

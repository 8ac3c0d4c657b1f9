"""gunicorn settings for leadhub; every value can be overridden by environment variables."""

import multiprocessing
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Two processes per core plus one (gunicorn's own advice): with sync workers a slow request (an
# activity batch, a decision waiting on a lock) must not leave the queue's short pages waiting for a free process.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 20
# leadhub.observability logs one line per request with timings; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
wsgi_app = "leadhub.wsgi:application"
# The control socket's default path is per user, so two instances on one machine would collide.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""

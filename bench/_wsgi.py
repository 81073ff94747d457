"""The application a benchmark's server (granian, bench/_common.Server) runs: config.wsgi, with
the tasks it sends going to the run's private Celery queue (BENCH_CELERY_QUEUE), which no worker
takes; with BENCH_BARE_TRANSFER set, bench/bare_drf.py's endpoint added to the URLs. With
BENCH_SERVER_PROFILE set to a folder, each worker process cProfiles the CPU time of the
requests it serves into worker-<pid>.prof there, rewritten at most once a second (granian ends its workers
without running atexit hooks, so the file is kept current instead)."""

import os
import time

from config.celery import app as celery_app
from config.wsgi import application as django_application

celery_app.conf.task_default_queue = os.environ["BENCH_CELERY_QUEUE"]
application = django_application

if os.environ.get("BENCH_BARE_TRANSFER"):  # bench/bare_drf.py's calibration endpoint, this run only
    import bare_drf

    import config.urls

    config.urls.urlpatterns += bare_drf.urlpatterns()  # the resolver reads this very list

if os.environ.get("BENCH_SERVER_PROFILE"):
    import cProfile

    _profile = cProfile.Profile(time.thread_time)  # CPU, not the time spent waiting for PostgreSQL
    _written = [0.0]

    def application(environ, start_response):  # noqa: F811 - the profiled variant
        _profile.enable()  # in this thread, the request's: a profile sees only its own thread
        try:
            return django_application(environ, start_response)
        finally:
            _profile.disable()
            if time.monotonic() - _written[0] >= 1.0:
                _written[0] = time.monotonic()
                path = os.path.join(os.environ["BENCH_SERVER_PROFILE"], f"worker-{os.getpid()}.prof")
                _profile.dump_stats(path)

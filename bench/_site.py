"""WSGI application for benchmarks: leadhub as deployed, plus /bench/floor/, a signed-in view that
only answers "ok" (through the same middleware), so a page's time can be read beside the floor.

    .venv/bin/python -m gunicorn _site:application --pythonpath bench,.
"""

import os
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from django.contrib.auth.decorators import permission_required  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402


@permission_required("leadhub.view_lead", raise_exception=True)  # the lead list's own check
def floor(request):
    return HttpResponse("ok")


_urls = types.ModuleType("bench_site_urls")
_urls.urlpatterns = [path("bench/floor/", floor), path("", include(settings.ROOT_URLCONF))]
sys.modules["bench_site_urls"] = _urls
settings.ROOT_URLCONF = "bench_site_urls"

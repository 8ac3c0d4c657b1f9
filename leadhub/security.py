"""Response headers that keep personal data out of caches."""

from django.conf import settings


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response under settings.NO_STORE_PATHS (lead pages,
    the queue, reports, CSV exports, the API, the admin) unless the view set its own."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = tuple(settings.NO_STORE_PATHS)

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(self.prefixes) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response

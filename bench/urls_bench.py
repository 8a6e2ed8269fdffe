"""The platform's URLs plus ``/bench/ceiling/``: a bare view that only answers ``success``.

Served by the same gunicorn server as the real callback, so bench_gateway can measure
the ceiling of this stack (gunicorn + Django + its middleware) side by side.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from mediabao.urls import *  # noqa: F403
from mediabao.urls import urlpatterns as _platform_urls


@csrf_exempt
def ceiling(request: HttpRequest) -> HttpResponse:
    return HttpResponse("success", content_type="text/plain")


urlpatterns = [path("bench/ceiling/", ceiling), *_platform_urls]

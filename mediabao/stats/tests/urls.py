"""The project's URLs plus the statistics page and API, for tests run before the lead wires them."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mediabao.stats import api
from mediabao.urls import urlpatterns as project_patterns

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("stats", api.StatsViewSet, basename="stats")

urlpatterns = [
    path("console/stats/", include("mediabao.stats.urls")),
    path("api/v1/", include((router.urls, "api"), namespace="api")),
    *project_patterns,
]

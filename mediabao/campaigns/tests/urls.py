"""The project's URLs plus the campaigns pages, for tests run before the lead wires them."""

from django.urls import include, path

from mediabao.urls import urlpatterns as project_patterns

urlpatterns = [
    path("console/campaigns/", include("mediabao.campaigns.urls")),
    path("c/", include("mediabao.campaigns.public_urls")),
    *project_patterns,
]

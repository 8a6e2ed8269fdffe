"""The project's URLs plus the messaging app's, for tests run before the app is wired."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mediabao import urls as project_urls
from mediabao.messaging import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
api.register(router)

urlpatterns = [
    path("console/messages/", include("mediabao.messaging.urls")),
    path("api/v1/", include(router.urls)),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500

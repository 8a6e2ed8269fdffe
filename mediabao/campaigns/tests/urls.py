"""The project's URLs plus the campaigns pages and API, for tests run before the lead wires them."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mediabao.campaigns import api
from mediabao.urls import urlpatterns as project_patterns

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("activities", api.ActivityViewSet, basename="activity")
router.register("participants", api.ParticipantViewSet, basename="participant")
router.register("reward-claims", api.RewardClaimViewSet, basename="reward-claim")

urlpatterns = [
    path("console/campaigns/", include("mediabao.campaigns.urls")),
    path("c/", include("mediabao.campaigns.public_urls")),
    path("api/v1/", include(router.urls)),
    *project_patterns,
]

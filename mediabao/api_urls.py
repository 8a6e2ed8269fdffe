"""``/api/v1/``: every app's REST endpoints on one router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mediabao.accounts import api as accounts_api
from mediabao.audit import api as audit_api
from mediabao.campaigns import api as campaigns_api
from mediabao.campaigns import api_codes as campaigns_codes_api
from mediabao.channels import api as channels_api
from mediabao.fans import api as fans_api
from mediabao.keywords import api as keywords_api
from mediabao.messaging import api as messaging_api
from mediabao.stats import api as stats_api
from mediabao.wechat import api as wechat_api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("teams", accounts_api.TeamViewSet, basename="team")
router.register("members", accounts_api.MemberViewSet, basename="member")
router.register("invitations", accounts_api.InvitationViewSet, basename="invitation")
router.register("tokens", accounts_api.ApiTokenViewSet, basename="token")
router.register("accounts", wechat_api.OfficialAccountViewSet, basename="account")
router.register("fans", fans_api.FanViewSet, basename="fan")
router.register("fan-syncs", fans_api.FanSyncViewSet, basename="fan-sync")
router.register("keyword-rules", keywords_api.KeywordRuleViewSet, basename="keyword-rule")
router.register("channels", channels_api.ChannelViewSet, basename="channel")
router.register("activities", campaigns_api.ActivityViewSet, basename="activity")
router.register("participants", campaigns_api.ParticipantViewSet, basename="participant")
router.register("reward-claims", campaigns_api.RewardClaimViewSet, basename="reward-claim")
router.register("reward-codes", campaigns_codes_api.RewardCodePoolViewSet, basename="reward-code")
router.register("stats", stats_api.StatsViewSet, basename="stats")
router.register("audit-entries", audit_api.AuditEntryViewSet, basename="audit-entry")
messaging_api.register(router)

urlpatterns = [
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("", include(router.urls)),
]

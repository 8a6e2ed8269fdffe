from django.urls import path

from mediabao.campaigns import public_views

app_name = "campaigns_public"

urlpatterns = [
    path("<int:activity_id>/oauth/", public_views.oauth_callback, name="oauth"),
    path("me/<str:token>/", public_views.h5_page, name="h5"),
    path("me/<str:token>/claim/<int:claim_id>/", public_views.claim_address, name="claim"),
    path("poster/<str:token>.jpg", public_views.poster_image, name="poster"),
]

from django.urls import path

from mediabao.campaigns import tools_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.activity_list, name="list"),
    path("new/", views.activity_create, name="create"),
    path("<int:pk>/", views.activity_detail, name="detail"),
    path("<int:pk>/edit/", views.activity_edit, name="edit"),
    path("<int:pk>/preview.jpg", views.activity_preview, name="preview"),
    path("<int:pk>/rewards.csv", views.rewards_csv, name="rewards_csv"),
    path("rewards/<int:pk>/shipped/", views.reward_shipped, name="reward_shipped"),
    path("<int:pk>/codes/", tools_views.codes_import, name="codes_import"),
    path("<int:pk>/rehearsal/", tools_views.rehearsal_page, name="rehearsal"),
    path("<int:pk>/rehearsal/<int:run>/", tools_views.rehearsal_run, name="rehearsal_run"),
    path("<int:pk>/rehearsal/<int:run>/progress/", tools_views.rehearsal_progress, name="rehearsal_progress"),
    path("<int:pk>/rehearsal/<int:run>/stop/", tools_views.rehearsal_stop, name="rehearsal_stop"),
    path("participants/", views.participant_list, name="participants"),
    path("participants.csv", views.participant_csv, name="participants_csv"),
    path("participants/<int:pk>/", views.participant_detail, name="participant"),
    path("participants/<int:pk>/reviewed/", views.participant_reviewed, name="reviewed"),
    path("participants/<int:pk>/blacklist/", views.participant_blacklist, name="blacklist"),
]

from django.urls import path

from mediabao.messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("new/", views.compose, name="compose"),
    path("new/preview/", views.preview, name="preview"),
    path("new/audience-size/", views.audience_size, name="audience_size"),
    path("templates/", views.template_list, name="templates"),
    path("templates/sync/<int:account_id>/", views.template_sync, name="template_sync"),
    path("accounts/<int:account_id>/settings/", views.delivery_settings, name="settings"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/row/", views.job_row, name="job_row"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/export.csv", views.job_export, name="job_export"),
    path("jobs/<int:pk>/<str:action>/", views.job_action, name="job_action"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/<int:pk>/", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/cancel/", views.schedule_cancel, name="schedule_cancel"),
]

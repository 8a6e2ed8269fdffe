from django.urls import path

from mediabao.fans import views

app_name = "fans"

urlpatterns = [
    path("", views.fan_list, name="list"),
    path("export.csv", views.fan_export, name="export"),
    path("sync/<int:account_id>/", views.start_sync, name="sync"),
    path("syncs/<int:pk>/", views.sync_progress, name="sync_progress"),
]

from django.urls import path

from mediabao.channels import views

app_name = "channels"

urlpatterns = [
    path("", views.channel_list, name="list"),
    path("new/", views.channel_create, name="create"),
    path("<int:pk>/", views.channel_detail, name="detail"),
    path("<int:pk>/edit/", views.channel_edit, name="edit"),
    path("<int:pk>/archive/", views.channel_archive, name="archive"),
    path("<int:pk>/qr.<str:kind>", views.channel_qr, name="qr"),
    path("<int:pk>/stats.csv", views.channel_stats_csv, name="stats_csv"),
]

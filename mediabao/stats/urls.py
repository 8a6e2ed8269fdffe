from django.urls import path

from mediabao.stats import views

app_name = "stats"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("daily.csv", views.daily_csv, name="daily_csv"),
]

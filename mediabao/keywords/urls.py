from django.urls import path

from mediabao.keywords import views

app_name = "keywords"

urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", views.rule_create, name="create"),
    path("<int:pk>/", views.rule_edit, name="edit"),
    path("<int:pk>/delete/", views.rule_delete, name="delete"),
]

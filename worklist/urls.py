"""The worklist at the site root, its on-demand parts under /worklist/, and /upload/."""

from django.urls import path

from . import views

app_name = "worklist"

urlpatterns = [
    path("", views.study_list, name="study_list"),
    path("worklist/rows", views.study_rows, name="study_rows"),
    path("worklist/states", views.study_states, name="study_states"),
    path("worklist/studies/<str:study_uid>/series", views.study_series, name="study_series"),
    path(
        "worklist/studies/<str:study_uid>/series/<str:series_uid>/tags",
        views.instance_tags,
        name="instance_tags",
    ),
    path("worklist/studies/<str:study_uid>/download", views.download_study, name="download_study"),
    path("worklist/studies/<str:study_uid>/delete", views.delete_study, name="delete_study"),
    path("upload/", views.upload_file, name="upload_file"),
    path("worklist/projects/assign", views.assign_to_project, name="assign_to_project"),
]

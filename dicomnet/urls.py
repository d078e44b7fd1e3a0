"""Send to… pages, under /dicom/."""

from django.urls import path

from . import views

app_name = "dicomnet"

urlpatterns = [
    path("send/<str:study_uid>/", views.send_study, name="send_study"),
    path("sends/<int:pk>/", views.send_job, name="send_job"),
    path("sends/<int:pk>/retry", views.retry_job, name="retry_job"),
]

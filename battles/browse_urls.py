from django.urls import path

from battles import views_browse as views

app_name = "browse"

urlpatterns = [
    path("", views.browse_index, name="index"),
    path("questions/<int:question_id>/", views.browse_question, name="question"),
    path("questions/<int:question_id>/verdict/", views.browse_verdict, name="verdict"),
]

from django.urls import path

from battles import views

app_name = "battles"

urlpatterns = [
    path("", views.battle_page, name="next"),
    path("battles/<int:battle_id>/", views.battle_detail, name="detail"),
    path("battles/<int:battle_id>/vote/", views.battle_vote, name="vote"),
    path("battles/<int:battle_id>/reason/", views.battle_reason, name="reason"),
    path("health/", views.health, name="health"),
    path("health/ready/", views.readiness, name="readiness"),
]

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("live/overview/", views.overview_live, name="overview_live"),
    path("operations/", views.operations, name="operations"),
    path("operations/dead-letters/<int:delivery_id>/replay/", views.dead_letter_replay_view, name="dead_letter_replay"),
    path(
        "operations/dead-letters/<int:delivery_id>/dismiss/", views.dead_letter_dismiss_view, name="dead_letter_dismiss"
    ),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
]

"""/api/auth/: sign-up, tokens, the account itself."""

from django.urls import path

from . import views

urlpatterns = [
    path("register/", views.RegisterView.as_view(), name="api-register"),
    path("login/", views.LoginView.as_view(), name="api-login"),
    path("token/", views.LoginView.as_view(), name="api-token"),  # the login's first path; clients use it
    path("logout/", views.LogoutView.as_view(), name="api-logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="api-logout-all"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("password/", views.PasswordChangeView.as_view(), name="api-password"),
]

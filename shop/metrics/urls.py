from django.urls import path

from . import views

# /metrics, with no trailing slash: Prometheus' default metrics_path.
urlpatterns = [path("", views.metrics, name="metrics")]

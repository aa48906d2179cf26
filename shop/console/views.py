"""The console's own pages: login, overview (with its live fragment), operations, dead-letter replay and dismissal."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from shop.bus.delivery import dead_letter_dismiss, dead_letter_replay
from shop.models import Delivery

from .access import staff_required
from .layout import render_page
from .panels import panels_render


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    extra_context = {"page_title": "Log in"}


@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    """Show the shop at a glance; the panels refresh themselves."""
    return render_page(
        request,
        "console/overview.html",
        {"panels": panels_render(request, "overview")},
        section="overview",
        title="Overview",
    )


@staff_required
def overview_live(request: HttpRequest) -> HttpResponse:
    """Return the overview's panels as an HTML fragment for the live refresh."""
    return render(request, "console/_panels.html", {"panels": panels_render(request, "overview")})


@staff_required
def operations(request: HttpRequest) -> HttpResponse:
    """Show stuck sagas, dead letters and the health of workers and queues."""
    return render_page(
        request,
        "console/operations.html",
        {"panels": panels_render(request, "operations")},
        section="operations",
        title="Operations",
    )


@staff_required
@require_POST
def dead_letter_replay_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Give a dead letter a fresh set of attempts."""
    get_object_or_404(Delivery, pk=delivery_id)
    if dead_letter_replay(delivery_id=delivery_id):
        messages.success(request, f"Dead letter {delivery_id} replayed: it is being delivered again.")
    else:
        messages.warning(request, f"Delivery {delivery_id} is not a dead letter (any more); nothing replayed.")
    return redirect("console:operations")


@staff_required
@require_POST
def dead_letter_dismiss_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Close a dead letter without replaying it; it is pruned with the rest after the window."""
    get_object_or_404(Delivery, pk=delivery_id)
    if dead_letter_dismiss(delivery_id=delivery_id, by=request.user.get_username()):
        messages.success(
            request,
            f"Dead letter {delivery_id} dismissed by {request.user.get_username()}: not replayed; "
            f"its record is pruned after {settings.BUS_RETENTION_DAYS} days.",
        )
    else:
        messages.warning(request, f"Delivery {delivery_id} is not a dead letter (any more); nothing dismissed.")
    return redirect("console:operations")

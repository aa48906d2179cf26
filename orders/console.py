"""The staff console's order pages: list, detail with the live saga timeline, and staff actions."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from shop.console import render_page, staff_required
from shop.errors import ServiceError

from . import selectors, services
from .forms import OrderActionForm, OrderFilterForm, order_actions
from .models import Order
from .services import notifications

PAGE_SIZE = 50


def _staff_cancel_service(verb: str):
    """Return order_cancel with the reason staff gave; the saga refunds a confirmed order."""

    def close(*, order_id, user) -> Order:
        return services.order_cancel(order_id=order_id, user=user, reason=f"{verb} by staff ({user.get_username()})")

    return close


# Each action calls the service the API calls; "refund" cancels a confirmed order.
ACTIONS = {
    "ship": (services.order_ship, "shipped"),
    "deliver": (services.order_deliver, "marked delivered"),
    "cancel": (_staff_cancel_service("cancelled"), "cancelled"),
    "refund": (_staff_cancel_service("refunded"), "cancelled; the refund is on its way"),
    "retry_refund": (services.order_refund_retry, "sent to payments again for its refund"),
}


@staff_required
def order_list(request: HttpRequest) -> HttpResponse:
    """List orders, newest first, filtered by status and searched by id or customer."""
    form = OrderFilterForm(request.GET)
    page = Paginator(selectors.orders_search(**form.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request, "console/orders/list.html", {"form": form, "page": page}, section="orders", title="Orders"
    )


def _order_or_404(order_id, *, with_lines: bool = True) -> Order:
    order = selectors.order_for_staff(order_id=order_id, with_lines=with_lines)
    if order is None:
        raise Http404("No such order.")
    return order


def _saga_context(order: Order, action_form: OrderActionForm | None = None) -> dict:
    return {
        "order": order,
        "steps": selectors.order_saga_timeline(order=order),
        "actions": order_actions(order),
        "action_form": action_form,
        "live_url": reverse("orders_console:live", args=[order.pk]),
        "retention_days": settings.BUS_RETENTION_DAYS,
    }


def _invoices_url(order: Order) -> str | None:
    """Return the API's list of the order's invoices, if payments serves one (by URL name: no import)."""
    try:
        return f"{reverse('invoice-list')}?order={order.pk}"
    except NoReverseMatch:
        return None


def _detail(request: HttpRequest, order: Order, *, action_form=None, status: int = 200) -> HttpResponse:
    context = {
        **_saga_context(order, action_form),
        "admin_url": reverse("admin:orders_order_change", args=[order.pk]),
        "mails": list(order.mails.all()),  # one query
        "invoices_url": _invoices_url(order),
    }
    return render_page(
        request,
        "console/orders/detail.html",
        context,
        section="orders",
        title=f"Order {str(order.pk)[:8]}",
        status=status,
    )


@staff_required
def order_detail(request: HttpRequest, order_id) -> HttpResponse:
    """Show an order, its lines and money, and its saga timeline (refreshed live)."""
    return _detail(request, _order_or_404(order_id))


@staff_required
def order_live(request: HttpRequest, order_id) -> HttpResponse:
    """Return the status, actions and timeline of an order as an HTML fragment."""
    return render(request, "console/orders/_saga.html", _saga_context(_order_or_404(order_id, with_lines=False)))


@staff_required
@require_POST
def order_action(request: HttpRequest, order_id) -> HttpResponse:
    """Ship, deliver, cancel, refund or retry the refund of the order through its service."""
    order = _order_or_404(order_id)  # with lines: an invalid action re-renders the page
    form = OrderActionForm(request.POST, order=order)
    if not form.is_valid():
        return _detail(request, order, action_form=form, status=400)
    service, done = ACTIONS[form.cleaned_data["action"]]
    try:
        service(order_id=order.pk, user=request.user)
    except ServiceError as error:  # the order moved on meanwhile: say so, change nothing
        messages.error(request, error.message)
    else:
        messages.success(request, f"Order {done}.")
    return redirect("orders_console:detail", order_id=order.pk)


def _saga_command(request: HttpRequest, order_id, service, done: str) -> HttpResponse:
    _order_or_404(order_id, with_lines=False)
    try:
        service(order_id=order_id, user=request.user)
    except ServiceError as error:
        messages.error(request, f"Order {order_id}: {error.message}")
    else:
        messages.success(request, f"Order {order_id} {done}.")
    return redirect("console:operations")


@staff_required
@require_POST
def saga_redrive(request: HttpRequest, order_id) -> HttpResponse:
    """Re-send the command of a stuck saga's current step."""
    return _saga_command(request, order_id, services.saga_redrive, "re-driven")


@staff_required
@require_POST
def saga_compensate(request: HttpRequest, order_id) -> HttpResponse:
    """Cancel a stuck saga now and compensate what was done."""
    return _saga_command(request, order_id, services.saga_compensate, "cancelled and compensated")


@staff_required
@require_POST
def mail_send_again(request: HttpRequest, order_id, mail_id: int) -> HttpResponse:
    """Give a failed mail of the order a fresh set of attempts."""
    order = _order_or_404(order_id, with_lines=False)
    if order.mails.filter(pk=mail_id).exists() and notifications.mail_send_again(mail_id=mail_id):
        messages.success(request, "The mail is queued to be sent again.")
    else:
        messages.error(request, "Only a failed mail of this order can be sent again.")
    return redirect("orders_console:detail", order_id=order.pk)

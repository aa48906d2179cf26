from django.urls import path

from . import console

app_name = "orders_console"

urlpatterns = [
    path("", console.order_list, name="list"),
    path("<uuid:order_id>/", console.order_detail, name="detail"),
    path("<uuid:order_id>/live/", console.order_live, name="live"),
    path("<uuid:order_id>/action/", console.order_action, name="action"),
    path("<uuid:order_id>/redrive/", console.saga_redrive, name="redrive"),
    path("<uuid:order_id>/compensate/", console.saga_compensate, name="compensate"),
    path("<uuid:order_id>/mails/<int:mail_id>/send-again/", console.mail_send_again, name="mail-send-again"),
]

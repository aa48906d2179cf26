from django.urls import path

from . import console

app_name = "stock_console"

urlpatterns = [
    path("", console.product_list, name="list"),
    path("new/", console.product_new, name="new"),
    path("<uuid:product_id>/", console.product_detail, name="detail"),
]

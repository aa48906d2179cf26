"""The Celery app `shop`: `celery -A shop worker -Q events,gateway`."""

import os

import kombu
from celery import Celery

from .kombu_patch import patch_closed_redis_channel

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
# All Celery settings live in Django settings under the CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

patch_closed_redis_channel(kombu.__version__)

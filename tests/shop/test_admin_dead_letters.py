"""Admin: staff replay or dismiss dead letters from the deliveries list; the rows stay read-only."""

import pytest
from django.contrib.auth import get_user_model

from shop.models import Delivery
from tests.console.seed import dead_letters_seeded

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/shop/delivery/"


@pytest.fixture
def admin_client_(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    client.force_login(user)
    return client


def test_dismiss_action_closes_the_selected_dead_letters_only(admin_client_):
    letter, kept = dead_letters_seeded(2)
    done = Delivery.objects.create(event=kept.event, handler="orders.handlers.x", status=Delivery.Status.DONE)

    response = admin_client_.post(
        CHANGELIST, {"action": "dismiss", "_selected_action": [letter.pk, done.pk]}, follow=True
    )

    assert "Dismissed 1 dead letter(s)." in response.text
    assert "1 selected deliveries were not dead letters." in response.text
    assert Delivery.objects.get(pk=letter.pk).status == Delivery.Status.DISMISSED
    assert "dismissed by root" in Delivery.objects.get(pk=letter.pk).last_error
    assert Delivery.objects.get(pk=kept.pk).status == Delivery.Status.DEAD
    assert Delivery.objects.get(pk=done.pk).status == Delivery.Status.DONE
    listed = admin_client_.get(CHANGELIST + "?status__exact=dismissed").text  # the filter's new choice
    assert f"{CHANGELIST}{letter.pk}/change/" in listed and f"{CHANGELIST}{kept.pk}/change/" not in listed
    assert admin_client_.get(f"{CHANGELIST}{letter.pk}/change/").status_code == 200

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def admin_user_client(client, db):
    """A Django test client logged in as a superuser (the admin needs model permissions)."""
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "boss-pass-123")
    client.force_login(user)
    client.user = user
    return client

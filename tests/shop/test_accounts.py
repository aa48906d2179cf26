"""Customer accounts over the API (/api/auth/): sign-up, knox tokens, the account, the password."""

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from shop.accounts import services
from shop.accounts.tasks import auth_tokens_prune_task
from shop.celery import app
from tests.support.auth import token_for

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW = {"username": "carol", "email": "carol@example.com", "password": "correct-horse-battery"}


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


def register(client: APIClient, extra: dict | None = None, **changes):
    return client.post("/api/auth/register/", {**NEW, **changes}, format="json", **(extra or {}))


def login(client: APIClient, username="alice", password="alice-pass-123", **extra):
    return client.post("/api/auth/login/", {"username": username, "password": password}, format="json", **extra)


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


# --- Register ------------------------------------------------------------------------------------


def test_registering_creates_an_account_that_can_log_in_and_answers_without_id_or_token(anon):
    response = register(anon)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "username": "carol",
        "email": "carol@example.com",
        "detail": "Account created; log in at /api/auth/login/.",
    }
    user = User.objects.get(username="carol")
    assert user.email == "carol@example.com" and user.check_password(NEW["password"]) and not user.is_staff
    assert login(anon, "carol", NEW["password"]).status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password123", "This password is too common."),
        ("Zx9#q", "This password is too short. It must contain at least 8 characters."),
        ("8302917465", "This password is entirely numeric."),
        ("carol-example", "The password is too similar to the email address."),
    ],
    ids=["common", "too short", "numeric", "like the email"],
)
def test_registering_with_a_weak_password_is_refused_and_creates_nothing(anon, password, message):
    response = register(anon, password=password)
    assert response.status_code == 400
    assert message in response.json()["password"]
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "has space"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({"username": ""}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"password": 12345678901}, "password"),
    ],
    ids=["space in username", "username too long", "no username", "invalid email", "no email", "number password"],
)
def test_registering_with_invalid_fields_is_refused_and_creates_nothing(anon, changes, field):
    response = register(anon, **changes)
    assert response.status_code == 400 and field in response.json()
    assert User.objects.count() == 0


def test_registering_without_an_email_is_refused(anon):
    response = anon.post("/api/auth/register/", {"username": "carol", "password": NEW["password"]}, format="json")
    assert response.status_code == 400 and response.json()["email"] == ["This field is required."]


@pytest.mark.parametrize("username", ["alice", "ALICE"])
def test_registering_a_taken_username_is_refused_in_any_case(anon, customer, username):
    response = register(anon, username=username)
    assert response.status_code == 400
    assert response.json()["field"] == "username" and "already exists" in response.json()["detail"]
    assert User.objects.count() == 1


def test_registering_a_taken_email_in_another_case_answers_exactly_as_a_new_one_and_creates_nothing(anon, customer):
    with mock.patch.object(services, "make_password", wraps=services.make_password) as hashing:
        taken = register(anon, email="ALICE@example.com")
    hashing.assert_called_once_with(NEW["password"])  # hashed anyway: the answer takes as long
    assert not User.objects.filter(username="carol").exists()

    # The same request once the email is free: the answer must not differ by a byte.
    User.objects.filter(pk=customer.pk).update(email="alice@elsewhere.example")
    fresh = register(anon, email="ALICE@example.com")
    assert (taken.status_code, taken.content) == (fresh.status_code, fresh.content)
    assert User.objects.filter(username="carol", email="ALICE@example.com").exists()


def test_an_email_taken_by_a_concurrent_sign_up_gets_the_same_answer_not_a_500(anon, customer, monkeypatch):
    # The race: the check saw the email free, then the other sign-up committed. The unique
    # index on LOWER(email) refuses the INSERT; the answer is the one a taken email gets.
    monkeypatch.setattr(services, "email_taken", lambda email, **kwargs: False)
    response = register(anon, email="Alice@Example.com")
    assert response.status_code == 201
    assert response.json()["detail"] == services.REGISTERED
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


def test_the_database_refuses_two_accounts_whose_emails_differ_only_in_case_but_not_two_blank_ones(customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("alice2", "ALICE@EXAMPLE.COM")
    User.objects.create_user("no-mail-1")
    User.objects.create_user("no-mail-2")
    assert User.objects.filter(email="").count() == 2


# --- Log in ------------------------------------------------------------------------------------


def test_logging_in_returns_a_working_token_that_expires_after_the_configured_lifetime(anon, customer):
    before = timezone.now()
    response = login(anon)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    lifetime = timedelta(hours=settings.AUTH_TOKEN_TTL_HOURS)
    expiry = parse_datetime(body["expiry"])
    assert expiry is not None and before + lifetime <= expiry <= timezone.now() + lifetime
    me = with_token(body["token"]).get("/api/auth/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    # Stored hashed: the token itself is nowhere in the table.
    assert not AuthToken.objects.filter(digest=body["token"]).exists()


def test_the_token_path_is_the_login_under_its_first_name(anon, customer):
    response = anon.post("/api/auth/token/", {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert response.status_code == 200 and with_token(response.json()["token"]).get("/api/auth/me/").status_code == 200


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(anon, customer):
    wrong = login(anon, password="not-her-password")
    unknown = login(anon, username="nobody", password="not-her-password")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.content == unknown.content
    assert wrong.json()["detail"] == "Unable to log in with the username and password given."
    assert AuthToken.objects.count() == 0


def test_a_stale_token_header_does_not_stop_a_client_from_logging_in(customer):
    response = login(with_token("0" * 64))
    assert response.status_code == 200


# --- Log out -----------------------------------------------------------------------------------


def test_two_logins_give_two_tokens_and_logging_out_revokes_only_the_one_used(anon, customer):
    first, second = login(anon).json()["token"], login(anon).json()["token"]
    assert first != second
    assert with_token(first).post("/api/auth/logout/").status_code == 204
    refused = with_token(first).get("/api/auth/me/")
    assert refused.status_code == 403 and refused.json()["detail"] == "Invalid token."
    assert with_token(second).get("/api/auth/me/").status_code == 200
    assert AuthToken.objects.filter(user=customer).count() == 1


def test_logging_out_everywhere_revokes_every_token_of_the_user_only(anon, customer, other_customer):
    tokens = [login(anon).json()["token"] for _ in range(3)]
    bobs = token_for(other_customer)
    assert with_token(tokens[0]).post("/api/auth/logout-all/").status_code == 204
    assert [with_token(token).get("/api/auth/me/").status_code for token in tokens] == [403, 403, 403]
    assert with_token(bobs).get("/api/auth/me/").status_code == 200


def test_logging_out_a_browser_session_ends_the_session(customer):
    browser = APIClient()
    browser.force_login(customer)
    assert browser.get("/api/auth/me/").status_code == 200
    assert browser.post("/api/auth/logout/").status_code == 204
    assert browser.get("/api/auth/me/").status_code == 403


def test_logging_out_needs_credentials(anon):
    assert anon.post("/api/auth/logout/").status_code == 403
    assert anon.post("/api/auth/logout-all/").status_code == 403


def test_an_expired_token_is_refused_with_a_clear_message_and_the_request_changes_nothing(customer):
    token = token_for(customer)
    AuthToken.objects.filter(user=customer).update(expiry=timezone.now() - timedelta(seconds=1))
    response = with_token(token).patch("/api/auth/me/", {"email": "new@example.com"}, format="json")
    # 403, not 401: the session authenticator comes first and asks for no WWW-Authenticate.
    assert response.status_code == 403 and response.json()["detail"] == "The token has expired; log in again."
    customer.refresh_from_db()
    assert customer.email == "alice@example.com"


def test_the_prune_task_deletes_expired_tokens_only_and_beat_runs_it(customer):
    token_for(customer)
    AuthToken.objects.create(customer, expiry=timedelta(seconds=-1))
    AuthToken.objects.create(customer, expiry=timedelta(days=-3))
    assert auth_tokens_prune_task() == {"deleted": 2}
    assert AuthToken.objects.filter(user=customer).count() == 1
    assert settings.PERIODIC_TASKS["auth-tokens-prune"][0] in app.tasks


# --- The account -----------------------------------------------------------------------------------


def test_reading_your_account(customer):
    body = with_token(token_for(customer)).get("/api/auth/me/").json()
    assert body == {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "date_joined": body["date_joined"],
    }
    assert parse_datetime(body["date_joined"]) == customer.date_joined


def test_changing_your_email_and_names(customer):
    client = with_token(token_for(customer))
    response = client.patch(
        "/api/auth/me/", {"email": "Alice@New.Example", "first_name": "Alice", "last_name": "Liddell"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["email"] == "Alice@new.example"  # the domain is case-insensitive: lowercased
    customer.refresh_from_db()
    assert (customer.email, customer.first_name, customer.last_name) == ("Alice@new.example", "Alice", "Liddell")


@pytest.mark.parametrize("field", ["username", "is_staff", "date_joined"])
def test_read_only_fields_of_the_account_cannot_be_changed(customer, field):
    value = {"username": "mallory", "is_staff": True, "date_joined": "2020-01-01T00:00:00Z"}[field]
    response = with_token(token_for(customer)).patch("/api/auth/me/", {field: value}, format="json")
    assert response.status_code == 400 and response.json() == {field: ["This field cannot be changed."]}
    customer.refresh_from_db()
    assert (customer.username, customer.is_staff) == ("alice", False)


def test_an_email_another_account_has_is_refused_with_a_neutral_message(customer, other_customer):
    response = with_token(token_for(customer)).patch("/api/auth/me/", {"email": "BOB@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": services.EMAIL_UNUSABLE, "code": "invalid", "field": "email"}
    customer.refresh_from_db()
    assert customer.email == "alice@example.com"


def test_an_email_taken_by_a_concurrent_change_is_a_400_not_a_500(customer, other_customer, monkeypatch):
    monkeypatch.setattr(services, "email_taken", lambda email, **kwargs: False)
    response = with_token(token_for(customer)).patch("/api/auth/me/", {"email": "bob@EXAMPLE.com"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "email"
    customer.refresh_from_db()
    assert customer.email == "alice@example.com"


def test_the_account_needs_credentials(anon):
    assert anon.get("/api/auth/me/").status_code == 403


# --- The password ------------------------------------------------------------------------------------


def change_password(client: APIClient, old="alice-pass-123", new="a-new-long-secret-9"):
    return client.post("/api/auth/password/", {"old_password": old, "new_password": new}, format="json")


def test_changing_the_password_revokes_the_other_tokens_and_keeps_the_one_used(anon, customer):
    used, other = login(anon).json()["token"], login(anon).json()["token"]
    response = change_password(with_token(used))
    assert response.status_code == 200
    assert with_token(used).get("/api/auth/me/").status_code == 200
    assert with_token(other).get("/api/auth/me/").status_code == 403
    assert login(anon).status_code == 400  # the old password no longer works
    assert login(anon, password="a-new-long-secret-9").status_code == 200


def test_changing_the_password_in_a_browser_session_keeps_it_and_ends_the_other_sessions(customer):
    browser, other_browser = APIClient(), APIClient()
    browser.force_login(customer)
    other_browser.force_login(customer)
    token = token_for(customer)
    assert change_password(browser).status_code == 200
    assert browser.get("/api/auth/me/").status_code == 200
    assert other_browser.get("/api/auth/me/").status_code == 403
    assert with_token(token).get("/api/auth/me/").status_code == 403


def test_a_wrong_old_password_is_refused_and_changes_nothing(customer):
    used, other = token_for(customer), token_for(customer)
    response = change_password(with_token(used), old="not-the-password")
    assert response.status_code == 400 and response.json()["field"] == "old_password"
    customer.refresh_from_db()
    assert customer.check_password("alice-pass-123")
    assert with_token(other).get("/api/auth/me/").status_code == 200


@pytest.mark.parametrize("new", ["password123", "short", "5839201746", "alice-example"])
def test_a_new_password_the_validators_refuse_is_refused_and_changes_nothing(customer, new):
    response = change_password(with_token(token_for(customer)), new=new)
    assert response.status_code == 400 and response.json()["new_password"]
    customer.refresh_from_db()
    assert customer.check_password("alice-pass-123")


def test_changing_the_password_needs_credentials(anon):
    assert change_password(anon).status_code == 403


# --- Malformed input, throttles, the browsable API ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "authenticated"),
    [("/api/auth/register/", False), ("/api/auth/login/", False), ("/api/auth/password/", True)],
)
@pytest.mark.parametrize("body", ['{"username": "alice",', "[1, 2]", '"alice"', "null"])
def test_a_body_that_is_no_json_object_is_a_400(customer, path, authenticated, body):
    client = with_token(token_for(customer)) if authenticated else APIClient()
    response = client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()


def test_a_malformed_patch_of_the_account_is_a_400(customer):
    response = with_token(token_for(customer)).generic("PATCH", "/api/auth/me/", "{", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]


@pytest.fixture
def rates(monkeypatch):
    """Set throttle rates for one test (DRF binds THROTTLE_RATES at import: override the dict)."""

    def use(**low: str) -> None:
        high = dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "1000/min")
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**high, **low})

    cache.clear()
    yield use
    cache.clear()


def test_logging_in_as_one_username_is_throttled_whatever_address_the_attempts_come_from(anon, customer, rates):
    rates(login_username="3/min")
    codes = [
        login(anon, username=name, password="guess", REMOTE_ADDR=f"203.0.113.{i}").status_code
        for i, name in enumerate(["alice", "Alice", "ALICE ", "alice"])
    ]
    assert codes == [400, 400, 400, 429]
    throttled = login(anon, REMOTE_ADDR="198.51.100.1")  # even the right password, from a new address
    assert throttled.status_code == 429 and "Retry-After" in throttled
    assert login(anon, username="bob", password="guess", REMOTE_ADDR="203.0.113.1").status_code == 400


def test_registrations_are_throttled_per_client_address(anon, rates):
    rates(register="2/min")
    codes = [register(anon, username=f"u{i}", email=f"u{i}@example.com").status_code for i in range(3)]
    assert codes == [201, 201, 429]
    assert User.objects.count() == 2
    assert register(anon, {"REMOTE_ADDR": "198.51.100.9"}).status_code == 201


def test_password_changes_are_throttled_per_user(customer, other_customer, rates):
    rates(password_change="2/min")
    client = with_token(token_for(customer))
    assert [change_password(client, old="guess").status_code for _ in range(3)] == [400, 400, 429]
    bob = with_token(token_for(other_customer))
    assert change_password(bob, old="bob-pass-123").status_code == 200


@pytest.mark.parametrize("path", ["/api/auth/register/", "/api/auth/login/"])
def test_the_browsable_api_renders_the_form(anon, path):
    response = anon.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 405  # POST only; the page still offers the form to post
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page and 'type="password"' in page


# --- Logs ---------------------------------------------------------------------------------------------


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def every_log_record():
    """Every record any logger emits at DEBUG, SQL included (as a DEBUG deployment logs it)."""
    handler = Records()
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if logger is loggers[0] or not logger.propagate:
            logger.addHandler(handler)
    force_debug_cursor, connection.force_debug_cursor = connection.force_debug_cursor, True
    yield handler.records
    connection.force_debug_cursor = force_debug_cursor
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
        logger.removeHandler(handler)


def test_no_password_or_token_appears_in_any_log_record(anon, every_log_record):
    passwords = [NEW["password"], "a-guess-that-is-wrong", "the-next-password-7"]
    assert register(anon).status_code == 201
    assert login(anon, "carol", passwords[1]).status_code == 400
    tokens = [login(anon, "carol", NEW["password"]).json()["token"] for _ in range(3)]
    assert with_token(tokens[0]).post("/api/auth/logout/").status_code == 204
    changed = with_token(tokens[1]).post(
        "/api/auth/password/", {"old_password": NEW["password"], "new_password": passwords[2]}, format="json"
    )
    assert changed.status_code == 200
    expired = token_for(User.objects.get(username="carol"))
    AuthToken.objects.filter(expiry__isnull=False).update(expiry=timezone.now() - timedelta(seconds=1))
    assert with_token(expired).get("/api/auth/me/").status_code == 403

    assert any(record.name == "django.db.backends" for record in every_log_record), "SQL was not captured"
    secrets = passwords + tokens + [expired]
    for record in every_log_record:
        text = f"{record.getMessage()} {record.msg} {record.args!r}"
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, f"{record.name}: {text[:300]}"

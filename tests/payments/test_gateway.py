from decimal import Decimal

import pytest

from payments import gateway as gateway_module
from payments.gateway import GatewayError, GatewayOutcome, GatewayTimeout, SimulatedGateway, get_gateway
from payments.models import SimulatedGatewayOperation

pytestmark = pytest.mark.django_db

AMOUNT = Decimal("24.50")


def charge(gateway, token, key="charge:1"):
    return gateway.charge(idempotency_key=key, amount=AMOUNT, currency="USD", token=token)


@pytest.fixture
def gateway():
    return SimulatedGateway(latency_ms=0, decline_rate=Decimal("0"))


def test_get_gateway_loads_the_class_named_in_settings(settings):
    settings.PAYMENT_GATEWAY = "payments.gateway.SimulatedGateway"
    assert isinstance(get_gateway(), SimulatedGateway)


def test_visa_is_captured_with_a_reference(gateway):
    result = charge(gateway, "tok_visa")
    assert result.outcome == "captured"
    assert result.reference.startswith("ch_")


@pytest.mark.parametrize(
    "token, reason",
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_unknown", "invalid_token"),
    ],
)
def test_decline_tokens_are_declined_with_their_reason(gateway, token, reason):
    result = charge(gateway, token)
    assert (result.outcome, result.message) == ("declined", reason)


def test_every_answer_is_an_outcome_of_the_interface_and_the_simulator_stores_its_value(gateway):
    results = [
        captured := charge(gateway, "tok_visa"),
        charge(gateway, "tok_chargeDeclined", key="charge:declined"),
        gateway.refund(idempotency_key="refund:1", charge_reference=captured.reference, amount=AMOUNT),
        gateway.void(idempotency_key="charge:voided"),
    ]
    assert [result.outcome for result in results] == list(GatewayOutcome)
    assert all(type(result.outcome) is GatewayOutcome for result in results)
    stored = SimulatedGatewayOperation.objects.order_by("pk").values_list("outcome", flat=True)
    assert list(stored) == [outcome.value for outcome in GatewayOutcome]


def test_same_key_returns_the_first_result_and_charges_once(gateway):
    first = charge(gateway, "tok_visa")
    again = charge(gateway, "tok_chargeDeclined")  # a different token cannot change a recorded key
    assert again == first
    operation = SimulatedGatewayOperation.objects.get()
    assert operation.attempts == 2


def test_timeout_token_never_charges(gateway):
    for _ in range(3):
        with pytest.raises(GatewayTimeout):
            charge(gateway, "tok_timeout")
    operation = SimulatedGatewayOperation.objects.get()
    assert operation.outcome == "" and operation.attempts == 3


def test_timeout_after_capture_records_the_capture_then_replays_it(gateway):
    with pytest.raises(GatewayTimeout):
        charge(gateway, "tok_timeoutAfterCapture")
    recorded = SimulatedGatewayOperation.objects.get()
    assert recorded.outcome == "captured"
    result = charge(gateway, "tok_timeoutAfterCapture")
    assert (result.outcome, result.reference) == ("captured", recorded.reference)
    assert SimulatedGatewayOperation.objects.count() == 1


def test_flaky_refund_fails_three_times_then_refunds_once(gateway):
    captured = charge(gateway, "tok_refundFlaky")
    for _ in range(3):
        with pytest.raises(GatewayError):
            gateway.refund(idempotency_key="refund:1", charge_reference=captured.reference, amount=AMOUNT)
    result = gateway.refund(idempotency_key="refund:1", charge_reference=captured.reference, amount=AMOUNT)
    assert result.outcome == "refunded" and result.reference.startswith("re_")
    refund = SimulatedGatewayOperation.objects.get(kind="refund")
    assert (refund.outcome, refund.attempts) == ("refunded", 4)


def test_refund_of_an_unknown_charge_is_declined(gateway):
    result = gateway.refund(idempotency_key="refund:x", charge_reference="ch_nope", amount=AMOUNT)
    assert (result.outcome, result.message) == ("declined", "no_such_charge")


def test_refund_above_the_charged_amount_is_declined(gateway):
    captured = charge(gateway, "tok_visa")
    result = gateway.refund(idempotency_key="refund:1", charge_reference=captured.reference, amount=AMOUNT + 1)
    assert result.message == "amount_too_large"


def test_void_before_charge_wins_and_a_later_charge_gets_voided(gateway):
    assert gateway.void(idempotency_key="charge:1").outcome == "voided"
    assert charge(gateway, "tok_visa").outcome == "voided"


def test_void_after_timeout_without_charge_is_voided(gateway):
    with pytest.raises(GatewayTimeout):
        charge(gateway, "tok_timeout")
    assert gateway.void(idempotency_key="charge:1").outcome == "voided"


def test_void_after_capture_answers_captured(gateway):
    captured = charge(gateway, "tok_visa")
    assert gateway.void(idempotency_key="charge:1") == captured


def test_decline_rate_one_declines_every_visa_charge_and_records_it():
    gateway = SimulatedGateway(latency_ms=0, decline_rate=Decimal("1"))
    results = [charge(gateway, "tok_visa", key=f"charge:{n}") for n in range(5)]
    assert {r.outcome for r in results} == {"declined"}
    # Decided once per key: the recorded decline is replayed even at rate 0.
    assert (
        charge(SimulatedGateway(latency_ms=0, decline_rate=Decimal("0")), "tok_visa", key="charge:0").outcome
        == "declined"
    )


def test_decline_rate_zero_declines_no_visa_charge(gateway):
    assert {charge(gateway, "tok_visa", key=f"charge:{n}").outcome for n in range(5)} == {"captured"}


def test_decline_rate_does_not_affect_special_tokens():
    gateway = SimulatedGateway(latency_ms=0, decline_rate=Decimal("1"))
    assert charge(gateway, "tok_refundFlaky").outcome == "captured"


def test_settings_are_read(settings):
    settings.PAYMENT_GATEWAY_LATENCY_MS = 250
    settings.PAYMENT_GATEWAY_DECLINE_RATE = Decimal("0.5")
    gateway = SimulatedGateway()
    assert gateway.latency_seconds == 0.25
    assert gateway.decline_rate == Decimal("0.5")


def test_each_call_sleeps_the_configured_latency(settings, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(gateway_module.time, "sleep", slept.append)
    settings.PAYMENT_GATEWAY_LATENCY_MS = 40
    gateway = SimulatedGateway()
    captured = charge(gateway, "tok_visa")
    gateway.refund(idempotency_key="refund:1", charge_reference=captured.reference, amount=AMOUNT)
    gateway.void(idempotency_key="charge:1")
    assert slept == [0.04, 0.04, 0.04]


def test_no_sleep_without_latency(settings, monkeypatch):
    monkeypatch.setattr(gateway_module.time, "sleep", lambda seconds: pytest.fail("slept"))
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    charge(SimulatedGateway(), "tok_visa")

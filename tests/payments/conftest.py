from decimal import Decimal

import pytest


@pytest.fixture(autouse=True)
def deterministic_gateway(settings):
    """Run the simulated gateway without latency or random declines, whatever the env says."""
    settings.PAYMENT_GATEWAY = "payments.gateway.SimulatedGateway"
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    settings.PAYMENT_GATEWAY_DECLINE_RATE = Decimal("0")

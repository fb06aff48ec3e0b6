"""The token endpoint's limits, with a fake clock: failures are counted apart from authenticated requests."""

from __future__ import annotations

from registry.token_limits import Admission, TokenRequestLimits

KNOWN = {"triage", "router"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock, *, requests: int = 5, failures: int = 3) -> TokenRequestLimits:
    return TokenRequestLimits(
        requests_per_minute=requests, failures_per_minute=failures, is_known_client=KNOWN.__contains__, clock=clock
    )


def fail(limiter: TokenRequestLimits, address: str, client_id: str | None) -> Admission | float:
    admission = limiter.admit(address, client_id)
    if isinstance(admission, Admission):
        limiter.settle(admission, authenticated=False)
    return admission


def succeed(limiter: TokenRequestLimits, address: str, client_id: str) -> Admission | float:
    admission = limiter.admit(address, client_id)
    if isinstance(admission, Admission):
        limiter.settle(admission, authenticated=True)
    return admission


def test_failures_of_unknown_clients_spend_their_address_and_spare_known_clients_there() -> None:
    limiter = limits(Clock())
    outcomes = [fail(limiter, "10.0.0.1", f"guess-{n}") for n in range(5)]

    assert [isinstance(outcome, Admission) for outcome in outcomes] == [True, True, True, False, False]
    assert outcomes[-1] == 20.0  # one failure refills every 60 s / 3
    assert isinstance(fail(limiter, "10.0.0.1", None), float)  # no credentials at all: the address decides
    assert isinstance(succeed(limiter, "10.0.0.1", "triage"), Admission)
    assert isinstance(fail(limiter, "10.0.0.2", "guess-9"), Admission)  # another address


def test_failures_naming_a_client_spend_that_client_id_everywhere_but_not_its_tokens() -> None:
    clock = Clock()
    limiter = limits(clock)
    assert [isinstance(fail(limiter, f"10.0.0.{n}", "triage"), Admission) for n in range(4)] == [True] * 3 + [False]
    clock.now += 20  # one failure refilled
    assert isinstance(succeed(limiter, "10.0.0.9", "triage"), Admission)
    # The success gave its reserved failure back: triage's own budget of 5 is what it spends.
    assert isinstance(succeed(limiter, "10.0.0.9", "triage"), Admission)


def test_authenticated_requests_spend_their_clients_budget_only() -> None:
    limiter = limits(Clock(), requests=2)
    assert [isinstance(succeed(limiter, "10.0.0.1", "triage"), Admission) for _ in range(3)] == [True, True, False]
    assert isinstance(succeed(limiter, "10.0.0.1", "router"), Admission)
    assert isinstance(fail(limiter, "10.0.0.1", "guess"), Admission)  # successes spent no failure of the address

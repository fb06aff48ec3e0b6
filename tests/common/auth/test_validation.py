"""TokenValidation refuses settings that would weaken token validation."""

from typing import Any

import pytest
from pydantic import ValidationError

from common.auth import TokenValidation

BASE: dict[str, Any] = {
    "issuer": "http://127.0.0.1:8700",
    "jwks_url": "http://127.0.0.1:8700/jwks.json",
    "audience": "http://127.0.0.1:8701/mcp",
}


def test_defaults_follow_the_security_checklist() -> None:
    validation = TokenValidation(**BASE)

    assert validation.algorithms == ("RS256", "ES256")
    assert validation.leeway_seconds == 30
    assert validation.profile == "rfc9068"
    assert validation.jwks_refetch_cooldown_seconds == 30.0
    assert validation.max_token_bytes == 8192
    assert validation.max_iat_skew_seconds == 60


def test_issuer_is_kept_exactly_as_configured() -> None:
    assert TokenValidation(**{**BASE, "issuer": "http://127.0.0.1:8700/"}).issuer == "http://127.0.0.1:8700/"


@pytest.mark.parametrize("algorithms", [("none",), ("HS256",), ("RS256", "HS512"), ("rs256",), ()])
def test_symmetric_none_unknown_or_empty_algorithms_are_refused(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        TokenValidation(**BASE, algorithms=algorithms)


def test_asymmetric_algorithms_are_accepted() -> None:
    algorithms = ("RS256", "PS256", "ES256", "ES384", "EdDSA")

    assert TokenValidation(**BASE, algorithms=algorithms).algorithms == algorithms


@pytest.mark.parametrize("leeway", [0, 60])
def test_leeway_from_zero_to_sixty_seconds_is_accepted(leeway: int) -> None:
    assert TokenValidation(**BASE, leeway_seconds=leeway).leeway_seconds == leeway


@pytest.mark.parametrize("leeway", [-1, 61, 3600])
def test_leeway_outside_zero_to_sixty_seconds_is_refused(leeway: int) -> None:
    with pytest.raises(ValidationError):
        TokenValidation(**BASE, leeway_seconds=leeway)


@pytest.mark.parametrize(
    "override",
    [
        {"jwks_refetch_cooldown_seconds": 0},
        {"max_token_bytes": 0},
        {"jwks_url": "file:///etc/jwks.json"},
        {"audience": ""},
        {"profile": "oidc"},
        {"unknown_setting": True},
    ],
)
def test_invalid_or_unknown_settings_are_refused(override: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TokenValidation(**{**BASE, **override})


def test_validation_is_frozen() -> None:
    validation = TokenValidation(**BASE)

    with pytest.raises(ValidationError):
        validation.audience = "http://127.0.0.1:8702/mcp"  # type: ignore[misc]

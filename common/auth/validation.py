"""What a resource server accepts as a bearer token: one frozen, validated settings model.

`TokenValidation` is the whole policy `JwtVerifier` applies. It is built once per component
(its canonical URL is the `audience`) and rejects, at construction, settings that would weaken
validation: symmetric or `none` algorithms, a leeway above 60 s, a JWKS refetch cooldown of zero.
`issuer` and `audience` are compared byte for byte, so they are stored exactly as given.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ASYMMETRIC_ALGORITHMS", "MAX_LEEWAY_SECONDS", "TokenValidation"]

#: JWS algorithms a verifier may be configured with. Symmetric (HS*) algorithms are excluded
#: because the verification key would be public (from the JWKS) and so would forge tokens.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448"}
)

MAX_LEEWAY_SECONDS = 60


class TokenValidation(BaseModel):
    """Validation policy for JWT access tokens presented to this resource."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(min_length=1, description="Expected `iss`, compared exactly (no trailing-slash folding).")
    jwks_url: str = Field(min_length=1, description="The only place verification keys come from.")
    audience: str = Field(min_length=1, description="This resource's canonical URL; `aud` must contain it.")
    algorithms: tuple[str, ...] = Field(default=("RS256", "ES256"), description="Allowed `alg` header values.")
    leeway_seconds: int = Field(default=30, description="Clock skew tolerated for `exp` and `nbf`.")
    profile: Literal["rfc9068", "keycloak"] = "rfc9068"
    jwks_refetch_cooldown_seconds: float = Field(
        default=30.0, gt=0, description="Minimum time between JWKS fetches triggered by an unknown `kid`."
    )
    max_token_bytes: int = Field(default=8192, gt=0, description="Longer tokens are rejected before parsing.")
    max_iat_skew_seconds: int = Field(default=60, ge=0, description="How far in the future `iat` may lie.")

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url_is_http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        return value

    @field_validator("algorithms")
    @classmethod
    def _algorithms_are_asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one algorithm is required")
        refused = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ValueError(
                f"algorithms {refused} are not allowed; use asymmetric ones from {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        return value

    @field_validator("leeway_seconds")
    @classmethod
    def _leeway_is_bounded(cls, value: int) -> int:
        if not 0 <= value <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway_seconds must be between 0 and {MAX_LEEWAY_SECONDS}")
        return value

"""Resource-server side of OAuth: validate JWT access tokens presented to this component.

`TokenValidation` is the policy, `JwksCache` the key source, `JwtVerifier` the mcp
`TokenVerifier` that applies both (see `common.auth.verifier` for the rules). The caller side is
`TokenSource`: this component's own client-credentials tokens, per audience.
"""

from common.auth.jwks import JwksCache
from common.auth.token_source import ClientCredentials, TokenSource
from common.auth.validation import TokenValidation
from common.auth.verifier import JwtVerifier

__all__ = ["ClientCredentials", "JwksCache", "JwtVerifier", "TokenSource", "TokenValidation"]

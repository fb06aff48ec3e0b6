"""Resource-server side of OAuth: validate JWT access tokens presented to this component.

`TokenValidation` is the policy, `JwksCache` the key source, `JwtVerifier` the mcp
`TokenVerifier` that applies both (see `common.auth.verifier` for the rules).
"""

from common.auth.jwks import JwksCache
from common.auth.validation import TokenValidation
from common.auth.verifier import JwtVerifier

__all__ = ["JwksCache", "JwtVerifier", "TokenValidation"]

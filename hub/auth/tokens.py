"""Bearer tokens to principals: OpenID Connect JWTs checked against the issuer's keys.

Validation is PyJWT's, never hand-written JOSE. The rules a council's
information-governance officer will ask about:

* only the asymmetric algorithms configured (RS256 / ES256 by default) are
  accepted, checked before any key is looked up: ``alg: none`` and HS* tokens
  (an HMAC "signed" with a public key anyone can fetch) are refused;
* the signing key comes from the issuer's JWKS, cached, and fetched again
  when a token names a key id the cache does not know (key rotation);
* ``iss``, ``aud``, ``exp`` and ``nbf`` are required and checked with a small
  clock skew (``leeway_s``); ``sub`` is required;
* roles come from a configurable claim, mapped through ``role_map``.

Every failure is an ``AuthenticationError`` whose description names the
rule; the API answers 401 with a ``WWW-Authenticate`` header from it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from ...config.security import OidcSettings, Role
from ...config.settings import MashlinkSettings
from .principal import Principal


JWKS_REFETCH_COOLDOWN_S = 5.0


class AuthenticationError(Exception):
    """The caller could not be authenticated; ``error`` is the RFC 6750 code."""

    def __init__(self, description: str, error: str = "invalid_token") -> None:
        self.error = error
        self.description = description
        super().__init__(description)


class KeySource(Protocol):
    def key_for(self, token: str, kid: str | None) -> PyJWK: ...


class JwksKeySource:
    """The issuer's JWKS over HTTPS, cached; an unknown ``kid`` triggers one re-fetch (rotation)."""

    def __init__(self, url: str, *, cache_s: int = 300, ca_file: str | None = None, timeout_s: float = 5.0) -> None:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.url = url
        # cache_keys=False: the JWKS cache (``lifespan``) alone decides, so a key the IdP withdrew stops
        # verifying when that cache expires (PyJWT's per-key LRU cache would keep it for the process's life).
        # A short cool-down lets a freshly rotated key in within seconds while bounding how often
        # tokens naming made-up kids can make the hub call the IdP.
        self._client = PyJWKClient(url, cache_keys=False, cache_jwk_set=True, lifespan=cache_s,
                                   timeout=int(max(1, timeout_s)), ssl_context=context,
                                   cooldown_duration=JWKS_REFETCH_COOLDOWN_S)

    def key_for(self, token: str, kid: str | None) -> PyJWK:
        if not kid:
            raise AuthenticationError("token header has no 'kid': cannot choose the issuer's signing key")
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthenticationError(f"the identity provider's keys could not be fetched ({type(exc).__name__})",
                                      error="temporarily_unavailable") from None
        except jwt.PyJWKClientError as exc:
            raise AuthenticationError(f"no signing key {kid!r} at the issuer's JWKS ({exc})") from None


class StaticKeySource:
    """Keys known in advance (the development issuer's JWKS)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = {k.key_id: k for k in PyJWKSet.from_dict(dict(jwks)).keys}

    def key_for(self, token: str, kid: str | None) -> PyJWK:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        try:
            return self._keys[kid]  # type: ignore[index]
        except KeyError:
            raise AuthenticationError(f"no signing key {kid!r} is known for this issuer") from None


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles``); None when any step is missing."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return [v for v in value if isinstance(v, str)]
    return []


class ClaimMapping:
    """How one issuer's claims become roles, local authorities and an agency."""

    def __init__(self, *, role_claim: str, role_map: Mapping[str, Role], la_claim: str, agency_claim: str,
                 name_claim: str, known_agencies: Iterable[str]) -> None:
        self.role_claim, self.role_map = role_claim, dict(role_map)
        self.la_claim, self.agency_claim, self.name_claim = la_claim, agency_claim, name_claim
        self.known_agencies = frozenset(known_agencies)

    @classmethod
    def from_oidc(cls, oidc: OidcSettings, known_agencies: Iterable[str]) -> "ClaimMapping":
        return cls(role_claim=oidc.role_claim, role_map=oidc.role_map, la_claim=oidc.la_claim,
                   agency_claim=oidc.agency_claim, name_claim=oidc.name_claim, known_agencies=known_agencies)

    def principal(self, claims: Mapping[str, Any], issuer: str) -> Principal:
        roles: set[Role] = set()
        for value in _strings(_claim(claims, self.role_claim)):
            if value in self.role_map:
                roles.add(self.role_map[value])
            elif not self.role_map and value in Role._value2member_map_:
                # Role names map to themselves only when no role_map is configured: with one, a realm-wide
                # role that happens to be called "manager" (made for another application) grants nothing.
                roles.add(Role(value))
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 1 <= len(subject) <= 256:
            raise AuthenticationError("token 'sub' must be a string of 1 to 256 characters")
        agency = _claim(claims, self.agency_claim)
        agency_id = agency if isinstance(agency, str) and agency in self.known_agencies else None
        name = _claim(claims, self.name_claim)
        return Principal(
            subject=subject, display_name=name[:256] if isinstance(name, str) and name else None,
            kind="client" if Role.SYSTEM in roles else "person", roles=frozenset(roles),
            local_authorities=frozenset(_strings(_claim(claims, self.la_claim))), agency_id=agency_id,
            issuer=issuer,
        )


class TokenVerifier:
    """Checks a bearer token and returns the principal it names."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: list[str], algorithms: list[str],
                 leeway_s: int, claims: ClaimMapping) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience
        self.algorithms, self.leeway_s, self.claims = list(algorithms), leeway_s, claims

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationError(f"not a JWT ({exc})") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthenticationError(f"algorithm {alg!r} is not accepted (accepted: {', '.join(self.algorithms)})")
        kid = header.get("kid")
        key = self.keys.key_for(token, kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                leeway=self.leeway_s, options={"require": ["exp", "iss", "aud", "sub"], "verify_nbf": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token not yet valid (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience is not this hub") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer is not the configured identity provider") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"token refused ({type(exc).__name__})") from None
        return self.claims.principal(claims, self.issuer)


def _discover_jwks(oidc: OidcSettings) -> str:
    """The ``jwks_uri`` from the issuer's discovery document (httpx, the configured CA)."""
    import httpx

    url = oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
    verify: Any = str(oidc.ca_file) if oidc.ca_file else True
    try:
        response = httpx.get(url, timeout=10, verify=verify)
        response.raise_for_status()
        jwks_uri = response.json()["jwks_uri"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise RuntimeError(f"security.oidc: cannot read {url} ({type(exc).__name__}: {exc}); "
                           "set security.oidc.jwks_url explicitly") from None
    if not isinstance(jwks_uri, str):
        raise RuntimeError(f"security.oidc: {url} has no jwks_uri string; set security.oidc.jwks_url")
    return jwks_uri


def verifier_for(settings: MashlinkSettings) -> TokenVerifier:
    """The verifier this configuration asks for: the council's IdP, else (development only) the dev issuer."""
    agencies = [a.id for a in settings.agencies]
    oidc = settings.security.oidc
    if oidc is not None:
        url = oidc.jwks_url or _discover_jwks(oidc)
        return TokenVerifier(JwksKeySource(url, cache_s=oidc.jwks_cache_s,
                                           ca_file=str(oidc.ca_file) if oidc.ca_file else None),
                             issuer=oidc.issuer, audience=oidc.audiences, algorithms=list(oidc.algorithms),
                             leeway_s=oidc.leeway_s, claims=ClaimMapping.from_oidc(oidc, agencies))
    from .dev_issuer import DevIssuer

    dev = DevIssuer.for_settings(settings)
    defaults = OidcSettings(issuer=dev.issuer, audience=[dev.audience])
    return TokenVerifier(StaticKeySource(dev.jwks()), issuer=dev.issuer, audience=[dev.audience],
                         algorithms=["ES256"], leeway_s=defaults.leeway_s,
                         claims=ClaimMapping.from_oidc(defaults, agencies))

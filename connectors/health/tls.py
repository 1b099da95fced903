"""TLS for MLLP: the ADT listener (server) and the REF^I12 sender (client).

MLLP itself has no security; trusts' integration engines carry it over TLS
(often with client certificates) on the health network. Both ends use
TLS 1.2 or later with the platform's default ciphers and certificate and
host-name verification. Certificate and key files are named in the YAML
(they are mounted secrets, never inline); an unreadable or mismatched file
stops the connector at start with the option's path.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Tls(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def missing_files(self) -> list[tuple[str, Path]]:
        """(option name, path) of every configured file that does not exist."""
        return [(name, value) for name, value in self if isinstance(value, Path) and not value.is_file()]


class ServerTls(_Tls):
    """``adt_listen.tls``: the listener's certificate, and whose client certificates it accepts."""

    cert_file: Path = Field(description="PEM certificate chain of this listener")
    key_file: Path = Field(description="PEM private key of this listener")
    client_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle; when set, senders must present a certificate it signed")

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            ctx.load_verify_locations(cafile=self.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


class ClientTls(_Tls):
    """``tls`` of an HL7 v2 connector: how the integration engine's certificate is checked, and ours."""

    ca_file: Path | None = Field(default=None, description="PEM CA bundle for the engine (default: system store)")
    cert_file: Path | None = Field(default=None, description="Our client certificate, when the engine asks")
    key_file: Path | None = None
    server_name: str | None = Field(default=None, min_length=1,
                                    description="Name to verify in the engine's certificate (default: host)")

    @model_validator(mode="after")
    def _pair(self) -> "ClientTls":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file for a client certificate, or neither")
        return self

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def tls_problem(exc: BaseException) -> str:
    """A configuration error's rule text for a file ``ssl`` could not use (no key material in it)."""
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, ssl.SSLError):
        return f"unusable certificate or key: {exc.reason or exc}"
    return f"{type(exc).__name__}: {exc}"

"""The development issuer's signing key: generated once, private, never replaced by a second start."""

from __future__ import annotations

import stat
from pathlib import Path

from mashlink.config.security import DevIssuerSettings
from mashlink.hub.auth.dev_issuer import KEY_FILE, DevIssuer


def test_the_dev_issuer_key_is_private_reused_and_leaves_no_temporary(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = DevIssuer(keys, DevIssuerSettings())
    path = keys / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in keys.iterdir()] == [KEY_FILE]  # the temporary is gone
    second = DevIssuer(keys, DevIssuerSettings())
    assert second.kid == first.kid and second.jwks() == first.jwks()  # reused, not regenerated


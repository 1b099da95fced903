"""Typed ``options`` of children's social care on ``connector: cin`` or ``ssda903``.

CIN census and SSDA903 extracts (XML files, or an SSDA903 CSV set) are
dropped into ``inbox``; a background loop loads them into the connector's
index every ``ingest_interval_s`` (files move to ``processed/`` or
``rejected/`` with a reason beside the index). Both connector names take
both kinds of extract: the name documents what the LA's system sends.
Paths are relative to ``state_dir`` unless absolute. ``SocialCareConnector.from_options``
(a connector without settings, for scripts and tests) takes this same model.

Example::

    connector: cin
    options:
      la_code: "999"
      inbox: /srv/sftp/cin
      ingest_interval_s: 60
      settle_s: 10                 # an SSDA903 CSV set is loaded once no file changed for 10 s
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ..channel_options import NativeChannelOptions


class SocialCareWiringOptions(NativeChannelOptions):
    """``connector: cin`` / ``ssda903``: answer from loaded extracts (Model 2), optionally deliver (Model 3)."""

    la_code: str | None = Field(default=None, pattern=r"^\d{3}$",
                                description="This LA's 3-digit code, scoping LA child ids (default: local_authority"
                                            ".code)")
    inbox: Path | None = Field(default=None, description="Drop folder of CIN / SSDA903 extracts")
    index_dir: Path | None = Field(default=None,
                                   description="Index folder (default: state_dir/connector-<id>.social-care)")
    ingest_interval_s: float = Field(default=30.0, ge=0.05, le=86_400)
    settle_s: float = Field(default=5.0, ge=0, le=3600,
                            description="Wait until no file in the inbox changed for this long (CSV sets arrive "
                                        "file by file)")
    responder: str = Field(default="Children's social care MASH team", min_length=1, max_length=200)

"""Typed ``options`` of an LA education service on ``connector: ctf``.

CTF files dropped by schools or the LA education system land in
``drop_folder/incoming``; a background loop ingests them into the pupil index
(a SQLite file in ``state_dir``) every ``ingest_interval_s``. Paths are
relative to ``state_dir`` unless absolute. ``EducationConnector.from_options``
(a connector without settings, for scripts and tests) takes this same model.

Example::

    connector: ctf
    options:
      drop_folder: /srv/sftp/ctf          # incoming/ processed/ failed/ under it
      ingest_interval_s: 60
      delivery: {mode: webhook, url: https://edu.example/tasks, answer_listen: 127.0.0.1:8461,
                 key_env: EDU_WEBHOOK_KEY}
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ..channel_options import NativeChannelOptions


class CtfOptions(NativeChannelOptions):
    """``connector: ctf``: answer from the pupil index fed by CTF drops (Model 2), optionally deliver (Model 3)."""

    drop_folder: Path | None = Field(default=None, description="CTF drop folder root (incoming/processed/failed)")
    index_file: Path | None = Field(default=None,
                                    description="Pupil index SQLite file (default: state_dir/connector-<id>.ctf-index"
                                                ".sqlite3)")
    ingest_interval_s: float = Field(default=30.0, ge=0.05, le=86_400,
                                     description="How often the drop folder is ingested in the background")
    ingest_on_enquiry: bool = Field(default=False, description="Also ingest waiting drops before each search")
    spec: Path | None = Field(default=None, description="Mapping spec (default: the packaged ctf.yaml)")
    responder: str = Field(default="Education MASH team", min_length=1, max_length=200)
    la_code: str | None = Field(default=None, pattern=r"^\d{3}$",
                                description="Organisation named on findings in the team's own answers")

    @model_validator(mode="after")
    def _folder_for_on_enquiry(self) -> "CtfOptions":
        if self.ingest_on_enquiry and self.drop_folder is None:
            raise ValueError("ingest_on_enquiry needs drop_folder")
        return self

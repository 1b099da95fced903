"""Typed ``options`` of a police agency on ``connector: pole``.

The force's system is seen through its POLE exports (JSON documents and/or
CSV sets, see ``docs/pole/``): files or folders named in ``exports``, relative
to ``state_dir`` unless absolute. The exports are re-read when they change
(a nightly or hourly export replaces them): checked on each enquiry
(``reload: on_enquiry``), on an interval by a background service
(``reload: interval``) or never.

Example::

    connector: pole
    options:
      exports: [/srv/exports/force-pole]    # folder of *.json and/or one CSV set
      reload: interval
      reload_interval_s: 300
      contact: "Synthshire Police MASH team, 01632 960000"
      delivery: {mode: drop_folder, path: police-worklist}   # optional Model 3
      cctn_intake: true                     # CCTN / PPN records become MASH referrals
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..channel_options import NativeChannelOptions


class PoleOptions(NativeChannelOptions):
    """``connector: pole``: search the force's POLE exports (Model 2), optionally deliver (Model 3)."""

    exports: list[Path] = Field(default_factory=list, max_length=100,
                                description="POLE export files or folders (folders: every *.json and one CSV set)")
    reload: Literal["on_enquiry", "interval", "never"] = Field(
        default="on_enquiry", description="When changed exports are re-read")
    reload_interval_s: float = Field(default=60.0, ge=0.05, le=86_400,
                                     description="With reload: interval, how often the files are checked")
    responder: str = Field(default="Police MASH team", min_length=1, max_length=200)
    contact: str = Field(default="Police MASH team", min_length=1, max_length=500,
                         description="Whom the MASH contacts about withheld (DND) or conditional material")
    force_code: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,10}$",
                                   description="Organisation named on findings in the team's own answers")
    cctn_intake: bool = Field(default=False, description="Send each child-coming-to-notice / PPN record in the "
                                                         "exports to the hub as a referral (over the broker)")
    cctn_interval_s: float = Field(default=30.0, ge=0.05, le=86_400,
                                   description="How often new notices are looked for (and failed sends retried)")

    @model_validator(mode="after")
    def _has_a_source(self) -> "PoleOptions":
        searching = self.delivery is None or self.delivery.search
        if searching and not self.exports:
            raise ValueError("exports is required (files or folders of POLE exports) unless delivery.search is false")
        if self.cctn_intake and not searching:
            raise ValueError("cctn_intake reads the exports: it needs delivery.search (and exports)")
        return self

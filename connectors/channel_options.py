"""Options every channel with a native team tool shares: Model 3 ``delivery`` and ``events``.

Why a base model: police, education, social care and the declared ``records``
channel each declared the same two fields and the same check (events go by
web hook or drop folder; FHIR and HL7 v2 are for trusts). A channel's options
model extends this one and adds only what is its own.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ..config.connector_kinds import LinkedPeople
from .delivery.options import DeliveryOptions, _Options
from .events.options import AgencyEventsOptions, AnyEventsOptions, native_events_problem


class NativeChannelOptions(_Options):
    """``delivery`` (Model 3, optional) and ``events`` (web hook or drop folder) of a channel's options."""

    delivery: DeliveryOptions | None = Field(default=None, description="Model 3: deliver into the team's tool")
    events: AgencyEventsOptions | None = Field(
        default=None, description="How the team receives outcomes and escalations (webhook or drop_folder; "
                                  "default: the way delivery goes, else a drop folder in state_dir)")
    linked_people: LinkedPeople | None = Field(
        default=None, description="Release policy: what a confirmed record releases about the other people on it "
                                  "(none, minimal or full; default: the stricter of the connector kind's and the "
                                  "agency kind's declaration; more than the agency kind allows is refused)")

    @field_validator("events")
    @classmethod
    def _events_native(cls, value: AnyEventsOptions | None) -> AnyEventsOptions | None:
        problem = native_events_problem(value)
        if problem:
            raise ValueError(problem)
        return value

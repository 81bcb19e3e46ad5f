"""Which acknowledgements a partner gets: one small block of the partner file.

The defaults are what trading partners expect when nothing was agreed: a 997
for every X12 functional group, listing every transaction set; a TA1 when the
interchange asks for one (ISA14 = 1) or its envelope is wrong; a CONTRL when
the EDIFACT interchange asks for one (UNB 0031 = 1).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AckSettings(BaseModel):
    """Per-partner acknowledgement settings (frozen; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # X12 functional acknowledgement of each group: 997, 999 (005010X231), or none.
    functional: Literal["997", "999", "none"] = "997"
    # X12 TA1: "on-request" when ISA14 = 1 or the interchange envelope has an
    # error (a TA1 is the only place to report one); "always"; "never".
    ta1: Literal["on-request", "always", "never"] = "on-request"
    # EDIFACT CONTRL: "on-request" when UNB 0031 asks (1: a syntax report,
    # 2: an indication of receipt only); "always" (a syntax report unless
    # 0031 = 2); "never".
    contrl: Literal["on-request", "always", "never"] = "on-request"
    # Which transaction sets / messages get their own AK2 loop or UCM: "all",
    # or only "errors" (those with something to report). Group and
    # interchange answers and the AK9 counts are always there.
    detail: Literal["all", "errors"] = "all"
    # The 999's implementation guide (GS08 and ST03).
    implementation_999: str = "005010X231A1"
    # Documents the gateway sends this partner that ask for a 997/999/CONTRL: how long
    # to wait before the acknowledgement is overdue (an AcknowledgementOverdue event).
    overdue_after_hours: float = Field(default=24.0, gt=0)

    @field_validator("functional", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        """``functional: 997`` unquoted in YAML is a number; it means the same."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

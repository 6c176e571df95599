"""Request dependencies of the intake service: the calendar, the settings, who is calling.

The time comes from ``shared.clock`` (``Now``): every stamp is the server's, never the caller's.

Intake trusts the claims of the bearer token (role, units); it does not look users up.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.settings import IntakeSettings
from shared.app import Keys as Keys  # re-exported: intake's routes take their deps from here
from shared.auth import CurrentAdmin as CurrentAdmin  # re-exported, as Keys
from shared.auth import Principal, Role, principal_with
from shared.calendar import WorkingCalendar


async def working_calendar(request: Request) -> WorkingCalendar:
    calendar: WorkingCalendar = request.app.state.calendar
    return calendar


async def intake_settings(request: Request) -> IntakeSettings:
    settings: IntakeSettings = request.app.state.intake_settings
    return settings


Calendar = Annotated[WorkingCalendar, Depends(working_calendar)]
Config = Annotated[IntakeSettings, Depends(intake_settings)]
CurrentClerk = Annotated[
    Principal, Depends(principal_with(Role.clerk, code="clerk_required", what="clerks (受理人员)"))
]
CurrentSupervisor = Annotated[
    Principal,
    Depends(
        principal_with(
            Role.supervisor,
            Role.admin,
            code="supervisor_required",
            what="supervisors (监管督办人员) and administrators",
        )
    ),
]
CurrentStaff = Annotated[
    Principal,
    Depends(
        principal_with(
            Role.clerk,
            Role.supervisor,
            Role.admin,
            Role.viewer,
            code="staff_required",
            what="signed-in staff (工作人员)",
        )
    ),
]
# The regulator's comparison (监管对比): the supervising energy department (supervisor), the
# evaluators and leaders who read (viewer), and administrators; not a company's own clerks.
CurrentRegulator = Annotated[
    Principal,
    Depends(
        principal_with(
            Role.supervisor,
            Role.viewer,
            Role.admin,
            code="regulator_required",
            what="supervisors (监管督办人员), viewers and administrators",
        )
    ),
]

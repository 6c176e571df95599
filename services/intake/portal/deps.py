"""Request dependencies of the portal routes: the service areas and the e-license adapter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.portal.areas import ServiceAreas, load_service_areas
from services.intake.settings import IntakeSettings
from services.intake.standins.elicense import ELicenseClient


async def service_areas(request: Request) -> ServiceAreas:
    settings: IntakeSettings = request.app.state.intake_settings
    return load_service_areas(settings.service_areas_file)


async def elicense_client(request: Request) -> ELicenseClient:
    client: ELicenseClient = request.app.state.elicense
    return client


Areas = Annotated[ServiceAreas, Depends(service_areas)]
ELicense = Annotated[ELicenseClient, Depends(elicense_client)]

"""The approval service posts its results as a portal client."""

from tests.intake.portal.conftest import portal, portal_key

__all__ = ["portal", "portal_key"]

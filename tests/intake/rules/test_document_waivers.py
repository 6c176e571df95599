"""A document waived for a stage with a recorded reason is not needed there, but a valid copy
counts before a waiver, and a waiver of one stage says nothing of another."""

from datetime import date

from services.intake.policies.models import Stage
from services.intake.rules.documents import DocumentOnFile, documents_still_needed
from shared.vocab import CustomerType

TODAY = date(2026, 3, 2)


def test_a_waived_document_is_not_needed():
    needs = documents_still_needed(
        CustomerType.hv10_single,
        Stage.acceptance,
        received=[DocumentOnFile("identity_proof")],
        waived=["project_approval"],
        today=TODAY,
    )
    assert (needs.received, needs.waived, needs.needed) == (
        ["identity_proof"],
        ["project_approval"],
        ["property_proof"],
    )


def test_a_valid_copy_counts_before_a_waiver_and_an_expired_one_does_not():
    needs = documents_still_needed(
        CustomerType.hv10_single,
        Stage.acceptance,
        received=[
            DocumentOnFile("identity_proof", date(2026, 3, 1)),
            DocumentOnFile("property_proof"),
        ],
        waived=["identity_proof", "property_proof"],
        today=TODAY,
    )
    assert (needs.received, needs.waived, needs.needed, needs.expired) == (
        ["property_proof"],
        ["identity_proof"],
        ["project_approval"],
        [],
    )


def test_a_waiver_for_a_document_the_stage_does_not_require_changes_nothing():
    needs = documents_still_needed(
        CustomerType.hv10_single,
        Stage.completion_inspection,
        waived=["project_approval"],
        today=TODAY,
    )
    assert (needs.waived, needs.needed) == ([], ["completion_report"])

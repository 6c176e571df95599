"""Documents per stage (申请资料): only what the plans allow, and reuse on a change of use."""

from datetime import date

import pytest

from services.intake.policies.models import Stage
from services.intake.rules.documents import (
    DocumentCatalogue,
    DocumentNotAllowed,
    DocumentOnFile,
    check_document_request,
    documents_still_needed,
    load_document_catalogue,
    required_documents,
)
from shared.errors import Unprocessable
from shared.vocab import CustomerType

TODAY = date(2025, 9, 30)
LOW = [CustomerType.residential, CustomerType.low_voltage_three_zero, CustomerType.low_voltage]
HIGH = [
    CustomerType.hv10_single,
    CustomerType.hv10_dual,
    CustomerType.hv35_single,
    CustomerType.hv35_dual,
]


def codes(kinds):
    return [k.code for k in kinds]


def refused(call, *args, **kwargs):
    with pytest.raises(DocumentNotAllowed) as caught:
        call(*args, **kwargs)
    assert caught.value.code == "document_not_allowed"
    assert caught.value.status == 422
    return [(e.field, e.code) for e in caught.value.errors]


class TestCatalogueData:
    def test_names_pinned_to_the_plans(self):
        catalogue = load_document_catalogue()
        assert {k.code: k.name for k in catalogue.catalogue} == {
            "identity_proof": "有效身份证明",
            "property_proof": "产权证明",
            "project_approval": "项目批准文件",
            "design_unit_qualification": "设计单位资质证明材料",
            "electrical_design": "用电工程设计及说明书",
            "construction_unit_qualification": "施工单位资质证明材料",
            "concealed_works_records": "隐蔽工程施工及试验记录",
            "completion_report": "工程竣工报告（含竣工图纸）",
        }

    def test_rules_quote_the_plans(self):
        catalogue = load_document_catalogue()
        rules = [r.rule for r in catalogue.requirements]
        assert "一证受理：低压用户申请环节仅需有效身份证明和产权证明。" in rules
        assert "高压用户在竣工检验环节仅需提供工程竣工报告（含竣工图纸）。" in rules
        assert catalogue.reuse_on_change.rule.startswith("变更用电业务，存档的有效身份证明")
        assert [f.name for f in catalogue.forbidden] == ["申请用电承诺书"]

    def test_only_identity_and_property_are_reused(self):
        catalogue = load_document_catalogue()
        assert [k.code for k in catalogue.catalogue if k.reusable_on_change] == [
            "identity_proof",
            "property_proof",
        ]

    def test_inconsistent_data_is_refused(self):
        raw = load_document_catalogue().model_dump()
        raw["requirements"][0]["documents"] = ["identity_proof", "commitment_letter"]
        with pytest.raises(ValueError, match="unknown documents"):
            DocumentCatalogue.model_validate(raw)

    def test_an_alias_naming_two_documents_is_refused(self):
        raw = load_document_catalogue().model_dump()
        raw["catalogue"][1]["aliases"] = [*raw["catalogue"][1]["aliases"], "身份证"]
        with pytest.raises(ValueError, match="names two documents"):
            DocumentCatalogue.model_validate(raw)

    def test_find_by_code_name_or_alias(self):
        catalogue = load_document_catalogue()
        assert catalogue.find("identity_proof").code == "identity_proof"
        assert catalogue.find("营业执照").code == "identity_proof"
        assert catalogue.find(" 不动产权证书 ").code == "property_proof"
        assert catalogue.find("工程竣工报告(含竣工图纸)").code == "completion_report"
        assert catalogue.find("户口本") is None


class TestRequiredDocuments:
    @pytest.mark.parametrize("customer_type", LOW)
    @pytest.mark.parametrize("stage", [Stage.acceptance, Stage.signing])
    def test_low_voltage_one_licence(self, customer_type, stage):
        assert codes(required_documents(customer_type, stage)) == [
            "identity_proof",
            "property_proof",
        ]

    @pytest.mark.parametrize("customer_type", HIGH)
    def test_high_voltage_adds_project_approval(self, customer_type):
        assert codes(required_documents(customer_type, Stage.acceptance)) == [
            "identity_proof",
            "property_proof",
            "project_approval",
        ]

    @pytest.mark.parametrize("customer_type", HIGH)
    def test_high_voltage_inspections(self, customer_type):
        assert codes(required_documents(customer_type, Stage.design_review)) == [
            "design_unit_qualification",
            "electrical_design",
        ]
        assert codes(required_documents(customer_type, Stage.midway_inspection)) == [
            "construction_unit_qualification",
            "concealed_works_records",
        ]
        assert codes(required_documents(customer_type, Stage.completion_inspection)) == [
            "completion_report"
        ]

    @pytest.mark.parametrize("customer_type", HIGH)
    def test_merged_stages(self, customer_type):
        # Jingyu item 8: 竣工验收 merges into 装表接电, so the merged stage takes its report;
        # the customer's works (外部工程实施) ask for nothing (中间检查 is cancelled)
        assert codes(required_documents(customer_type, Stage.inspection_connection)) == [
            "completion_report"
        ]
        assert required_documents(customer_type, Stage.external_works) == ()

    @pytest.mark.parametrize("customer_type", LOW + HIGH)
    @pytest.mark.parametrize(
        "stage", [Stage.supply_plan, Stage.connection, Stage.construction_connection]
    )
    def test_other_stages_ask_nothing(self, customer_type, stage):
        assert required_documents(customer_type, stage) == ()

    @pytest.mark.parametrize("customer_type", LOW)
    def test_low_voltage_has_no_inspection_documents(self, customer_type):
        for stage in (
            Stage.design_review,
            Stage.midway_inspection,
            Stage.completion_inspection,
            Stage.inspection_connection,
        ):
            assert required_documents(customer_type, stage) == ()


class TestCheckDocumentRequest:
    def test_allowed_request_returns_the_entries(self):
        kinds = check_document_request(
            CustomerType.hv10_single,
            Stage.acceptance,
            ["身份证", "property_proof", "项目核准文件", "identity_proof"],
            today=TODAY,
        )
        assert codes(kinds) == ["identity_proof", "property_proof", "project_approval"]

    def test_project_approval_is_refused_at_low_voltage(self):
        assert refused(
            check_document_request,
            CustomerType.low_voltage,
            Stage.acceptance,
            ["identity_proof", "project_approval"],
            today=TODAY,
        ) == [("documents[1]", "document_not_required_at_stage")]

    def test_design_at_midway_inspection_is_refused(self):
        assert refused(
            check_document_request,
            CustomerType.hv10_dual,
            Stage.midway_inspection,
            ["concealed_works_records", "用电工程设计及说明书"],
            today=TODAY,
        ) == [("documents[1]", "document_not_required_at_stage")]

    def test_document_outside_the_catalogue_is_refused(self):
        with pytest.raises(DocumentNotAllowed) as caught:
            check_document_request(CustomerType.residential, Stage.signing, ["户口本"], today=TODAY)
        error = caught.value.errors[0]
        assert (error.field, error.code) == ("documents[0]", "document_not_in_catalogue")
        assert "不得要求提供" in error.message
        assert "杜绝额外加收资料" in error.message

    def test_commitment_letter_is_forbidden_by_name(self):
        with pytest.raises(DocumentNotAllowed) as caught:
            check_document_request(
                CustomerType.hv35_single,
                Stage.acceptance,
                ["《用电申请 承诺书》"],
                today=TODAY,
            )
        error = caught.value.errors[0]
        assert error.code == "document_forbidden"
        assert "不得强制用户签订申请用电承诺书" in error.message

    def test_nothing_may_be_asked_at_supply_plan(self):
        assert refused(
            check_document_request,
            CustomerType.hv10_single,
            Stage.supply_plan,
            ["identity_proof"],
            today=TODAY,
        ) == [("documents[0]", "document_not_required_at_stage")]

    def test_every_refusal_is_listed(self):
        assert refused(
            check_document_request,
            CustomerType.hv10_single,
            Stage.completion_inspection,
            ["completion_report", "户口本", "设计资质", "申请用电承诺书"],
            field="request.documents",
            today=TODAY,
        ) == [
            ("request.documents[1]", "document_not_in_catalogue"),
            ("request.documents[2]", "document_not_required_at_stage"),
            ("request.documents[3]", "document_forbidden"),
        ]

    def test_is_an_unprocessable_problem(self):
        with pytest.raises(Unprocessable) as caught:
            check_document_request(CustomerType.residential, Stage.signing, ["户口本"], today=TODAY)
        assert caught.value.problem().code == "document_not_allowed"

    def test_asking_again_for_a_document_received_is_refused(self):
        received = [DocumentOnFile("identity_proof", valid_until=date(2030, 1, 1))]
        assert refused(
            check_document_request,
            CustomerType.low_voltage,
            Stage.acceptance,
            ["identity_proof"],
            received=received,
            today=TODAY,
        ) == [("documents[0]", "document_on_file")]

    def test_change_of_use_may_not_ask_for_valid_archived_identity(self):
        archived = [DocumentOnFile("identity_proof", valid_until=None, reference="lic-1")]
        with pytest.raises(DocumentNotAllowed) as caught:
            check_document_request(
                CustomerType.low_voltage,
                Stage.acceptance,
                ["营业执照", "产权证明"],
                archived=archived,
                change_of_use=True,
                today=TODAY,
            )
        assert [(e.field, e.code) for e in caught.value.errors] == [
            ("documents[0]", "document_on_file")
        ]
        assert "变更用电业务" in caught.value.errors[0].message

    def test_expired_archived_identity_may_be_asked_for(self):
        archived = [DocumentOnFile("identity_proof", valid_until=date(2025, 9, 29))]
        kinds = check_document_request(
            CustomerType.low_voltage,
            Stage.acceptance,
            ["identity_proof"],
            archived=archived,
            change_of_use=True,
            today=TODAY,
        )
        assert codes(kinds) == ["identity_proof"]


class TestDocumentsStillNeeded:
    def test_new_application_needs_everything(self):
        needs = documents_still_needed(CustomerType.hv10_single, Stage.acceptance, today=TODAY)
        assert needs.required == ["identity_proof", "property_proof", "project_approval"]
        assert needs.needed == needs.required
        assert needs.received == needs.reused == needs.expired == []

    def test_received_documents_count(self):
        needs = documents_still_needed(
            CustomerType.residential,
            Stage.signing,
            received=[DocumentOnFile("identity_proof"), DocumentOnFile("completion_report")],
            today=TODAY,
        )
        assert needs.received == ["identity_proof"]
        assert needs.needed == ["property_proof"]

    def test_change_of_use_reuses_valid_documents_on_file(self):
        archived = [
            DocumentOnFile("identity_proof", valid_until=TODAY),
            DocumentOnFile("property_proof", valid_until=None),
            DocumentOnFile("project_approval", valid_until=None),
        ]
        needs = documents_still_needed(
            CustomerType.hv10_single,
            Stage.acceptance,
            archived=archived,
            change_of_use=True,
            today=TODAY,
        )
        assert needs.reused == ["identity_proof", "property_proof"]
        # A project approval belongs to one project: a new one is needed.
        assert needs.needed == ["project_approval"]
        assert needs.expired == []

    def test_archive_does_not_count_for_a_new_connection(self):
        needs = documents_still_needed(
            CustomerType.low_voltage,
            Stage.acceptance,
            archived=[DocumentOnFile("identity_proof")],
            change_of_use=False,
            today=TODAY,
        )
        assert needs.reused == []
        assert needs.needed == ["identity_proof", "property_proof"]

    def test_expired_copy_is_needed_again(self):
        archived = [
            DocumentOnFile("identity_proof", valid_until=date(2025, 9, 29)),
            DocumentOnFile("identity_proof", valid_until=date(2020, 1, 1)),
        ]
        needs = documents_still_needed(
            CustomerType.low_voltage,
            Stage.acceptance,
            archived=archived,
            change_of_use=True,
            today=TODAY,
        )
        assert needs.needed == ["identity_proof", "property_proof"]
        assert needs.expired == ["identity_proof"]

    def test_one_valid_copy_among_expired_ones_is_enough(self):
        archived = [
            DocumentOnFile("identity_proof", valid_until=date(2020, 1, 1)),
            DocumentOnFile("identity_proof", valid_until=date(2026, 1, 1)),
        ]
        needs = documents_still_needed(
            CustomerType.low_voltage,
            Stage.acceptance,
            archived=archived,
            change_of_use=True,
            today=TODAY,
        )
        assert needs.reused == ["identity_proof"]
        assert needs.expired == []

    def test_stage_without_documents(self):
        needs = documents_still_needed(CustomerType.hv35_dual, Stage.connection, today=TODAY)
        assert needs.required == needs.needed == []

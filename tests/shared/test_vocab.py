"""The shared vocabulary: one AreaClass (codes stored, labels looked up) and one mobile rule,
which intake and notify apply alike."""

import pytest
from pydantic import ValidationError

from services.intake.rules.identity import FieldErrors
from services.notify.delivery.channels import recipient_problem
from services.notify.events.models import ConnectedEventData
from services.notify.messages.models import Channel
from services.notify.subscribers.models import SubscriberFields
from shared.vocab import AreaClass, CustomerType, CustomerTyped, VocabError, parse_mobile


class TestAreaClass:
    def test_codes_with_their_labels(self):
        assert [(c.value, c.label) for c in AreaClass] == [
            ("central", "中心区"),
            ("urban", "市区"),
            ("town", "城镇"),
            ("rural", "农村"),
        ]

    @pytest.mark.parametrize(
        ("text", "code"), [("中心区", "central"), (" 农村 ", "rural"), ("town", "town")]
    )
    def test_from_text_takes_a_label_or_a_code(self, text, code):
        assert AreaClass.from_text(text) is AreaClass(code)

    def test_from_text_refuses_anything_else(self):
        with pytest.raises(VocabError) as caught:
            AreaClass.from_text("郊区")
        assert caught.value.code == "invalid_area_class"


class TestCustomerType:
    def test_codes_with_their_labels(self):
        assert CustomerType.hv10_single.label == "10千伏单电源用户"
        assert len({c.label for c in CustomerType}) == len(CustomerType) == 7

    def test_a_shape_shows_the_label_beside_the_code(self):
        shown = CustomerTyped(customer_type=CustomerType.residential).model_dump(mode="json")
        assert shown == {"customer_type": "residential", "customer_type_label": "居民用户"}
        with pytest.raises(ValidationError):
            CustomerTyped.model_validate({"customer_type": "居民用户"})


class TestParseMobile:
    @pytest.mark.parametrize(
        "value",
        [
            "13812345678",
            "+8613812345678",
            "+86 138 1234 5678",
            "0086-138-1234-5678",
            "8613812345678",
            " 138-1234-5678 ",
        ],
    )
    def test_accepted_forms(self, value):
        assert parse_mobile(value) == "13812345678"

    @pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
    def test_all_second_digits_3_to_9(self, prefix):
        assert parse_mobile(f"{prefix}912345678") == f"{prefix}912345678"

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "required"),
            ("12812345678", "invalid_mobile"),
            ("12345678901", "invalid_mobile"),
            ("1381234567", "invalid_mobile"),
            ("138123456789", "invalid_mobile"),
            ("23812345678", "invalid_mobile"),
            ("1381234567a", "invalid_mobile"),
            ("+8512345678901", "invalid_mobile"),
            ("05468381073", "invalid_mobile"),
        ],
    )
    def test_refused(self, value, code):
        with pytest.raises(VocabError) as caught:
            parse_mobile(value)
        assert caught.value.code == code


SUBSCRIBER = {"name": "甲", "feeder": "F1", "transformer_area": "T1", "area_class": "central"}


def intake_mobile(value: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The mobile as intake's application form takes it (FieldErrors around parse_mobile)."""
    errors = FieldErrors()
    parsed = errors.check("applicant.mobile", parse_mobile, value)
    return parsed, [(e.code, e.message) for e in errors.errors]


def notify_mobile(value: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The mobile as notify's subscriber shape takes it (a pydantic field)."""
    try:
        return SubscriberFields.model_validate({**SUBSCRIBER, "mobile": value}).mobile, []
    except ValidationError as exc:
        return None, [(e["type"], e["msg"]) for e in exc.errors()]


class TestOneRuleInBothServices:
    def test_a_spaced_plus_86_number_is_the_same_eleven_digits(self):
        assert intake_mobile("+86 138-0013-8000") == ("13800138000", [])
        assert notify_mobile("+86 138-0013-8000") == ("13800138000", [])
        assert recipient_problem(Channel.sms, "+86 138-0013-8000") is None

    def test_a_number_not_starting_13_to_19_is_refused_alike(self):
        refused = (None, [("invalid_mobile", "手机号码应为以13-19开头的11位数字")])
        assert intake_mobile("12345678901") == refused
        assert notify_mobile("12345678901") == refused
        assert recipient_problem(Channel.sms, "12345678901") is not None

    def test_connected_events_carry_the_code_only(self):
        event = {
            "application_number": "DY1",
            "mobile": "13800138000",
            **SUBSCRIBER,
        }
        assert ConnectedEventData.model_validate(event).area_class is AreaClass.central
        with pytest.raises(ValidationError):
            ConnectedEventData.model_validate({**event, "area_class": "中心区"})

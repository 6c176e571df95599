"""Resident ID numbers, credit codes and mobiles: validation, masking, and log masking."""

import io
import logging
from datetime import date

import pytest
from uvicorn.logging import AccessFormatter

from services.intake.rules.identity import (
    FieldErrors,
    IdentityError,
    Sex,
    credit_code_check_character,
    mask_id_number,
    mask_mobile,
    parse_credit_code,
    parse_resident_id,
    resident_id_check_character,
    validate_credit_code,
    validate_mobile,
    validate_resident_id,
)
from shared.errors import Unprocessable
from shared.masking import SensitiveDataFilter, install_log_masking, mask_sensitive
from shared.vocab import parse_mobile

TODAY = date(2025, 6, 1)

# Independent of the module: the weights and tables as printed in the standards.
GB11643_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
GB11643_CHECK = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]
GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB32100_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def id_check(first17: str) -> str:
    return GB11643_CHECK[
        sum(int(d) * w for d, w in zip(first17, GB11643_WEIGHTS, strict=True)) % 11
    ]


def with_id_check(first17: str) -> str:
    return first17 + id_check(first17)


def credit_check(first17: str) -> str:
    total = sum(
        GB32100_ALPHABET.index(c) * w for c, w in zip(first17, GB32100_WEIGHTS, strict=True)
    )
    return GB32100_ALPHABET[(31 - total % 31) % 31]


def with_credit_check(first17: str) -> str:
    return first17 + credit_check(first17)


def error_code(call, *args, **kwargs) -> str:
    with pytest.raises(IdentityError) as caught:
        call(*args, **kwargs)
    return caught.value.code


class TestResidentIdCheckCharacter:
    @pytest.mark.parametrize(
        "number",
        [
            "11010519491231002X",  # the example printed in GB 11643-1999
            "440524188001010014",  # the standard's second example
            "360426199101010071",
        ],
    )
    def test_published_examples(self, number):
        assert resident_id_check_character(number[:17]) == number[17]
        assert id_check(number[:17]) == number[17]

    @pytest.mark.parametrize("seed", range(0, 200, 7))
    def test_agrees_with_the_printed_weights(self, seed):
        first17 = f"370502{1950 + seed % 60}{1 + seed % 12:02d}{1 + seed % 28:02d}{seed:03d}"
        assert resident_id_check_character(first17) == id_check(first17)

    def test_every_check_character_occurs(self):
        seen = {resident_id_check_character(f"3705021980010112{i}") for i in range(10)}
        seen |= {resident_id_check_character(f"370502198001011{i}0") for i in range(10)}
        assert "X" in seen
        assert len(seen) >= 10

    def test_refuses_a_wrong_length(self):
        with pytest.raises(ValueError, match="17 ASCII digits"):
            resident_id_check_character("123")


class TestParseResidentId:
    def test_valid_number_is_decoded(self):
        parsed = parse_resident_id("11010519491231002X", today=TODAY)
        assert parsed.number == "11010519491231002X"
        assert parsed.address_code == "110105"
        assert parsed.region == "北京市"
        assert parsed.birth_date == date(1949, 12, 31)
        assert parsed.sequence == "002"
        assert parsed.sex is Sex.female
        assert parsed.residence_permit is False

    def test_lower_case_x_and_spaces_are_normalised(self):
        assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == (
            "11010519491231002X"
        )

    def test_odd_sequence_is_male(self):
        number = with_id_check("37050219800101123")
        assert parse_resident_id(number, today=TODAY).sex is Sex.male

    def test_residence_permit_of_a_hong_kong_resident(self):
        number = with_id_check("81000019900101001")
        parsed = parse_resident_id(number, today=TODAY)
        assert parsed.residence_permit is True
        assert parsed.region == "香港居民"

    def test_each_corrupted_digit_is_caught(self):
        number = with_id_check("37050219800101123")
        for i in range(17):
            digit = str((int(number[i]) + 1) % 10)
            corrupted = number[:i] + digit + number[i + 1 :]
            with pytest.raises(IdentityError):
                parse_resident_id(corrupted, today=TODAY)

    def test_wrong_check_character(self):
        number = with_id_check("37050219800101123")
        wrong = "0" if number[17] != "0" else "1"
        assert error_code(parse_resident_id, number[:17] + wrong, today=TODAY) == (
            "bad_check_character"
        )

    def test_swapped_digits_are_caught(self):
        number = with_id_check("37050219800101123")
        swapped = number[:14] + number[15] + number[14] + number[16:]
        assert swapped != number
        assert error_code(parse_resident_id, swapped, today=TODAY) == "bad_check_character"

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "required"),
            ("   ", "required"),
            ("370502800101123", "legacy_15_digit"),
            ("3705021980010112", "invalid_length"),
            ("3705021980010112345", "invalid_length"),
            ("37050219800101A23X", "invalid_characters"),
            ("370502198001011230".replace("0", "０", 1), "invalid_characters"),
            ("37050219800101123Y", "invalid_characters"),
        ],
    )
    def test_malformed(self, value, code):
        assert error_code(parse_resident_id, value, today=TODAY) == code

    @pytest.mark.parametrize("region", ["000000", "990101", "280101", "710101"])
    def test_unknown_region(self, region):
        number = with_id_check(f"{region}19800101123")
        assert error_code(parse_resident_id, number, today=TODAY) == "unknown_region"

    @pytest.mark.parametrize(
        "birth", ["19800230", "19801301", "19800000", "20250602", "18991231", "19810229"]
    )
    def test_impossible_or_implausible_birth_date(self, birth):
        number = with_id_check(f"370502{birth}123")
        assert error_code(parse_resident_id, number, today=TODAY) == "invalid_birth_date"

    def test_leap_day_and_today_are_fine(self):
        assert parse_resident_id(with_id_check("37050219800229123"), today=TODAY)
        assert parse_resident_id(with_id_check("37050220250601123"), today=TODAY)

    def test_error_messages_are_chinese(self):
        with pytest.raises(IdentityError) as caught:
            parse_resident_id("12345", today=TODAY)
        assert caught.value.message == "身份证号码应为18位，当前为5位"


class TestCreditCodeCheckCharacter:
    @pytest.mark.parametrize(
        "code", ["91350100M000100Y43", "91110000600037341L", "9144030071526726XG"]
    )
    def test_real_codes(self, code):
        assert credit_code_check_character(code[:17]) == code[17]
        assert credit_check(code[:17]) == code[17]

    @pytest.mark.parametrize("seed", range(40))
    def test_agrees_with_the_printed_weights(self, seed):
        body = "".join(GB32100_ALPHABET[(seed * 7 + i * 11) % 31] for i in range(9))
        first17 = f"91370502{body}"
        assert credit_code_check_character(first17) == credit_check(first17)

    def test_a_remainder_of_zero_gives_check_zero(self):
        # Find a body whose weighted sum is divisible by 31: the check character is "0", not "31".
        for n in range(10_000):
            first17 = f"91370502{n:09d}"
            if credit_check(first17) == "0":
                assert credit_code_check_character(first17) == "0"
                return
        pytest.fail("no body with check character 0 found")

    def test_refuses_characters_outside_the_alphabet(self):
        with pytest.raises(ValueError, match="alphabet"):
            credit_code_check_character("91370502MA0000000I"[:17].replace("M", "I"))


class TestParseCreditCode:
    def test_valid_enterprise(self):
        parsed = parse_credit_code("91350100M000100Y43")
        assert parsed.code == "91350100M000100Y43"
        assert parsed.authority == "9"
        assert parsed.entity_type == "1"
        assert parsed.entity_type_name == "企业"
        assert parsed.region_code == "350100"
        assert parsed.organisation_code == "M000100Y4"

    def test_lower_case_and_spaces(self):
        assert parse_credit_code(" 91350100m000100y43 ").code == "91350100M000100Y43"

    @pytest.mark.parametrize(
        ("prefix", "type_name"),
        [
            ("12", "事业单位"),
            ("52", "民办非企业单位"),
            ("92", "个体工商户"),
            ("93", "农民专业合作社"),
            ("N2", "村级集体经济组织"),
            ("Y1", "其他"),
        ],
    )
    def test_authorities_and_types(self, prefix, type_name):
        code = with_credit_check(f"{prefix}370502MA3C00001")
        assert parse_credit_code(code).entity_type_name == type_name

    def test_national_registration(self):
        code = with_credit_check("11100000000013127")
        assert parse_credit_code(code).region_code == "100000"

    def test_each_corrupted_character_is_caught(self):
        code = with_credit_check("91370502MA3C4D5E6")
        for i in range(18):
            replacement = GB32100_ALPHABET[(GB32100_ALPHABET.index(code[i]) + 1) % 31]
            corrupted = code[:i] + replacement + code[i + 1 :]
            with pytest.raises(IdentityError):
                parse_credit_code(corrupted)

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "required"),
            ("91350100M000100Y4", "invalid_length"),
            ("91350100M000100Y431", "invalid_length"),
            ("91350100I000100Y43", "invalid_characters"),
            ("91350100O000100Y43", "invalid_characters"),
            ("91350100S000100Y43", "invalid_characters"),
            ("91350100V000100Y43", "invalid_characters"),
            ("91350100Z000100Y43", "invalid_characters"),
            ("91350100-000100Y43", "invalid_characters"),
        ],
    )
    def test_malformed(self, value, code):
        assert error_code(parse_credit_code, value) == code

    def test_unknown_authority(self):
        code = with_credit_check("B1370502MA3C00001")
        assert error_code(parse_credit_code, code) == "unknown_registration_authority"

    @pytest.mark.parametrize("prefix", ["94", "99", "Y2", "22", "A3"])
    def test_unknown_entity_type(self, prefix):
        code = with_credit_check(f"{prefix}370502MA3C00001")
        assert error_code(parse_credit_code, code) == "unknown_entity_type"

    @pytest.mark.parametrize("region", ["990101", "0000A0", "700000"])
    def test_unknown_region(self, region):
        code = with_credit_check(f"91{region}MA3C00001")
        assert error_code(parse_credit_code, code) == "unknown_region"

    def test_wrong_check_character(self):
        code = with_credit_check("91370502MA3C00001")
        wrong = "1" if code[17] != "1" else "2"
        assert error_code(parse_credit_code, code[:17] + wrong) == "bad_check_character"


class TestFieldErrors:
    def test_validate_names_the_field(self):
        with pytest.raises(Unprocessable) as caught:
            validate_resident_id("123", field="applicant.id_number", today=TODAY)
        problem = caught.value.problem()
        assert problem.status == 422
        assert problem.code == "validation_failed"
        assert [(e.field, e.code) for e in problem.errors] == [
            ("applicant.id_number", "invalid_length")
        ]

    def test_validate_returns_parsed_values(self):
        assert validate_mobile("+86 13812345678") == "13812345678"
        assert validate_credit_code("91350100M000100Y43").authority == "9"
        assert validate_resident_id("11010519491231002X", today=TODAY).region == "北京市"

    def test_collects_several_fields(self):
        errors = FieldErrors()
        assert errors.check("id_number", lambda v: parse_resident_id(v, today=TODAY), "1") is None
        assert errors.check("mobile", parse_mobile, "13812345678") == "13812345678"
        assert errors.check("credit_code", parse_credit_code, "x") is None
        errors.add("holder", "required", "请填写户名")
        with pytest.raises(Unprocessable) as caught:
            errors.raise_if_any()
        assert [e.field for e in caught.value.errors] == ["id_number", "credit_code", "holder"]
        assert caught.value.detail == "输入无效：id_number, credit_code, holder"

    def test_nothing_to_raise(self):
        errors = FieldErrors()
        errors.check("mobile", parse_mobile, "13812345678")
        errors.raise_if_any()
        assert errors.errors == []


class TestMasking:
    def test_id_number_keeps_first_six_and_last_four(self):
        assert mask_id_number("370502198001011234") == "370502********1234"
        assert mask_id_number("11010519491231002x") == "110105********002X"

    def test_short_fragments_are_masked_whole(self):
        assert mask_id_number("3705021234") == "**********"
        assert mask_id_number("") == ""

    def test_legacy_id_number(self):
        assert mask_id_number("370502800101123") == "370502*****1123"

    def test_mobile(self):
        assert mask_mobile("13812345678") == "138****5678"
        assert mask_mobile("+86 138 1234 5678") == "138****5678"

    def test_not_a_mobile_is_still_masked(self):
        assert mask_mobile("0546-8381073") == "054*****1073"
        assert mask_mobile("123") == "***"


class TestMaskSensitive:
    def test_masks_ids_and_mobiles_in_text(self):
        text = "申请人身份证370502198001011234，手机+86 138-1234-5678，备用13912345678。"
        assert mask_sensitive(text) == (
            "申请人身份证370502********1234，手机+86 138****5678，备用139****5678。"
        )

    def test_masks_a_named_query_code(self):
        text = "申请编号BZ20250304000007，查询码K7QW2MZP（凭编号查询）；查询码：23456789。"
        assert mask_sensitive(text) == (
            "申请编号BZ20250304000007，查询码********（凭编号查询）；查询码：********。"
        )
        # Not a code: a character outside intake's alphabet, or one too many.
        assert (
            mask_sensitive("查询码K7QW2MZ1、查询码K7QW2MZPQ") == "查询码K7QW2MZ1、查询码K7QW2MZPQ"
        )

    def test_masks_an_id_with_a_wrong_check_character(self):
        assert mask_sensitive("id=370502198001011239") == "id=370502********1239"

    def test_masks_lower_case_x_and_legacy_numbers(self):
        assert mask_sensitive("11010519491231002x") == "110105********002x"
        assert mask_sensitive("旧证370502800101123") == "旧证370502*****1123"

    def test_leaves_other_numbers_alone(self):
        text = "申请编号 20250601000123 容量 160 kW 信用代码 91350100M000100Y43 于 2025-09-30 10:00"
        assert mask_sensitive(text) == text

    @pytest.mark.parametrize(
        ("typed", "shown"),
        [
            ("电话 0546-8381073", "电话 0546-***1073"),
            ("座机（0546）8381073转", "座机（0546）***1073转"),
            ("(010)12345678", "(010)****5678"),
            ("021 1234 5678", "021 ****5678"),
            ("固话05468381073", "固话0546***1073"),
            ("BZ20250930000001", "BZ20250930000001"),
        ],
    )
    def test_masks_landlines(self, typed, shown):
        assert mask_sensitive(typed) == shown

    def test_does_not_cut_into_longer_numbers(self):
        text = "流水号 1381234567890123456789"
        assert mask_sensitive(text) == text


class TestSensitiveDataFilter:
    @pytest.fixture
    def capture(self):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.addFilter(SensitiveDataFilter())
        logger = logging.getLogger("tests.intake.identity")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        yield logger, stream
        logger.removeHandler(handler)

    def test_message_arguments_are_masked(self, capture):
        logger, stream = capture
        logger.info("applicant %s phone %s", "370502198001011234", "13812345678")
        assert stream.getvalue() == "INFO applicant 370502********1234 phone 138****5678\n"

    def test_mapping_arguments(self, capture):
        logger, stream = capture
        logger.warning("phone %(phone)s", {"phone": "13812345678"})
        assert stream.getvalue() == "WARNING phone 138****5678\n"

    def test_exception_text_is_masked(self, capture):
        logger, stream = capture
        try:
            raise ValueError("bad id 370502198001011234")
        except ValueError:
            logger.exception("failed for 13812345678")
        output = stream.getvalue()
        assert "370502198001011234" not in output
        assert "13812345678" not in output
        assert "ValueError: bad id 370502********1234" in output
        assert "failed for 138****5678" in output

    def test_malformed_format_is_kept_masked(self, capture):
        logger, stream = capture
        logger.info("two %s %s", "13812345678")
        assert "138****5678" in stream.getvalue()
        assert "13812345678" not in stream.getvalue()

    def test_arguments_stay_a_tuple_for_formatters_that_read_them(self):
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", "/q?mobile=13812345678&id=370502198001011234", "1.1", 200),
            None,
        )
        assert SensitiveDataFilter().filter(record) is True
        assert record.args == (
            "127.0.0.1:5000",
            "GET",
            "/q?mobile=138****5678&id=370502********1234",
            "1.1",
            200,
        )
        formatter = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s")
        assert formatter.format(record) == (
            "127.0.0.1:5000 GET /q?mobile=138****5678&id=370502********1234 HTTP/1.1 200 OK"
        )

    def test_an_int_argument_is_masked_too(self, capture):
        logger, stream = capture
        logger.info("phone %d ok", 13812345678)
        assert stream.getvalue() == "INFO phone 138****5678 ok\n"

    def test_objects_are_masked_by_their_text(self, capture):
        logger, stream = capture
        logger.info("payload %s", {"id_number": "370502198001011234", "n": 1})
        assert stream.getvalue() == "INFO payload {'id_number': '370502********1234', 'n': 1}\n"

    def test_install_adds_the_filter_once(self):
        logger = logging.getLogger("tests.intake.identity.install")
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logger.addHandler(handler)
        logger.propagate = False
        try:
            install_log_masking(logger)
            install_log_masking(logger)
            assert sum(isinstance(f, SensitiveDataFilter) for f in handler.filters) == 1
            logger.error("call 13812345678")
            assert stream.getvalue() == "call 138****5678\n"
        finally:
            logger.removeHandler(handler)

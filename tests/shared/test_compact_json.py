import json

from shared.compact_json import compact_json, compact_json_bytes


class TestCompactJson:
    def test_no_spaces_and_chinese_as_itself(self):
        assert compact_json({"area": "中心区", "n": [1, 2]}) == '{"area":"中心区","n":[1,2]}'

    def test_keys_keep_their_order_unless_sorted(self):
        assert compact_json({"b": 1, "a": 2}) == '{"b":1,"a":2}'
        assert compact_json({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'

    def test_bytes_are_utf8_and_round_trip(self):
        value = {"标题": "停电通知", "x": None}
        raw = compact_json_bytes(value, sort_keys=True)
        assert raw == '{"x":null,"标题":"停电通知"}'.encode()
        assert json.loads(raw) == value

from datetime import UTC, date, datetime

from pydantic import BaseModel

from shared.timeutil import BeijingTime, beijing_date, end_of_beijing_day


def test_an_update_at_2330_beijing_belongs_to_that_day():
    late = datetime(2021, 6, 30, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    assert beijing_date(late) == date(2021, 6, 30)
    assert late < end_of_beijing_day(date(2021, 6, 30))
    assert end_of_beijing_day(date(2021, 6, 30)) == datetime(2021, 6, 30, 16, 0, tzinfo=UTC)


def test_api_times_are_shown_in_beijing_time():
    class Shown(BaseModel):
        at: BeijingTime

    shown = Shown(at=datetime(2025, 10, 9, 1, 30, tzinfo=UTC))
    assert shown.model_dump_json() == '{"at":"2025-10-09T09:30:00+08:00"}'
    assert shown.at.tzinfo is UTC

from datetime import UTC, date, datetime

from shared.timeutil import beijing_date, end_of_beijing_day


def test_an_update_at_2330_beijing_belongs_to_that_day():
    late = datetime(2021, 6, 30, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    assert beijing_date(late) == date(2021, 6, 30)
    assert late < end_of_beijing_day(date(2021, 6, 30))
    assert end_of_beijing_day(date(2021, 6, 30)) == datetime(2021, 6, 30, 16, 0, tzinfo=UTC)

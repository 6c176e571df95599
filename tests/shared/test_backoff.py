import random
from datetime import timedelta

import pytest

from shared.backoff import backoff


class TestBackoff:
    def test_doubles_from_the_base(self):
        waits = [backoff(n, base=30, cap=10_000).total_seconds() for n in range(1, 6)]
        assert waits == [30, 60, 120, 240, 480]

    def test_attempt_zero_or_less_waits_the_base(self):
        assert backoff(0, base=5, cap=100) == timedelta(seconds=5)
        assert backoff(-3, base=5, cap=100) == timedelta(seconds=5)

    def test_is_capped(self):
        assert backoff(12, base=30, cap=3600) == timedelta(seconds=3600)

    def test_a_huge_attempt_does_not_overflow(self):
        assert backoff(10_000, base=1.5, cap=60) == timedelta(seconds=60)

    def test_jitter_spreads_within_the_fraction_and_never_past_the_cap(self):
        rng = random.Random(7)
        waits = [
            backoff(3, base=10, cap=1000, jitter=0.25, rng=rng).total_seconds() for _ in range(200)
        ]
        assert all(30 <= w <= 50 for w in waits)
        assert len(set(waits)) > 100
        capped = [
            backoff(20, base=10, cap=100, jitter=0.5, rng=rng).total_seconds() for _ in range(50)
        ]
        assert all(50 <= w <= 100 for w in capped)

    def test_same_seed_same_waits(self):
        a = [backoff(2, base=10, cap=100, jitter=0.3, rng=random.Random(1)) for _ in range(3)]
        b = [backoff(2, base=10, cap=100, jitter=0.3, rng=random.Random(1)) for _ in range(3)]
        assert a == b

    @pytest.mark.parametrize(("base", "cap", "jitter"), [(-1, 10, 0), (1, -1, 0), (1, 10, 1.5)])
    def test_refuses_nonsense(self, base, cap, jitter):
        with pytest.raises(ValueError, match=r"negative|fraction"):
            backoff(1, base=base, cap=cap, jitter=jitter)

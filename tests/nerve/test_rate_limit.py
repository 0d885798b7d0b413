"""Ruby nerve's `rate_limiting` token bucket and shadow mode, on a clock the test moves."""

from __future__ import annotations

import logging

from nerve_py.config import RateLimit
from nerve_py.rate_limit import ReportLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def takes(bucket: TokenBucket, n: int) -> int:
    return sum(bucket.take() for _ in range(n))


def test_ruby_defaults_shadow_mode_on_10_per_second_burst_100():
    assert RateLimit() == RateLimit(shadow_mode=True, average_rate=10.0, max_burst=100.0)


def test_the_bucket_starts_with_average_rate_tokens_not_max_burst():
    clock = Clock()
    bucket = TokenBucket(10, 100, clock)
    assert takes(bucket, 50) == 10


def test_tokens_refill_at_the_average_rate_up_to_max_burst():
    clock = Clock()
    bucket = TokenBucket(10, 100, clock)
    takes(bucket, 10)
    clock.now += 2.5
    assert takes(bucket, 100) == 25
    clock.now += 60
    assert takes(bucket, 1000) == 100


def test_only_whole_tokens_refill_and_partial_time_is_kept():
    clock = Clock()
    bucket = TokenBucket(1, 5, clock)
    takes(bucket, 1)
    clock.now += 0.6
    assert not bucket.take()  # 0.6 token: nothing yet, and the clock is not reset
    clock.now += 0.6
    assert bucket.take()


def test_average_rate_zero_never_refills():
    clock = Clock()
    bucket = TokenBucket(0, 3, clock)
    clock.now += 3600
    assert takes(bucket, 5) == 0


def test_shadow_mode_logs_a_throttled_report_and_makes_it(caplog):
    limiter = ReportLimiter("web", TokenBucket(1, 1, Clock()), shadow_mode=True)
    with caplog.at_level(logging.WARNING):
        assert [limiter.allow() for _ in range(3)] == [True, True, True]
    assert limiter.throttled == 2
    assert "web: report throttled by rate_limiting (shadow_mode: true)" in caplog.text


def test_without_shadow_mode_a_throttled_report_waits_for_a_token(caplog):
    clock = Clock()
    limiter = ReportLimiter("web", TokenBucket(1, 1, clock), shadow_mode=False)
    assert [limiter.allow() for _ in range(3)] == [True, False, False]
    clock.now += 1
    assert limiter.allow()
    assert limiter.throttled == 2
    assert "deferred to a later round" in caplog.text

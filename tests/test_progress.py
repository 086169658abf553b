"""Progress lines of long loops: none before the interval, then share done, rate and time left."""

from recsys_core.progress import Progress


def test_progress_logs_share_rate_and_time_left_only_when_due():
    ticks = iter([0.0, 5.0, 12.0, 13.0])
    progress = Progress(1000, "users ranked", every=10.0, clock=lambda: next(ticks))
    assert progress.update(100) is None  # 5 s: not due yet
    line = progress.update(600)  # 12 s: 600 done, 50/s, 400 left -> 8 s
    assert line == "users ranked: 600 of 1,000 (60%), 50/s, about 8 s left"
    assert progress.update(700) is None  # 1 s after the last line


def test_an_empty_loop_says_nothing():
    ticks = iter([0.0, 100.0])
    assert Progress(0, "users", clock=lambda: next(ticks)).update(0) is None

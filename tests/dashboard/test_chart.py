from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard import chart


@pytest.mark.parametrize(("peak", "scale"), [
    (0, (1, 1)), (1, (1, 1)), (4, (4, 1)), (5, (6, 2)), (7, (8, 2)), (9, (10, 5)), (10, (10, 5)),
    (19, (20, 5)), (21, (30, 10)), (380, (400, 100)), (401, (600, 200)), (12_345, (15_000, 5_000)),
])
def test_y_scale_covers_the_peak_in_at_most_four_round_steps(peak, scale):
    assert chart.y_scale(peak) == scale


def test_y_ticks_run_from_zero_at_the_axis_to_the_top():
    ticks = chart.y_ticks(*chart.y_scale(10))
    assert [t.label for t in ticks] == ["0", "5", "10"]
    bottom = chart.TOP + chart.PLOT_HEIGHT
    assert [t.y for t in ticks] == [bottom, bottom - chart.PLOT_HEIGHT // 2, chart.TOP]
    assert {t.x for t in ticks} == {chart.LEFT - 6}


def test_x_ticks_label_every_sixth_hour_and_the_current_one():
    last = datetime(2026, 12, 1, 13, tzinfo=UTC)
    starts = [last - timedelta(hours=23 - i) for i in range(24)]
    ticks = chart.x_ticks(starts)
    assert [t.label for t in ticks] == ["14:00", "20:00", "02:00", "08:00", "13:00"]
    step = chart.BAR_WIDTH + chart.BAR_GAP
    assert ticks[0].x == chart.LEFT + chart.BAR_WIDTH // 2 and ticks[-1].x == ticks[0].x + 23 * step
    assert all(t.y > chart.TOP + chart.PLOT_HEIGHT for t in ticks)  # under the axis

"""PURE geometry of the dashboard's requests-per-hour chart: the y scale and both axes' ticks.

No Django: the selectors pass the hour starts (already in the display time zone) and the busiest
hour, the template draws what comes back. The plot area is 24 bars wide; the margins hold the
tick labels and the axis titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import ceil

BAR_WIDTH, BAR_GAP = 20, 4
PLOT_WIDTH = 24 * (BAR_WIDTH + BAR_GAP)
PLOT_HEIGHT = 120
LEFT, TOP, RIGHT, BOTTOM = 44, 10, 12, 36  # y tick labels + title | x tick labels + title
WIDTH = LEFT + PLOT_WIDTH + RIGHT
HEIGHT = TOP + PLOT_HEIGHT + BOTTOM
MAX_INTERVALS = 4  # y ticks: at most this many steps between 0 and the top
X_TICK_EVERY = 6  # hours between labelled x ticks


@dataclass(frozen=True, slots=True)
class Tick:
    label: str
    x: int  # the tick's position in the whole SVG (margins included)
    y: int


def _next_step(step: int) -> int:
    """1 -> 2 -> 5 -> 10 -> 20 -> 50 ..."""
    lead = step // 10 ** (len(str(step)) - 1)
    return step * 5 // 2 if lead == 2 else step * 2


def y_scale(peak: int) -> tuple[int, int]:
    """The y axis top and tick step for a busiest hour of ``peak`` requests: the smallest step of
    1, 2 or 5 x 10^k covering ``peak`` in at most MAX_INTERVALS steps (1 and 1 with no traffic)."""
    step = 1
    for _ in range(64):  # bounded: 5 x 10^20 is past any count
        if step * MAX_INTERVALS >= peak:
            break
        step = _next_step(step)
    return max(1, ceil(peak / step)) * step, step


def y_ticks(top: int, step: int) -> list[Tick]:
    """Labelled request counts from 0 to ``top``, right-aligned against the y axis."""
    return [Tick(str(value), LEFT - 6, TOP + PLOT_HEIGHT - round(PLOT_HEIGHT * value / top))
            for value in range(0, top + 1, step)]


def x_ticks(starts: Sequence[datetime]) -> list[Tick]:
    """Every X_TICK_EVERY-th hour and the current one, centred under its bar."""
    last = len(starts) - 1
    return [Tick(f"{start:%H}:00", LEFT + i * (BAR_WIDTH + BAR_GAP) + BAR_WIDTH // 2, TOP + PLOT_HEIGHT + 14)
            for i, start in enumerate(starts) if i % X_TICK_EVERY == 0 or i == last]

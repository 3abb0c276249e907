"""Progress of a campaign: a bar on a terminal, a plain line every 10 s otherwise (logs)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, seconds: float | None, max_cases: int | None):
        self.tty = sys.stderr.isatty()
        self.seconds, self.max_cases = seconds, max_cases
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def update(self, cases: int, failures: int) -> None:
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        t = now - self.start
        rate = cases / t if t else 0.0
        if self.seconds:
            frac = min(t / self.seconds, 1.0)
        elif self.max_cases:
            frac = min(cases / self.max_cases, 1.0)
        else:
            frac = 0.0
        if self.tty:
            bar = "#" * int(frac * 24)
            line = f"\r[{bar:<24}] {t:6.1f}s {cases:>9,} cases {rate:8,.0f}/s  failures {failures}"
            self.shown = True
        else:
            line = f"{t:8.1f}s {cases:>10,} cases {rate:8,.0f} cases/s failures {failures}\n"
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not end the campaign

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")

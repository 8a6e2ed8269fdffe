"""A controllable clock: real time plus an offset that tests move forward.

Every expiry in wxsim (tokens, the 48 h window, QR codes, OAuth codes, media,
daily quotas) reads this clock, so a test can jump hours ahead without waiting.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    def now(self) -> float:
        return time.time() + self.offset

    def now_int(self) -> int:
        return int(time.time() + self.offset)

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += float(seconds)
        return self.now()

    def day(self) -> int:
        """Day number in China Standard Time (UTC+8); WeChat quotas reset at midnight CST."""
        return int((self.now() + 8 * 3600) // 86400)

"""How long a user may ask a command to wait: more than 0 and at most an hour.

A timeout of 0 or less would fail at once, and a timeout beyond an hour is a typo (units
mistaken for milliseconds) that would leave a command hanging; NaN and booleans are not
numbers of seconds. Options, config files and profiles all check this one rule.
"""

from __future__ import annotations

import math

MAX_WAIT_SECONDS = 3600
#: How the rule reads in an error message.
WAIT_RULE = f"a number of seconds in (0, {MAX_WAIT_SECONDS}]"


def is_wait_seconds(value: object) -> bool:
    """True when ``value`` is a number of seconds in (0, 3600]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not math.isnan(value) and 0 < value <= MAX_WAIT_SECONDS

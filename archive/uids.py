"""What counts as a UID here: digits and dots, at most 64 characters (PS3.5 §9.1).

Leading zeros inside a component are tolerated, as real modalities write them; anything
else is refused, which is also what makes a UID safe to use in a storage path or a URL.
"""

import re

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def is_valid_uid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and _UID.fullmatch(value) is not None

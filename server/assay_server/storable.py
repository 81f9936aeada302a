"""Text the store can hold: no NUL character (PostgreSQL's text refuses it) and no lone
surrogate (UTF-8 cannot encode one; JSON's ``"\\ud800"`` decodes to it).

Both databases get the same answer, so a value refused on PostgreSQL is refused on SQLite too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNSTORABLE_TEXT = "Text cannot contain NUL characters or lone surrogates."
#: The largest id the store holds: ids are INTEGER columns, 32 bits on PostgreSQL. A larger
#: one in a path, a query or a body names nothing stored: a 422, never a driver's overflow.
MAX_STORED_ID = 2**31 - 1


def is_storable_text(value: str) -> bool:
    """False for text holding a NUL character or a lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def holds_unstorable_text(value: Any) -> bool:
    """True when ``value`` is such text, or a JSON document with such text in a key or value.

    Walks with a stack, not recursion: a document nested a thousand deep is answered too.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_storable_text(item):
                return True
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str) and not is_storable_text(key):
                    return True
                stack.append(inner)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False

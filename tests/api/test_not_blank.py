"""``NOT_BLANK_PATTERN`` means the same in Python (which the API checks with) and in ECMA-262
(which the OpenAPI document's readers, schemathesis included, check with)."""

from __future__ import annotations

import re

import pytest

from assay_server.schemas import NOT_BLANK_PATTERN

pytestmark = pytest.mark.store_independent

#: ECMA-262's ``\s``: its WhiteSpace and LineTerminator code points.
ECMA_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def test_python_and_ecma_262_agree_on_every_character_which_is_blank():
    python = re.compile(NOT_BLANK_PATTERN)
    ecma = re.compile(NOT_BLANK_PATTERN.replace(r"\s", ECMA_SPACE))
    disagree = [
        hex(code)
        for code in [*range(0x3001), 0xFEFF]
        if bool(python.match(chr(code))) != bool(ecma.match(chr(code)))
    ]
    assert disagree == []
    assert not python.match("\x1e \ufeff\x85") and python.match(" \x1e why")


def test_what_the_pattern_takes_keeps_a_character_through_strip():
    python = re.compile(NOT_BLANK_PATTERN)
    for code in [*range(0x3001), 0xFEFF]:
        if python.match(chr(code)):
            assert chr(code).strip(), hex(code)

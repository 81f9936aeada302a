"""YAML highlighted on the server: keys, strings, numbers, literals and comments wrapped in
spans with classes, every character of the source escaped (no script draws it: the pages'
CSP allows none inline, and a policy's text is whatever an admin applied).

It reads each line as a person does, not as a YAML parser: a key, a quoted string or a
scalar is recognised only where a value may start (the line's start, after ``- ``, ``: ``,
``{``, ``[`` or ``,``), so prose in a folded description stays prose. A file that does not
parse is still shown, highlighted as far as its lines go.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_KEY = re.compile(r"[A-Za-z_][\w.-]*(?=[ \t]*:(?:[ \t]|$))")
_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?""")
_PLAIN_BLOCK = re.compile(r"\S.*?(?=[ \t]+#|[ \t]*$)")
_PLAIN_FLOW = re.compile(r"[^\s,\[\]{}].*?(?=[ \t]+#|[ \t]*[,\]}]|[ \t]*$)")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\.inf|\.nan")
_LITERAL = re.compile(r"true|false|null|yes|no|on|off|~", re.IGNORECASE)
_SPACE = re.compile(r"[ \t]+")


def _span(kind: str, text: str) -> str:
    return f'<span class="y-{kind}">{escape(text)}</span>'


def _scalar(text: str) -> str:
    if _NUMBER.fullmatch(text):
        return _span("number", text)
    if _LITERAL.fullmatch(text):
        return _span("literal", text)
    return str(escape(text))


def highlight_line(line: str) -> Markup:
    """One line of YAML as escaped HTML with its tokens in spans."""
    out: list[str] = []
    position, value_starts, depth = 0, True, 0
    while position < len(line):
        char = line[position]
        space = _SPACE.match(line, position)
        if space:
            out.append(space.group())
            position = space.end()
            continue
        if char == "#" and (position == 0 or line[position - 1] in " \t"):
            out.append(_span("comment", line[position:]))
            break
        if value_starts:
            token = _value_token(line, position, depth)
            if token is not None:
                html, end, value_starts, depth = token
                out.append(html)
                position = end
                continue
        ends_key = char == ":" and line[position + 1 : position + 2] in ("", " ", "\t")
        if ends_key or (char == "," and depth):
            value_starts = True
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char in "[{":
            depth, value_starts = depth + 1, True
        out.append(str(escape(char)))
        position += 1
    return Markup("".join(out))


def _value_token(line: str, position: int, depth: int) -> tuple[str, int, bool, int] | None:
    """The token where a value may start: its HTML, where it ends, whether a value may start
    after it, and the flow depth after it; None when nothing is recognised there."""
    char = line[position]
    key = _KEY.match(line, position)
    if key:
        return _span("key", key.group()), key.end(), False, depth
    quoted = _QUOTED.match(line, position)
    if quoted:
        return _span("string", quoted.group()), quoted.end(), False, depth
    if char == "-" and line[position + 1 : position + 2] in ("", " ", "\t"):
        return "-", position + 1, True, depth
    if char in "[{":
        return char, position + 1, True, depth + 1
    plain = (_PLAIN_FLOW if depth else _PLAIN_BLOCK).match(line, position)
    if plain:
        return _scalar(plain.group()), plain.end(), False, depth
    return None


def highlight(source: str) -> Markup:
    """A YAML document as escaped HTML, line by line, for a ``<pre>``."""
    return Markup("\n").join(highlight_line(line) for line in source.splitlines())

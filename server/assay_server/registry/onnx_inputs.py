"""The inputs an ONNX graph declares, checked against a version's features at registration.

The web process never loads a model (workers do, ``explain/``), so the graph's inputs are read
here from the file's protobuf encoding by a small reader of the wire format: field numbers and
lengths, no code, nothing but the few fields below. A file this reader cannot follow is left
unchecked here (the worker refuses it when it is loaded).

What the explain worker feeds a graph (``explain/loading.py``, ``OnnxModel``) decides what must
match: a graph with one input takes every feature as one tensor, so its width (when the graph
states it) must be the number of features; a graph with several inputs takes one per feature,
so their names must be the features'.

The fields read (onnx.proto): ``ModelProto.graph`` (7); ``GraphProto.input`` (11) and
``.initializer`` (5, whose names older graphs also list as inputs); ``ValueInfoProto.name`` (1)
and ``.type`` (2); ``TypeProto.tensor_type`` (1); ``TypeProto.Tensor.shape`` (2);
``TensorShapeProto.dim`` (1); ``Dimension.dim_value`` (1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ValidationFailed

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_MAX_SHOWN = 20


class _Malformed(Exception):
    """The bytes are not the protobuf encoding this reader expects."""


@dataclass(frozen=True)
class GraphInput:
    """One declared input of a graph: its name, and its second dimension when stated."""

    name: str
    width: int | None


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of each field of one message."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed
        value: int | memoryview
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == _BYTES:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise _Malformed
            value, at = data[at : at + length], at + length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if at + size > len(data):
                raise _Malformed
            value, at = 0, at + size
        else:  # groups (3, 4) are not used by ONNX; anything else is not protobuf
            raise _Malformed
        yield number, wire, value


def _message(data: memoryview, number: int) -> Iterator[memoryview]:
    for field, wire, value in _fields(data):
        if field == number and wire == _BYTES:
            assert isinstance(value, memoryview)
            yield value


def _name(data: memoryview) -> str | None:
    for value in _message(data, 1):
        return bytes(value).decode("utf-8", errors="replace")
    return None


def _width(value_info: memoryview) -> int | None:
    """The second dimension of a tensor input, when the graph states it as a number."""
    for type_proto in _message(value_info, 2):
        for tensor in _message(type_proto, 1):
            for shape in _message(tensor, 2):
                dims = list(_message(shape, 1))
                if len(dims) != 2:
                    return None
                for field, wire, value in _fields(dims[1]):
                    if field == 1 and wire == _VARINT:
                        assert isinstance(value, int)
                        return value
                return None
    return None


def graph_inputs(path: Path) -> list[GraphInput] | None:
    """The inputs an ONNX file's graph takes (initializers excluded); None when the file is
    not an ONNX model this reader can follow."""
    data = memoryview(path.read_bytes())
    try:
        graph = next(_message(data, 7), None)
        if graph is None:
            return None
        initialized = {_name(tensor) for tensor in _message(graph, 5)}
        found = []
        for value_info in _message(graph, 11):
            name = _name(value_info)
            if name is None:
                return None
            if name not in initialized:
                found.append(GraphInput(name, _width(value_info)))
    except _Malformed:
        return None
    return found or None


def check_graph_inputs(inputs: list[GraphInput], features: list[str]) -> None:
    """Refuse (:class:`ValidationFailed`, 422) a graph that does not take the version's
    features: one tensor input of another width, or inputs named otherwise."""
    one_named_feature = len(features) > 1 and inputs[0].name in features
    if len(inputs) == 1 and not one_named_feature:
        # one tensor of every feature, in the schema's order
        width = inputs[0].width
        if width is not None and width != len(features):
            raise ValidationFailed(
                "",
                details={
                    "features": [
                        f"The ONNX model takes {width} features in its input "
                        f"{inputs[0].name!r}; the version has {len(features)}."
                    ]
                },
            )
        return
    names = [item.name for item in inputs]
    only_version = [name for name in features if name not in names]
    only_model = [name for name in names if name not in features]
    if only_version or only_model:
        raise ValidationFailed(
            "",
            details={
                "features": [
                    "The ONNX model's inputs are not the version's features: only in the "
                    f"version {only_version[:_MAX_SHOWN]}, only in the model "
                    f"{only_model[:_MAX_SHOWN]}. Declare the features the model was "
                    "converted with, or send reference data with those columns."
                ]
            },
        )

"""The types routes and services give what a registry request schema loads name exactly the
schema's fields, so the schema stays the one definition of each request's shape."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from dataclasses import is_dataclass
from typing import Any

import pytest
from marshmallow import Schema

from assay_server.registry.benchmark_schemas import (
    BenchmarkCreateArgs,
    BenchmarkCreateSchema,
    BenchmarkListArgs,
    BenchmarkListArgsSchema,
    LeaderboardArgs,
    LeaderboardArgsSchema,
)
from assay_server.registry.registration import LineageSpec
from assay_server.registry.schemas import (
    LineageSchema,
    ModelCreateArgs,
    ModelCreateSchema,
    ModelListArgs,
    ModelListArgsSchema,
    ModelUpdateSchema,
    VersionCreateSchema,
    VersionListArgs,
    VersionListArgsSchema,
    VersionUpdateSchema,
)
from assay_server.registry.service import ModelChanges, VersionChanges, VersionSpec


def declared_keys(shape: Any) -> set[str]:
    """The keys a TypedDict declares, or the fields of a dataclass."""
    if is_dataclass(shape):
        return {f.name for f in dataclass_fields(shape)}
    return set(shape.__annotations__)


@pytest.mark.parametrize(
    ("schema", "shape"),
    [
        (ModelCreateSchema, ModelCreateArgs),
        (ModelUpdateSchema, ModelChanges),
        (ModelListArgsSchema, ModelListArgs),
        (VersionCreateSchema, VersionSpec),
        (LineageSchema, LineageSpec),
        (VersionUpdateSchema, VersionChanges),
        (VersionListArgsSchema, VersionListArgs),
        (BenchmarkCreateSchema, BenchmarkCreateArgs),
        (BenchmarkListArgsSchema, BenchmarkListArgs),
        (LeaderboardArgsSchema, LeaderboardArgs),
    ],
    ids=lambda item: item.__name__,
)
def test_each_request_type_names_the_fields_its_schema_loads(
    schema: type[Schema], shape: Any
) -> None:
    assert declared_keys(shape) == set(schema().fields)

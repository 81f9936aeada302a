"""Each comparison request schema loads exactly the keys of the TypedDict the view receives."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema

from assay_server.monitoring.comparison_schemas import (
    ComparisonArgs,
    ComparisonArgsSchema,
    TrafficArgs,
    TrafficArgsSchema,
)

pytestmark = pytest.mark.store_independent


@pytest.mark.parametrize(
    ("schema", "shape"),
    [(ComparisonArgsSchema, ComparisonArgs), (TrafficArgsSchema, TrafficArgs)],
    ids=lambda item: item.__name__,
)
def test_each_request_type_names_the_fields_its_schema_loads(
    schema: type[Schema], shape: Any
) -> None:
    assert set(shape.__annotations__) == set(schema().fields)
    assert set(
        schema().load({"champion": "1", "challenger": "2"} if shape is ComparisonArgs else {})
    ) == set(shape.__annotations__)

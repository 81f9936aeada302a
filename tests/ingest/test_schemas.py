"""The request shapes: each TypedDict a view is typed with names what its schema loads."""

from __future__ import annotations

import pytest
from marshmallow import missing

from assay_server.ingest import schemas

pytestmark = pytest.mark.store_independent  # pure: the SQLite run is enough


@pytest.mark.parametrize(
    ("schema", "loaded"),
    [
        (schemas.IngestArgsSchema, schemas.IngestArgs),
        (schemas.LabelSchema, schemas.Label),
        (schemas.LabelBatchSchema, schemas.LabelBatch),
        (schemas.WindowArgsSchema, schemas.WindowArgs),
        (schemas.PredictionListArgsSchema, schemas.PredictionListArgs),
        (schemas.ExportArgsSchema, schemas.ExportArgs),
    ],
    ids=lambda item: item.__name__,
)
def test_a_loaded_request_has_the_keys_its_typeddict_names(schema, loaded):
    fields = schema().fields
    always = {
        name
        for name, field in fields.items()
        if field.required or field.load_default is not missing
    }
    assert loaded.__required_keys__ == always
    assert loaded.__optional_keys__ == set(fields) - always

"""Schema fuzzing of the whole API (schemathesis, in-process): no input gets a server
error, and every answer is one the OpenAPI document declares, with and without keys."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fraudstream.api import create_app
from fraudstream.config import Settings
from fraudstream.model.artifact import Model
from fraudstream.runtime import Runtime, build_runtime

# Not `positive_data_acceptance`: the schema cannot say everything validation checks
# (ISO codes, the clock's skew, invisible characters), so a schema-valid body may get 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
ADMIN = "fuzz-admin-key-0123456789"
#: An endless event stream: a request never ends, so it cannot be fuzzed like the rest.
STREAMS = {"/v1/events"}
EXAMPLES = 25


@pytest.fixture(scope="module", params=["open", "keys"])
def api(
    request: pytest.FixtureRequest, trained_model: Model, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str]]]:
    keyed = request.param == "keys"
    home: Path = tmp_path_factory.mktemp(request.param)
    values: dict[str, Any] = {"home": home, "max_batch": 20}
    if keyed:
        values |= {"api_keys": f"{ADMIN}:score,read,label,admin,metrics", "docs": True}
    runtime: Runtime = build_runtime(Settings.model_validate(values), model=trained_model)
    runtime.start()
    app = create_app(runtime=runtime)
    yield app, ({"X-API-Key": ADMIN} if keyed else {})
    runtime.stop()


def operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in STREAMS:
            found.append(operation)
    return found


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    """`EXAMPLES` generated requests to one operation, each answered as the document declares."""

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        case.call_and_validate(headers=headers, checks=CHECKS)

    # Unsatisfiable: nothing invalid can be made of an operation without parameters.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_server_error_or_an_undeclared_answer(
    api: tuple[Any, dict[str, str]], mode: GenerationMode
) -> None:
    app, headers = api
    found = operations(app)
    assert len(found) >= 10
    for operation in found:
        fuzz(operation, mode, headers)

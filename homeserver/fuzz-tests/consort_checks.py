"""Checks the specification fuzz test adds to schemathesis's own: every answer of a Matrix
homeserver is JSON (a dropped connection is already a failure: schemathesis reports it as an
error and exits non-zero). Loaded through SCHEMATHESIS_HOOKS by homeserver/tests/it/spec_fuzz.rs."""

import json

import schemathesis


@schemathesis.check
def json_answer(ctx, response, case):
    """The answer's body parses as JSON (an object, or the array some endpoints answer with),
    whatever the status."""
    body = response.content or b""
    try:
        value = json.loads(body)
    except ValueError as err:
        raise AssertionError(
            f"answer {response.status_code} is not JSON ({err}): {body[:200]!r}"
        ) from None
    if not isinstance(value, (dict, list)):
        raise AssertionError(
            f"answer {response.status_code} is JSON but neither an object nor an array: {body[:200]!r}"
        )

"""ErrorBody and FieldClash: a vendor's error answer and its "already taken" read from data.

The answers are the vendors' documented error bodies (the vendor modules declare the
readers; their own tests read them through the contract fakes).
"""

import httpx
import pytest

from provisioning.connectors.messages import PROBLEM_DETAILS, ErrorBody, FieldClash, field_errors

NESTED = ErrorBody(message=(("error",), ("error", "message")), fields=("error", "errors"))
ODATA = ErrorBody(
    message=(("error", "message"),),
    code=("error", "code"),
    inner=("error", "innererror", "message"),
    silent={401: "register the app"},
)


@pytest.mark.parametrize(
    ("reader", "response", "expected"),
    [
        (NESTED, httpx.Response(400, json={"error": "Forbidden"}), "Forbidden"),
        (NESTED, httpx.Response(400, json={"error": {"message": "Nope"}}), "Nope"),
        (
            NESTED,
            httpx.Response(422, json={"error": {"message": "Bad", "errors": {"a": ["x", "y"]}}}),
            "Bad (a: x y)",
        ),
        # nothing where declared: the generic reader still finds the message
        (NESTED, httpx.Response(500, json={"message": "Server Error"}), "Server Error"),
        (NESTED, httpx.Response(502, text="Bad gateway"), "Bad gateway"),
        (
            ODATA,
            httpx.Response(
                400,
                json={
                    "error": {
                        "code": "E1",
                        "message": "Failed",
                        "innererror": {"message": "Failed"},
                    }
                },
            ),
            "E1: Failed",  # the inner message repeats the outer one: said once
        ),
        (ODATA, httpx.Response(401), "register the app"),
        (ODATA, httpx.Response(403), None),
        (ODATA, httpx.Response(400, json={"error": {"code": "E2"}}), "{'code': 'E2'}"),
    ],
)
def test_error_body_reads_the_declared_members(
    reader: ErrorBody, response: httpx.Response, expected: str | None
) -> None:
    assert reader(response) == expected


def test_a_header_message_comes_before_the_body() -> None:
    reader = ErrorBody(header="X-Error", message=(("error", "message"),))
    both = httpx.Response(400, headers={"X-Error": "from header"}, json={"error": {"message": "b"}})
    assert reader(both) == "from header"
    assert reader(httpx.Response(400, json={"error": {"message": "b"}})) == "b"


def test_field_errors_as_a_list_or_a_map_in_the_vendors_form() -> None:
    rails = ErrorBody(message=(("error",),), fields=("errors",), field_form="{name} {texts}")
    body = {"errors": {"email": ["is invalid"], "last_name": "is too long"}}
    assert rails(httpx.Response(422, json=body)) == "email is invalid; last_name is too long"
    assert rails(httpx.Response(503, json={"errors": ["down", "soon"]})) == "down; soon"

    problem = ErrorBody(
        message=(("title",),), fields=("errors",), with_fields="{message}; {fields}"
    )
    body = {"title": "Invalid.", "errors": {"Id": ["Required."]}}
    assert problem(httpx.Response(400, json=body)) == "Invalid.; Id: Required."


TAKEN = FieldClash(422, ("error", "errors"), {"email"}, ("has already been taken",))


@pytest.mark.parametrize(
    ("response", "clash"),
    [
        (
            httpx.Response(422, json={"error": {"errors": {"email": ["Has already been taken."]}}}),
            True,
        ),
        (
            httpx.Response(422, json={"error": {"errors": {"Email": "has already been taken"}}}),
            True,
        ),
        # another field taken, the email refused for another reason, another status
        (
            httpx.Response(422, json={"error": {"errors": {"login": ["has already been taken"]}}}),
            False,
        ),
        (httpx.Response(422, json={"error": {"errors": {"email": ["is invalid"]}}}), False),
        (
            httpx.Response(400, json={"error": {"errors": {"email": ["has already been taken"]}}}),
            False,
        ),
        (httpx.Response(422, text="<html>"), False),
    ],
)
def test_field_clash_is_a_unique_field_said_taken(response: httpx.Response, clash: bool) -> None:
    assert TAKEN(response) is clash


def test_field_errors_reads_a_map_and_ignores_anything_else() -> None:
    assert field_errors({"e": {"a": "x", "b": ["y", 1]}}, ("e",)) == {"a": ["x"], "b": ["y", "1"]}
    assert field_errors({"e": ["x"]}, ("e",)) == {}
    assert field_errors({"e": {"a": "x"}}, None) == {}


def test_problem_details_read_detail_else_title_then_the_field_errors() -> None:
    """RFC 7807 §3.1: ``title`` is a summary, ``detail`` this occurrence's explanation."""
    body = {"title": "Validation failed", "errors": {"login": ["is already used"]}}
    assert PROBLEM_DETAILS(httpx.Response(400, json=body)) == (
        "Validation failed; login: is already used"
    )
    detailed = {"title": "Bad Request", "detail": "departmentId 9 does not exist"}
    assert PROBLEM_DETAILS(httpx.Response(400, json=detailed)) == "departmentId 9 does not exist"

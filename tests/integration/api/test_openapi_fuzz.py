"""Every operation of the OpenAPI schema, fed hostile values, never answers 5xx.

A small schema-driven fuzzer in the spirit of schemathesis (not installed here): for each
operation it walks the declared parameters and request body, substitutes edge-case and
random values one at a time (authenticated and not), and checks that the answer is below
500 and, for 4xx, has the JSON error shape.
"""

import json
import random
import string
import urllib.parse
import uuid
from typing import Any

import pytest

RNG = random.Random(20251126)

HOSTILE_STRINGS = [
    "",
    " ",
    "DEMO_HNW",
    "DEMO_INDIVIDUAL",
    "x" * 300,
    "\x00",
    "%00",
    "../../etc/passwd",
    "'; DROP TABLE portfolio; --",
    "\u00e9\u4e2d\U0001f600",
    "2025-02-30",
    "-1",
    "1e309",
    "NaN",
    "null",
    "{}",
    "<script>alert(1)</script>",
]
HOSTILE_INTEGERS = [0, -1, 1, 2, 199, 200, 201, 2**31, 2**63, 2**64, "abc", "1.5", ""]
HOSTILE_DATES = ["2025-01-02", "0001-01-01", "9999-12-31", "2025-13-01", "2025-1-1", "x", "1e9"]


def random_string() -> str:
    alphabet = string.printable + "\u00e9\u00df\u4e2d\U0001f600\x00"
    return "".join(RNG.choice(alphabet) for _ in range(RNG.randint(0, 40)))


def random_header() -> bytes:
    """Printable ASCII and Latin-1 bytes (what may travel in a header value)."""
    codes = [*range(0x20, 0x7F), *range(0xA0, 0x100)]
    return bytes(RNG.choice(codes) for _ in range(RNG.randint(0, 60)))


def candidates(schema: dict[str, Any]) -> list[Any]:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    formats = {schema.get("format")} | {s.get("format") for s in schema.get("anyOf", [])}
    if "date" in formats:
        return [*HOSTILE_DATES, random_string()]
    if "uuid" in formats:
        return [str(uuid.uuid4()), "not-a-uuid", "", *HOSTILE_STRINGS[:6]]
    if "integer" in kinds:
        return [*HOSTILE_INTEGERS, random_string()]
    return [*HOSTILE_STRINGS, *(random_string() for _ in range(3))]


def body_candidates(schema: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    ref = schema.get("$ref", "")
    resolved = components.get(ref.rsplit("/", 1)[-1], schema)
    properties = resolved.get("properties", {})
    valid = {name: "demo12345" if name == "password" else "a@b.co" for name in properties}
    if "question" in properties:
        valid = {"question": "What is my VaR?"}
    bodies: list[Any] = [valid, {}, [], None, "text", 42]
    value: Any
    for name in properties:
        for value in (None, 1, [], {}, "", "x" * 5000, "a\x00b@c.de", "\ud800", random_string()):
            bodies.append({**valid, name: value})
        bodies.append({k: v for k, v in valid.items() if k != name})
    bodies.append({**valid, "extra": {"nested": [1, 2, {"deep": True}]}})
    return bodies


def url_for(path: str, values: dict[str, Any], query: dict[str, Any] | None = None) -> str:
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
    if query:
        url += "?" + urllib.parse.urlencode({k: str(v) for k, v in query.items()})
    return url


def check(response, method: str, url: str) -> None:
    assert response.status_code < 500, (method, url, response.status_code, response.text[:300])
    if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), (url, body)


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
def test_no_operation_answers_5xx(client, hnw, authenticated):
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    headers = hnw if authenticated else {}
    sent = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            defaults = {
                p["name"]: "DEMO_HNW" if p["name"] == "portfolio_id" else "1"
                for p in parameters
                if p["in"] == "path"
            }

            body_schema = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            bodies = body_candidates(body_schema, components) if body_schema else [None]
            targets: list[tuple[str, Any]] = [(url_for(path, defaults), body) for body in bodies]
            for parameter in parameters:
                for value in candidates(parameter.get("schema", {})):
                    if parameter["in"] == "path":
                        targets.append(
                            (url_for(path, {**defaults, parameter["name"]: value}), bodies[0])
                        )
                    elif parameter["in"] == "query":
                        targets.append(
                            (url_for(path, defaults, {parameter["name"]: value}), bodies[0])
                        )
            for url, body in targets:
                if method == "get":
                    response = client.get(url, headers=headers)
                else:
                    response = client.request(
                        method.upper(),
                        url,
                        headers={**headers, "Content-Type": "application/json"},
                        content=json.dumps(body).encode(),
                    )
                check(response, method, url)
                sent += 1
            if body_schema:
                for raw in (b"", b"{", b"\xff\xfe", b"[" * 1000, b'{"question": "\\ud800"}'):
                    response = client.request(
                        method.upper(),
                        url_for(path, defaults),
                        headers={**headers, "Content-Type": "application/json"},
                        content=raw,
                    )
                    check(response, method, url_for(path, defaults))
                    sent += 1
    assert sent > 400


def test_random_paths_and_headers_never_5xx(client, hnw):
    prefixes = ["/", "/api/v1/", "/api/v1/portfolios/", "/reports/", "/api/v1/runs/", "/static/"]
    for _ in range(300):
        path = RNG.choice(prefixes) + urllib.parse.quote(random_string(), safe="/")
        headers = RNG.choice(
            [
                hnw,
                {},
                {"Authorization": b"Bearer " + random_header()},
                {"Authorization": random_header()},
                {"Cookie": b"auth_token=" + random_header()},
            ]
        )
        check(client.get(path, headers=headers), "get", path)

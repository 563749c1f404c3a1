"""/openapi.json is accurate: every status the server really answers is documented, and
schemathesis, driven against a real server with the admin token, finds no 5xx, no
undocumented status, and no body, header or content type that breaks the schema.

The suite runs a bounded number of examples; CI may ask for more with
``STORFLEET_SCHEMATHESIS_EXAMPLES`` and ``STORFLEET_SCHEMATHESIS_PHASES`` (e.g.
``examples,coverage,fuzzing,stateful``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import GUIDE_CURL_BODY, Api
from tests.api.live_server import live_server

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)
MUTATING = {"post", "put", "delete", "patch"}


def test_the_schema_documents_the_errors_the_server_answers(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "422" not in codes, (method, path)
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation
                continue
            assert "401" in codes and operation["security"] == [{"HTTPBearer": []}], path
            if method in MUTATING:
                assert "403" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if (
                operation.get("parameters")
                and any(p["in"] == "query" for p in operation["parameters"])
                or "requestBody" in operation
            ):
                assert "400" in codes, (method, path)
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    content = response["content"]["application/json"]["schema"]
                    assert content == {"$ref": "#/components/schemas/ErrorBody"}, (path, code)


def test_schemathesis_finds_nothing_undocumented(tmp_path: Path) -> None:
    examples = os.environ.get("STORFLEET_SCHEMATHESIS_EXAMPLES", "5")
    phases = os.environ.get("STORFLEET_SCHEMATHESIS_PHASES", "examples,fuzzing")
    with live_server(tmp_path) as server:
        registered = httpx.post(
            f"{server.url}/v1/storages", json=GUIDE_CURL_BODY, headers=server.headers, timeout=30
        )
        assert registered.status_code == 201, registered.text
        result = subprocess.run(
            [
                _schemathesis_command(),
                "run",
                f"{server.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {server.token}",
                "--max-examples",
                examples,
                "--phases",
                phases,
                "--checks",
                CHECKS,
                "--workers",
                "1",
                "--seed",
                os.environ.get("STORFLEET_SCHEMATHESIS_SEED", "20261122"),
                "--generation-database",
                "none",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        log = server.log.read_text()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in log, log[-4000:]


def _schemathesis_command() -> str:
    """The schemathesis of this virtualenv (it may not be on PATH)."""
    candidate = Path(sys.executable).with_name("schemathesis")
    return str(candidate) if candidate.exists() else "schemathesis"

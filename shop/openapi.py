"""
Error answers in the OpenAPI schema.

drf-spectacular documents each operation's success response only. Clients (and schemathesis)
also rely on the error answers, which all come from shop.api.exception_handler in one shape, so
this post-processing hook adds them to every operation once, instead of decorating each view.
"""

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Every 4xx/503 answer. `detail` says what is wrong and `code` names it; an invalid request "
        'body instead maps each offending field to its messages (e.g. {"lines": ["This field is required."]}).'
    ),
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "code": {"type": "string"},
        "field": {"type": "string", "description": "The request field the error is about, when there is one."},
    },
    "additionalProperties": True,
}

WRITE_METHODS = {"post", "put", "patch", "delete"}

DESCRIPTIONS = {
    "400": "Invalid input; nothing was changed.",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object (or not yours), or no such page.",
    "409": "Not allowed in the object's current state (e.g. cancelling a shipped order).",
    "415": "The request body's Content-Type is not one this operation reads (see its requestBody).",
    "422": "Idempotency-Key reused with a different request body.",
    "429": "Throttled; see Retry-After.",
    "503": "A service it needs (the database; Redis for baskets and streams) is down; retry after Retry-After seconds.",
}


def error_codes_for(path: str, method: str, operation: dict) -> list[str]:
    codes = ["401", "403", "429", "503"]
    if operation.get("requestBody") or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        codes.append("400")
    if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", [])):
        codes.append("404")  # an unknown id, or a page past the last one
    if method in WRITE_METHODS:
        codes += ["400", "409", "422"]
    if operation.get("requestBody"):
        codes.append("415")
    return sorted(set(codes))


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: document the error answers of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in error_codes_for(path, method, operation):
                responses.setdefault(code, {"description": DESCRIPTIONS[code], "content": error})
    return result

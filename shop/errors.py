"""Errors services raise for the caller to show; the API maps each to a 4xx/503."""


class ServiceError(Exception):
    """Bad request for this state of the shop; nothing was changed."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Unprocessable(ServiceError):
    status_code = 422
    code = "unprocessable"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"

"""Errors as Tinybird answers them: a status code and {"error", "documentation"}."""

DOCS = "https://www.tinybird.co/docs/api-reference"


class ApiError(Exception):
    """An error a client gets back, with Tinybird's status code."""

    status = 400
    documentation = f"{DOCS}/overview#errors"

    def __init__(self, message: str, documentation: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}  # sent with the answer (a 429's Retry-After and X-RateLimit-*)
        if documentation:
            self.documentation = documentation

    def body(self) -> dict:
        """The JSON body Tinybird sends for this error."""
        return {"error": self.message, "documentation": self.documentation}


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403
    documentation = f"{DOCS}/token-api"


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class Timeout(ApiError):
    status = 408
    documentation = f"{DOCS}/query-api"


class TooLarge(ApiError):
    status = 413
    documentation = f"{DOCS}/events-api#limits"


class UriTooLong(ApiError):
    status = 414
    documentation = f"{DOCS}/query-api"


class TooManyRequests(ApiError):
    status = 429
    documentation = f"{DOCS}/overview#limits"


class Unavailable(ApiError):
    status = 503


class InsufficientStorage(ApiError):
    """The data dir cannot take the rows (disk full or read-only): nothing of the request was written."""

    status = 507
    documentation = f"{DOCS}/events-api#limits"

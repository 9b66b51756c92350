"""JSON errors: ``{"error": "<what to fix>", "code": <HTTP status>}`` for every failure."""

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses; `code` is the HTTP status (4xx), `message` says what to fix."""

    def __init__(self, code, message, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(code, message, headers=None):
    """A Flask JSON response {"error": message, "code": code} with that status."""
    response = jsonify(error=message, code=code)
    response.status_code = code
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_api_error(error):
    return error_response(error.code, error.message, error.headers)


def handle_http_exception(error):
    """Werkzeug's 404/405/413/... as JSON (keeps e.g. the Allow header of a 405)."""
    headers = {k: v for k, v in error.get_headers() if k.lower() not in ("content-type", "content-length")}
    return error_response(error.code or 500, error.description or error.name, headers)


def handle_unexpected(error):
    """Any other exception: logged with its traceback, answered as a JSON 500 without details."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("Unhandled error while serving a request")
    return error_response(500, "internal server error; see the server log")


def register_error_handlers(target):
    """Register the JSON handlers on a Flask app or blueprint (blueprint: only its own views)."""
    target.register_error_handler(ApiError, handle_api_error)
    target.register_error_handler(HTTPException, handle_http_exception)
    target.register_error_handler(Exception, handle_unexpected)

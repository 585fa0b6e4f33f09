"""The catalog's own exceptions; the API maps each to one HTTP status."""

from __future__ import annotations


class CatalogError(Exception):
    """Base class: a problem with the request or the stored state, described for the caller."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict:
        """JSON body for an error response."""
        body = {"error": type(self).__name__, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.details)
        return body


class ConfigError(CatalogError):
    """A deployment setting is missing or malformed."""


class BadRequest(CatalogError):
    """Malformed input: unparseable body, bad parameter."""


class ValidationFailed(CatalogError):
    """Well-formed input that breaks a schema or domain rule."""

    status = 422


class NotFound(CatalogError):
    """The named entity does not exist."""

    status = 404


class Conflict(CatalogError):
    """The request contradicts stored state (e.g. an immutable version)."""

    status = 409


class PayloadTooLarge(CatalogError):
    """The request body exceeds the configured limit."""

    status = 413


class SchemaNotCurrent(CatalogError):
    """The database is not at the migrations' head revision."""

    status = 503


class PromotionRefused(Conflict):
    """A model version may not take an alias: its data failed checks or its metrics regressed."""


class Unauthorized(CatalogError):
    """No credentials, or credentials that are unknown, expired or revoked."""

    status = 401


class Forbidden(CatalogError):
    """Authenticated, but the role lacks the permission the endpoint needs."""

    status = 403


class UnsupportedMediaType(CatalogError):
    """The body's Content-Type is not one the endpoint reads (JSON endpoints read JSON only)."""

    status = 415


class TooManyRequests(CatalogError):
    """A limit on concurrent work is reached; the client may retry later."""

    status = 429


class Unavailable(CatalogError):
    """The server cannot do this now, or is not set up to (the message says which setting)."""

    status = 503


class DatabaseBusy(CatalogError):
    """The transaction kept losing races with concurrent writers; the client should retry later."""

    status = 503


class QueryTimeout(CatalogError):
    """A statement ran past the configured statement timeout and was cancelled."""

    status = 503


class DatabaseUnavailable(CatalogError):
    """The database could not be reached (refused, dropped or timed-out connection)."""

    status = 503


class TooManyAttempts(CatalogError):
    """Too many failed logins recently; the client must wait."""

    status = 429


class LoginFailed(CatalogError):
    """Unknown user, wrong password or disabled account (never says which)."""

    status = 401

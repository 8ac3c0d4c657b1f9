"""Domain errors raised by services. The API exception handler and the views turn them
into HTTP responses (status_code) or form errors (message)."""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message, *, field_errors=None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class ValidationFailed(DomainError):
    status_code = 400
    code = "invalid"


class InvalidTransition(DomainError):
    status_code = 409
    code = "invalid_transition"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class NotAllowed(DomainError):
    status_code = 403
    code = "permission_denied"

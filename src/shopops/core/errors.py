"""Domain errors: services raise them, one handler turns them into 4xx responses."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the action. `code` is machine-readable, the message is for people."""

    code = "domain_error"
    status = 400

    def __init__(
        self, message: str, *, fields: dict[str, str] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code

    def as_body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class InvalidInput(DomainError):
    code = "invalid"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


def required_text(value: str | None, *, field: str, label: str, max_length: int) -> str:
    """Stripped, non-empty text of at most `max_length` characters, or an InvalidInput naming `field`."""
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{label}不能为空", fields={field: "必填"})
    if len(text) > max_length:
        raise InvalidInput(
            f"{label}不能超过 {max_length} 个字符", fields={field: f"最多 {max_length} 个字符"}
        )
    return text

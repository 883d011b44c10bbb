"""The one error for a value that cannot be used, named by the field or parameter it came in."""

from __future__ import annotations


class FieldError(ValueError):
    """A value that parses but breaks a rule, with where it came from.

    `field` is a path in a JSON body (`items[0].status`) or, when `parameter` is true, the name
    of a query or path parameter (`from`, `brandId`). The API answers a body's with 422
    `invalid_field` and a parameter's with 400 `invalid_parameter`; a page shows the message
    next to the field.
    """

    def __init__(self, field: str | None, message: str, *, parameter: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.parameter = parameter

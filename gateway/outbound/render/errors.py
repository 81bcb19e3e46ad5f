"""The error of rendering: terminal, so the caller dead-letters the event."""

from __future__ import annotations

from gateway.errors import TerminalError

# Reason codes (the DeadLetter's reason_code)
REQUIRED_MISSING = "RENDER_REQUIRED_MISSING"  # a rule with `required: true` found no value
VALUE_INVALID = "RENDER_VALUE_INVALID"  # a value the rule cannot write (not in a map, too many decimals, ...)
UNENCODABLE = "UNENCODABLE_CHARACTER"  # a character the document's character set cannot carry
EVENT_INVALID = "RENDER_EVENT_INVALID"  # the record does not match its schema, or is not the route's event
CONTROL_NUMBER_INVALID = "RENDER_CONTROL_NUMBER_INVALID"  # a control number that does not fit its element
EMPTY = "RENDER_EMPTY"  # the template wrote nothing for this event


class RenderError(TerminalError):
    """An event cannot become its document: retrying cannot help.

    ``code`` is one of the reason codes above; ``partner_id`` and ``route`` name
    the route, ``where`` the template rule (``file:line: outbound[0].template[3]...``),
    ``field`` the event path it reads, ``tag`` and ``position`` the element.
    """

    def __init__(self, code: str, text: str, *, partner_id: str = "", route: str = "", where: str = "",
                 field: str | None = None, tag: str | None = None, position: str | None = None) -> None:
        self.code = code
        self.text = text
        self.partner_id = partner_id
        self.route = route
        self.where = where
        self.field = field
        self.tag = tag
        self.position = position
        head = f"route '{route}' of {partner_id}" if route else "rendering"
        spot = f" ({where})" if where else ""
        super().__init__(f"{code}: {head}{spot}: {text}")

    @property
    def line(self) -> int | None:
        """The template line of the rule (from ``where``)."""
        first = self.where.split(": ", 1)[0]
        tail = first.rsplit(":", 1)
        return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None

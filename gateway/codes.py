"""The catalogue of syntax issue codes.

Each code says at which level it is found and how it is reported back to the
partner in either acknowledgement family:

* X12: ``ta1`` (I18, interchange note code), ``ak9`` (716, group), ``ak5``
  (717/718, transaction set), ``ak3`` (720, segment), ``ak4`` (723, element).
* EDIFACT: ``contrl`` (0085, syntax error code used in UCI/UCF/UCM/UCS/UCD).

Acknowledgement builders read these numbers; nothing else in the code base
hard-codes an acknowledgement code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(str, Enum):
    DOCUMENT = "document"
    INTERCHANGE = "interchange"
    GROUP = "group"
    MESSAGE = "message"
    SEGMENT = "segment"
    ELEMENT = "element"


class Severity(str, Enum):
    ERROR = "error"  # the unit it belongs to is rejected
    WARNING = "warning"  # accepted, but reported (tolerated deviation)


@dataclass(frozen=True, slots=True)
class CodeInfo:
    level: Level
    text: str
    severity: Severity = Severity.ERROR
    ta1: str | None = None
    ak9: str | None = None
    ak5: str | None = None
    ak3: str | None = None
    ak4: str | None = None
    contrl: str | None = None


I, G, M, S, E = Level.INTERCHANGE, Level.GROUP, Level.MESSAGE, Level.SEGMENT, Level.ELEMENT
W = Severity.WARNING

CODES: dict[str, CodeInfo] = {
    # -- whole document ---------------------------------------------------
    "NOT_EDI": CodeInfo(Level.DOCUMENT, "input is not an EDIFACT, X12 or XML document"),
    "EMPTY_DOCUMENT": CodeInfo(Level.DOCUMENT, "the document is empty"),
    "XML_MALFORMED": CodeInfo(Level.DOCUMENT, "the XML document is not well-formed"),
    "XML_FORBIDDEN": CodeInfo(Level.DOCUMENT, "the XML document uses a forbidden construct"),
    "XML_TOO_LARGE": CodeInfo(Level.DOCUMENT, "the XML document exceeds the size limit"),
    "XML_SCHEMA_INVALID": CodeInfo(Level.DOCUMENT, "the XML document is not valid against its schema"),
    # -- interchange envelope ---------------------------------------------
    "INTERCHANGE_HEADER_INVALID": CodeInfo(
        I, "the interchange header is truncated or malformed", ta1="022", contrl="12"
    ),
    "SEGMENT_TERMINATOR_INVALID": CodeInfo(I, "the segment terminator is invalid", ta1="004", contrl="20"),
    "SEPARATOR_INVALID": CodeInfo(I, "a service character is invalid or used twice", ta1="026", contrl="20"),
    "SYNTAX_VERSION_UNSUPPORTED": CodeInfo(
        I, "the syntax identifier or version is not supported", ta1="003", contrl="2"
    ),
    "CHARSET_UNKNOWN": CodeInfo(I, "the declared character set is not known", contrl="2"),
    "INVALID_CHARACTER": CodeInfo(
        S, "bytes are not valid in the declared character set", severity=W, ak4="6", contrl="21"
    ),
    "INTERCHANGE_TRAILER_MISSING": CodeInfo(
        I, "the interchange trailer (UNZ/IEA) is missing", ta1="023", contrl="13"
    ),
    "INTERCHANGE_REF_MISMATCH": CodeInfo(
        I, "the interchange trailer's control reference differs from the header's", ta1="001", contrl="28"
    ),
    "INTERCHANGE_COUNT_MISMATCH": CodeInfo(
        I, "the interchange trailer's count differs from the groups/messages received", ta1="021", contrl="29"
    ),
    "TRAILING_DATA": CodeInfo(I, "data follows the interchange trailer", ta1="022", contrl="33"),
    # found by the intake, not the reader: the partner sent this control reference before
    "INTERCHANGE_DUPLICATE": CodeInfo(
        I, "the partner sent an interchange with this control reference before", ta1="025", contrl="26"
    ),
    "SEGMENT_OUTSIDE_ENVELOPE": CodeInfo(
        I, "a segment stands outside any message or group", ta1="024", ak3="2", contrl="33"
    ),
    "GROUPS_AND_MESSAGES_MIXED": CodeInfo(
        I, "the interchange mixes functional groups and bare messages", ta1="024", contrl="30"
    ),
    "ENVELOPE_ELEMENT_INVALID": CodeInfo(
        I, "an envelope element has an invalid value", ta1="024", ak4="7", contrl="12"
    ),
    # -- functional group -------------------------------------------------
    "GROUP_TRAILER_MISSING": CodeInfo(G, "the group trailer (UNE/GE) is missing", ak9="3", contrl="13"),
    "GROUP_REF_MISMATCH": CodeInfo(
        G, "the group trailer's control reference differs from the header's", ak9="4", contrl="28"
    ),
    "GROUP_COUNT_MISMATCH": CodeInfo(
        G, "the group trailer's message count differs from the messages received", ak9="5", contrl="29"
    ),
    "GROUP_HEADER_INVALID": CodeInfo(G, "the group header is malformed", ak9="6", ta1="024", contrl="12"),
    # -- message / transaction set ----------------------------------------
    "MESSAGE_TRAILER_MISSING": CodeInfo(M, "the message trailer (UNT/SE) is missing", ak5="2", contrl="13"),
    "MESSAGE_REF_MISMATCH": CodeInfo(
        M, "the message trailer's reference differs from the header's", ak5="3", contrl="28"
    ),
    "MESSAGE_SEGMENT_COUNT_MISMATCH": CodeInfo(
        M, "the message trailer's segment count differs from the segments received", ak5="4", contrl="29"
    ),
    "MESSAGE_HEADER_INVALID": CodeInfo(
        M, "the message header is malformed (type or reference missing)", ak5="6", contrl="12"
    ),
    "MESSAGE_REF_DUPLICATE": CodeInfo(
        M, "the message reference is used twice in the same group/interchange", ak5="23", contrl="26"
    ),
    "MESSAGE_HAS_SEGMENT_ERRORS": CodeInfo(M, "one or more segments are in error", ak5="5", contrl="12"),
    # -- segment / element ------------------------------------------------
    "SEGMENT_TAG_INVALID": CodeInfo(S, "the segment tag is not a valid tag", ak3="1", contrl="12"),
    "SEGMENT_HAS_ELEMENT_ERRORS": CodeInfo(S, "one or more elements of the segment are in error", ak3="8"),
    "TRAILING_SEPARATOR": CodeInfo(
        S, "the segment ends with empty elements that should have been suppressed", severity=W, ak3="8", contrl="12"
    ),
    "BINARY_LENGTH_INVALID": CodeInfo(
        S, "a binary segment's length is not numeric or does not match its data", ak3="8", ak4="6", contrl="12"
    ),
    "ELEMENT_MISSING": CodeInfo(E, "a mandatory element is missing", ak4="1", contrl="13"),
    "ELEMENT_TOO_LONG": CodeInfo(E, "an element is longer than allowed", ak4="5", contrl="39"),
    "ELEMENT_NOT_NUMERIC": CodeInfo(E, "an element that must be numeric is not", ak4="6", contrl="37"),
    "ELEMENT_DATE_INVALID": CodeInfo(E, "an element is not a valid date", ak4="8", contrl="12"),
    "ELEMENT_TIME_INVALID": CodeInfo(E, "an element is not a valid time", ak4="9", contrl="12"),
    # -- content: the message against its definitions and the partner's guide
    # (gateway.validation); X12 720/723 and EDIFACT 0085 as the standards list them
    "SEGMENT_MISSING": CodeInfo(S, "a mandatory segment is missing", ak3="3", contrl="13"),
    "SEGMENT_TOO_MANY": CodeInfo(S, "a segment occurs more often than allowed", ak3="5", contrl="35"),
    "LOOP_TOO_MANY": CodeInfo(S, "a loop (segment group) occurs more often than allowed", ak3="4", contrl="36"),
    "SEGMENT_OUT_OF_ORDER": CodeInfo(S, "a segment is not in its proper place", ak3="7", contrl="15"),
    "SEGMENT_NOT_IN_MESSAGE": CodeInfo(S, "a segment is not part of this message type", ak3="6", contrl="15"),
    "ELEMENT_TOO_SHORT": CodeInfo(E, "an element is shorter than allowed", ak4="4", contrl="40"),
    "ELEMENT_TOO_MANY": CodeInfo(E, "a segment has more elements than defined", ak4="3", contrl="16"),
    "COMPONENT_TOO_MANY": CodeInfo(E, "an element has more components than defined", ak4="3", contrl="16"),
    "ELEMENT_REPEATS_TOO_MANY": CodeInfo(E, "an element repeats more often than allowed", ak4="12", contrl="35"),
    "ELEMENT_CODE_INVALID": CodeInfo(E, "an element's value is not in its code list", ak4="7", contrl="12"),
    "ELEMENT_CONDITION_MISSING": CodeInfo(
        E, "an element required by a syntax note (paired, required, conditional) is missing", ak4="2", contrl="13"
    ),
    "ELEMENT_EXCLUSION_VIOLATED": CodeInfo(E, "elements that exclude each other are both present", ak4="10",
                                           contrl="12"),
    # -- partner, mapping, schema (after the syntax layer) -----------------
    "PARTNER_UNKNOWN": CodeInfo(I, "no partner file matches the envelope's sender", ta1="006", contrl="23"),
    "PARTNER_AMBIGUOUS": CodeInfo(I, "the envelope matches more than one partner file", ta1="006", contrl="23"),
    "PARTNER_MISMATCH": CodeInfo(I, "the envelope's sender is not the authenticated partner", ta1="006", contrl="23"),
    "ROUTE_MISSING": CodeInfo(M, "the partner has no inbound route for this message type and version",
                              ak5="1", contrl="14"),
    "MAPPING_REQUIRED_MISSING": CodeInfo(M, "a required event field found no value in the message"),
    "MAPPING_VALUE_INVALID": CodeInfo(M, "a value in the message cannot be converted to its event field"),
    "SCHEMA_INVALID": CodeInfo(M, "the mapped event does not validate against its Avro schema"),
    "PUBLISH_REFUSED": CodeInfo(M, "the event cannot be sent as it is (larger than the broker accepts, say)"),
    # -- writers ----------------------------------------------------------
    "UNENCODABLE_CHARACTER": CodeInfo(E, "a character cannot be carried by the interchange's character set"),
    "WRITE_INVALID": CodeInfo(E, "the model cannot be written as this syntax"),
}


def info(code: str) -> CodeInfo:
    """The catalogue entry for ``code`` (KeyError for an unknown code)."""
    return CODES[code]

"""The outbound template language: load-time checks, rendering, envelopes, control numbers, errors."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.archive import LocalArchive
from gateway.bootstrap import build
from gateway.config import GatewayConfig
from gateway.outbound.egress import Egress
from gateway.errors import ConfigError, TerminalError
from gateway.events.schemas import SchemaSet
from gateway.mapping.loader import check_partners
from gateway.mapping.targets import targets_of
from gateway.inbound.document import Document
from gateway.outbound.render import RenderError, load_routes, numbering, render
from gateway.outbound.render.routes import routes_from
from gateway.sinks.memory import MemorySink
from gateway.state.memory import MemoryStore
from gateway.syntax import parse
from gateway.yamlconf import loads

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaSet.load(ROOT / "schemas")
TARGETS = targets_of(SCHEMAS)
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)

HEAD = """\
partner: shop
identity:
  edifact: {sender: "5400000000001", qualifier: "14"}
  x12: {sender: SHOP, qualifier: ZZ, group_sender: SHOPGS}
timezone: Europe/Brussels
code_lists:
  unit: {PCE: C62, EA: C62, KGM: KGM, "*": C62}
"""


def partner_file(routes: str, head: str = HEAD, name: str = "shop.yaml"):
    text = head + "outbound:\n" + textwrap.indent(textwrap.dedent(routes), "  ")
    return loads(text, name)


def compile_routes(routes: str, head: str = HEAD) -> tuple[list, list[str]]:
    errors: list[str] = []
    compiled = routes_from(partner_file(routes, head), TARGETS, errors, SCHEMAS)
    return compiled, errors


def one_route(routes: str, head: str = HEAD):
    compiled, errors = compile_routes(routes, head)
    assert errors == []
    [route] = compiled
    return route


def problems(routes: str, head: str = HEAD) -> list[str]:
    return compile_routes(routes, head)[1]


def sample_event(path: str) -> dict:
    item = json.loads((ROOT / "samples" / path).read_text(encoding="utf-8"))
    item = item[0] if isinstance(item, list) else item
    return SCHEMAS.from_json(item["event_type"], item["event"])


ORDER = sample_event("edifact/orders_d96a.edi.events.json")
ORDER_1252 = sample_event("edifact/orders_d96a_windows1252.edi.events.json")
RESPONSE = sample_event("edifact/ordrsp_d96a.edi.events.json")
SHIPMENT = sample_event("x12/856_4010.x12.events.json")
INVOICE = sample_event("edifact/invoic_d96a.edi.events.json")


def edifact_route(template: str, event: str = "OrderCreated", envelope: str = "{sender: OURS}",
                  extra: str = "") -> str:
    return (f"- name: r\n  event: {event}\n  document: {{syntax: edifact, message: ORDERS, version: D96A}}\n"
            f"  envelope: {envelope}\n{extra}  template:\n" + textwrap.indent(textwrap.dedent(template), "    "))


def x12_route(template: str, event: str = "OrderCreated", envelope: str = "{sender: OURS}", message: str = "850",
              extra: str = "") -> str:
    return (f"- name: r\n  event: {event}\n  document: {{syntax: x12, message: \"{message}\", version: \"004010\"}}\n"
            f"  envelope: {envelope}\n{extra}  template:\n" + textwrap.indent(textwrap.dedent(template), "    "))


def body(doc) -> list[list]:
    """The message segments of a rendered document, as ``edigw parse`` shows them."""
    [ic] = parse(doc.data)
    assert [i for i in ic.all_issues() if i.is_error] == []
    [message] = ic.messages
    return [s.to_json() for s in message.segments[1:-1]]


def draw(route, record, numbers=None, now=NOW):
    return render(record, route, numbers=numbers or numbering(), now=now)


# -- load-time checks -------------------------------------------------------------------


def test_a_field_the_schema_lacks_is_an_error_naming_file_line_and_field():
    found = problems(edifact_route("""\
        - segment: BGM[1=220]
          elements:
            2: order_numbr
        - segment: NAD[1=BY]
          elements:
            2.1: buyer.idd
        """))
    assert found == [
        "shop.yaml:16: outbound[0].template[0].elements.2: field 'order_numbr': 'order_numbr' is not a field of "
        "OrderCreated (fields: event_id, event_type, occurred_at, received_at, partner_id, source, order_number, "
        "order_date, requested_delivery_date, currency, buyer, supplier, ship_to, notes, lines)",
        "shop.yaml:19: outbound[0].template[1].elements.2.1: field 'buyer.idd': 'idd' is not a field of buyer "
        "(fields: id, id_scheme, name, address)",
    ]


def test_rules_that_do_not_fit_their_field_are_load_errors():
    found = problems(edifact_route("""\
        - segment: BGM
          elements:
            1: buyer                                   # a record
            2: lines                                   # an array without each
            3: {path: order_number, format: "102"}     # format on a string
            4: order_date                              # a date without format
            5: {path: order_date, format: "999"}       # unknown format
            6: {path: order_number, decimals: 2}       # decimals on a string
        - segment: QTY
          each: lines
          elements:
            1: {path: unit, codes: units}              # unknown code list
            2: {path: unit, reverse: true}             # reverse without codes
            3: {path: quantity, decimals: 2, implied_decimals: 2}
        """))
    text = "\n".join(found)
    assert "elements.1: field 'buyer': is a record (id, id_scheme, name, address): name one of its fields" in text
    assert "elements.2: field 'lines': reads an array: loop over it with 'each', or use first, count or sum" in text
    assert "elements.3.format: field 'order_number': 'format' is for dates and timestamps, not string" in text
    assert "elements.4: field 'order_date': a date needs a 'format' (" in text
    assert "elements.5.format: field 'order_date': unknown format '999'" in text
    assert "elements.6.decimals: field 'order_number': 'decimals' is for numbers, not string" in text
    assert "elements.1.codes: field 'unit': code list 'units' is not defined under code_lists (defined: unit)" in text
    assert "elements.2.reverse: 'reverse' reads a code list backwards: give 'codes'" in text
    assert "elements.3: field 'quantity': give 'decimals' or 'implied_decimals', not both" in text


def test_maps_of_enums_are_checked_against_the_symbols():
    found = problems(edifact_route("""\
        - segment: BGM
          elements:
            1: {path: status, map: {ACCEPTED: "29", CHANGED: "4"}}
            2: {path: status, map: {ACCEPTD: "29", "*": "4"}}
          when: {path: status, equals: ACCEPTD}
        """, event="OrderResponded"))
    text = "\n".join(found)
    assert "elements.1.map: field 'status': does not say what REJECTED becomes (add them, or \"*\" for anything" in text
    assert "elements.2.map: field 'status': maps ACCEPTD, which status does not have (ACCEPTED, CHANGED, " in text
    assert "when: field 'status': ACCEPTD: not a symbol of status (ACCEPTED, CHANGED, REJECTED)" in text


def test_segments_positions_and_constants_are_checked():
    found = problems(edifact_route("""\
        - segment: bgm
        - segment: "NAD[1=BY|SU]"
        - segment: "NAD[1!=BY]"
        - segment: "NAD[1=BY]"
          elements: {1: buyer.id}
        - segment: LIN
          elements: {0: order_number, 2: order_number, 2.1: order_number}
        - segment: UNH
        - segment: HL
        - hl: S
          segments: []
        - segment: FTX
          segments: []
        - elements: {1: order_number}
        - element: cbc:ID
        """))
    text = "\n".join(found)
    assert "template[0].segment: 'bgm' is not a segment (expected TAG, or TAG[E=V,E.C=V] with constants)" in text
    assert "template[1].segment: '1=BY|SU' in 'NAD[1=BY|SU]' is not a constant" in text
    assert "template[2].segment: '1!=BY' in 'NAD[1!=BY]' is not a constant" in text
    assert "template[3].elements.1: element 1 is given twice (in the segment's constants and here)" in text
    assert "template[4].elements.0: '0' is not an element position" in text
    assert "template[4].elements: element 2 is given both whole (2) and by component (2.1, ...)" in text
    assert "template[5].segment: UNH is written by the envelope (the template is the message's body)" in text
    assert "template[7].hl: 'hl' levels are X12 (HL segments)" in text
    assert "template[8]: give 'segment' (one segment) or 'segments' (a group), not both" in text
    assert "template[9]: an entry needs 'segment', 'segments' (a group) or 'hl'" in text
    assert "template[10]: element: for XML routes" in text
    assert len(found) == 11  # HL is fine as an EDIFACT tag


def test_loops_and_path_prefixes_are_checked():
    found = problems(x12_route("""\
        - segment: BEG
          each: order_number
          elements: {1: .}
        - segment: PO1
          each: {path: lines, as: line}
          elements:
            1: $lin.line_number
            2: ^nothing
            3: "lines.0"
        - each: {path: lines, as: "1x"}
          segments: []
        - each: {path: lines, as: line}
          segments:
            - each: {path: /lines, as: line}
              segments: []
        """))
    text = "\n".join(found)
    assert "template[0].each: field 'order_number': is a string: 'each' goes over an array" in text
    assert "elements.1: field '$lin.line_number': '$lin' names no enclosing loop (loops here: $line)" in text
    assert "elements.2: field '^nothing': no enclosing item has a field 'nothing' (lines, OrderCreated)" in text
    assert "elements.3: field 'lines.0': 'lines.0' is not an event path" in text
    assert "template[2].each.as: '1x' is not a loop name" in text
    assert "template[3].segments[0].each.as: 'line' already names an enclosing loop" in text


def test_envelopes_are_checked_for_their_syntax():
    found = problems("""\
        - name: a
          event: OrderCreated
          document: {syntax: x12, message: "850", version: "004010", association: EAN008}
          envelope: {syntax_identifier: UNOC, sender: WAY_TOO_LONG_FOR_ISA06}
          template: [{segment: BEG}]
        - name: a
          event: OrderCreated
          document: {syntax: edifact, message: ORDERS, version: D96A}
          template: [{segment: BGM}]
        - name: b
          event: NoSuchEvent
          document: {syntax: edifact, message: ORDERS, version: D96A}
          template: [{segment: BGM}]
        - name: c
          event: OrderCreated
          document: {syntax: edifact, message: orders, version: 96A}
          envelope: {syntax_identifier: UNOQ, character_set: basic, sender: "lower"}
          filename: "{message}-{nonsense}.edi"
          template: []
        - name: d
          event: OrderCreated
          document: {syntax: x12, message: "999X", version: "004010"}
          envelope: {sender: ME}
          template: [{segment: BEG}]
        """, head=HEAD.replace('  edifact: {sender: "5400000000001", qualifier: "14"}\n', ""))
    text = "\n".join(found)
    assert "outbound[0].document: agency and association are EDIFACT (UNH S009)" in text
    assert "outbound[0].envelope.syntax_identifier: 'syntax_identifier' is for EDIFACT routes" in text
    assert "outbound[0].envelope.sender: 'WAY_TOO_LONG_FOR_ISA06' is longer than 15 characters" in text
    assert "outbound[1].name: route name 'a' is also used by outbound[0]" in text
    assert "outbound[2].event: unknown event type 'NoSuchEvent' (schemas: AcknowledgementOverdue," in text
    assert "outbound[3].document.message: 'orders' is not an EDIFACT message type" in text
    assert "outbound[3].document.version: '96A' is not an EDIFACT directory" in text
    assert "outbound[3].envelope.syntax_identifier: 'UNOQ' is not a syntax identifier" in text
    assert "outbound[3].envelope.character_set: 'character_set' is for X12 routes" in text
    assert "outbound[3].envelope: envelope.recipient is needed: the partner's id (or `sender` under " \
           "identity.edifact)" in text
    assert "outbound[4].document.message: '999X' is not an X12 transaction set" in text


def test_envelope_references_and_passwords_are_written_where_partners_expect_them(monkeypatch):
    monkeypatch.setenv("SHOP_ISA04", "S3CRET")
    x12 = one_route(x12_route("- segment: BEG[1=00, 2=SA, 3=$.order_number]\n",
                              envelope="{sender: OURS, authorization_qualifier: '03', authorization_information: "
                                       "AUTH1, security_qualifier: '01', security_information: 'env:SHOP_ISA04'}"))
    [ic] = parse(draw(x12, ORDER).data)
    assert ic.header.elements[:4] == ["03", "AUTH1     ", "01", "S3CRET    "]  # fixed width, as ISA wants
    edi = one_route(edifact_route("- segment: BGM[1=220, 2=$.order_number]\n",
                                  envelope="{sender: OURS, application_reference: ORDERS}"))
    [ic] = parse(draw(edi, ORDER).data)
    assert ic.header.get(7) == "ORDERS"  # UNB 0026
    plain = one_route(edifact_route("- segment: BGM[1=220, 2=$.order_number]\n"))
    [ic] = parse(draw(plain, ORDER).data)
    assert ic.header.get(7) == "" and len(ic.header.elements) == 5  # nothing after 0020 unless asked


def test_envelope_passwords_come_from_the_environment_and_everything_fits_its_field(monkeypatch):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    text = "\n".join(problems(x12_route("- segment: BEG[1=00]\n", envelope="{sender: OURS, "
                                        "authorization_information: ELEVENCHARSX, security_information: pw}")
                              + x12_route("- segment: BEG[1=00]\n", envelope="{sender: OURS, "
                                          "security_information: 'env:NO_SUCH_VAR'}").replace("name: r", "name: s")
                              + edifact_route("- segment: BGM[1=220]\n", envelope="{sender: OURS, "
                                              "application_reference: FIFTEEN_CHARS_X}").replace("name: r", "name: t")))
    assert "outbound[0].envelope.authorization_information: 'ELEVENCHARSX' is longer than 10 characters" in text
    assert "outbound[0].envelope.security_information: ISA04 is a password: give it as env:NAME" in text
    assert "outbound[1].envelope.security_information: the environment variable NO_SUCH_VAR is not set" in text
    assert "outbound[2].envelope.application_reference: 'FIFTEEN_CHARS_X' is longer than 14 characters" in text
    assert "pw" not in text.replace("password", "")


def test_constants_must_fit_the_character_set_at_load():
    found = problems(edifact_route("""\
        - segment: "FTX[1=AAI]"
          elements:
            4: {value: "déjà vu"}
            5: {path: notes, default: "n/a"}
        """, envelope="{sender: OURS, syntax_identifier: UNOA}"))
    text = "\n".join(found)
    assert "elements.4.value: constant 'déjà vu': 'd' (U+0064) cannot be written in UNOA" in text
    assert "elements.5.default: field 'notes': default 'n/a': 'n' (U+006E) cannot be written in UNOA" in text


def test_all_problems_of_a_file_are_listed_together_and_shape_errors_carry_lines():
    found = problems(edifact_route("""\
        - segmnt: BGM
        - segment: BGM
          elements: {2: nope, 3: {path: order_number, each: lines}}
        """))
    assert found == ["shop.yaml:14: outbound[0].template[0].segmnt: unknown key (check the spelling)",
                     "shop.yaml:16: outbound[0].template[1].elements.3.each: unknown key (check the spelling)"]
    # a route whose shape is wrong is not compiled (nope is not reported)
    found = problems(edifact_route("- segment: BGM\n  elements: {2: nope}\n") + edifact_route(
        "- segment: BGM\n  elements: {3: nada}\n").replace("name: r", "name: s"))
    assert [f.split(": ")[1] for f in found] == ["outbound[0].template[0].elements.2",
                                                 "outbound[1].template[0].elements.3"]


def test_the_partner_file_shape_is_checked_by_the_inbound_loader_too(tmp_path):
    """`edigw check` reads partner files with PartnerFile, which holds `outbound:`."""
    (tmp_path / "shop.yaml").write_text(HEAD + "outbound:\n  - name: x\n    event: OrderCreated\n"
                                        "    documnt: {syntax: edifact}\n", encoding="utf-8")
    found = check_partners(tmp_path, TARGETS)
    assert any("outbound[0].documnt: unknown key" in line for line in found)
    assert any("outbound[0].document: required key is missing" in line for line in found)


def test_load_routes_raises_one_config_error_listing_everything(tmp_path):
    (tmp_path / "a.yaml").write_text(HEAD + "outbound:\n" + textwrap.indent(edifact_route(
        "- segment: BGM\n  elements: {2: nope}\n"), "  "), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(HEAD.replace("shop", "other") + "outbound: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_routes(tmp_path, SCHEMAS)
    text = str(exc.value)
    assert text.startswith("2 problem(s) in outbound routes:")
    assert "a.yaml:" in text and "b.yaml:8: outbound: 'outbound' is a list of routes" in text


# -- rendering -----------------------------------------------------------------------------


def test_segments_without_data_are_left_out_and_constants_stay():
    route = one_route(edifact_route("""\
        - segment: "UNS[1=S]"                  # constants only: always
        - segment: "FTX[1=AAI]"                # reads nothing here: left out
          elements: {4: notes}
        - segment: "DTM[1.1=2,1.3=102]"        # found: written, with its constants
          elements: {1.2: {path: requested_delivery_date, format: "102"}}
        - segment: "CUX[1.1=2]"
          when: {path: currency, equals: USD}  # the condition fails
          elements: {1.2: currency}
        - segment: "NAD[1=SU]"
          each: supplier                      # a record: once
          elements: {2.1: id}
        - segment: "NAD[1=IV]"
          each: ship_to                       # null: never
          elements: {2.1: id}
        """))
    record = {**ORDER, "notes": None, "ship_to": None}
    assert body(draw(route, record)) == [["UNS", "S"], ["DTM", ["2", "20261127", "102"]],
                                         ["NAD", "SU", "4012345000009"]]


def test_loops_paths_and_aggregates():
    route = one_route(x12_route("""\
        - segment: BEG
          elements:
            1: {count: lines}
            2: {sum: lines.quantity}
            3: {first: lines.supplier_item_id}
            4: {count: lines.gtin}
            5: {concat: [order_number, currency, notes], separator: "/"}
        - each: {path: lines, as: line}
          segments:
            - segment: PO1
              elements:
                1: line_number
                2: $line.quantity
                3: /order_number
                4: ^currency                   # lines have no currency: the event's
                5: {segment_count: PO1}
                6: {segment_count: BEG}
        - segment: CTT
          elements: {1: {segment_count: PO1}}
        """))
    record = {**ORDER, "notes": None}
    record["lines"] = [dict(line) for line in ORDER["lines"]]
    record["lines"][0]["gtin"] = None
    assert body(draw(route, record)) == [
        ["BEG", "2", "42", "KB-100", "1", "PO-45001/EUR"],
        ["PO1", "1", "12", "PO-45001", "EUR", "1", "1"],
        ["PO1", "2", "30", "PO-45001", "EUR", "2", "1"],
        ["CTT", "2"],
    ]


def test_dates_times_and_numbers_are_formatted():
    route = one_route(edifact_route("""\
        - segment: DTM
          elements:
            1.1: {path: occurred_at, format: "203"}            # partner's zone: Brussels
            1.2: {path: occurred_at, format: "203", timezone: UTC}
            1.3: {path: order_date, format: "203"}             # a date: midnight
            2.1: {path: occurred_at, format: HHMM}
            2.2: {path: order_date, format: CCYYMMDD}
            2.3: {path: occurred_at, format: iso}
            3: {path: requested_delivery_date, format: YYMMDD}
        - segment: PRI
          each: lines
          elements:
            1.1: unit_price
            1.2: {path: unit_price, decimals: 2}
            1.3: {path: unit_price, decimals: 4}
            1.4: {path: quantity, implied_decimals: 2}
        """))
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=timezone.utc)  # 00:30 on 2 July in Brussels (CEST)
    record = {**ORDER, "occurred_at": summer}
    assert body(draw(route, record)) == [
        ["DTM", ["202607020030", "202607012230", "202611200000"], ["0030", "20261120", "2026-07-02T00:30:00+02:00"],
         "261127"],
        ["PRI", ["24.5", "24.50", "24.5000", "1200"]],
        ["PRI", ["9.95", "9.95", "9.9500", "3000"]],
    ]


def test_a_value_with_more_decimals_than_written_is_a_render_error_not_a_rounding():
    route = one_route(edifact_route("""\
        - segment: PRI
          each: lines
          elements: {1.2: {path: unit_price, decimals: 1}}
        """))
    with pytest.raises(RenderError) as exc:
        draw(route, ORDER)
    assert exc.value.code == "RENDER_VALUE_INVALID"
    assert "field 'unit_price': 9.95 has more than 1 decimals (decimals: 1)" in str(exc.value)


def test_code_lists_forward_and_backwards_and_maps():
    head = HEAD.replace('  unit: {PCE: C62, EA: C62, KGM: KGM, "*": C62}',
                        '  unit: {PCE: C62, EA: C62, KGM: KGM, "*": C62}\n  scheme: {GLN: "9", "*": ZZZ}')
    route = one_route(edifact_route("""\
        - segment: QTY
          each: lines
          elements:
            1.1: {path: unit, codes: unit, reverse: true}     # C62 -> PCE (the first), others unchanged
            1.2: {path: unit, codes: unit}                    # forward: C62 is no key -> "*"
        - segment: NAD
          each: buyer
          elements:
            1: {path: id_scheme, codes: scheme}               # GLN -> 9
            2: {path: id_scheme, map: {DUNS: "1", "*": null}} # anything else: nothing
            3: {path: id_scheme, map: {GLN: "9"}}
        """), head)
    record = {**ORDER, "lines": [dict(ORDER["lines"][0]), {**ORDER["lines"][1], "unit": "MTR"}]}
    assert body(draw(route, record)) == [["QTY", ["PCE", "C62"]], ["QTY", ["MTR", "C62"]], ["NAD", "9", "", "9"]]
    record["buyer"] = {**ORDER["buyer"], "id_scheme": "DUNS"}
    with pytest.raises(RenderError) as exc:
        draw(route, record)
    assert "NAD element 3: field 'id_scheme': 'DUNS' is not one of GLN in the rule's map" in str(exc.value)


def test_a_required_value_the_event_lacks_is_a_terminal_error_naming_route_line_and_field():
    route = one_route(edifact_route("""\
        - segment: BGM
          elements:
            2: order_number
        - segment: FTX
          elements:
            4: {path: notes, required: true}
        """))
    numbers_asked = []

    def numbers(kind):
        numbers_asked.append(kind)
        return 1

    with pytest.raises(RenderError) as exc:
        draw(route, {**ORDER, "notes": None}, numbers=numbers)
    error = exc.value
    assert isinstance(error, TerminalError)
    assert (error.code, error.partner_id, error.route, error.field, error.tag, error.position) == (
        "RENDER_REQUIRED_MISSING", "shop", "r", "notes", "FTX", "4")
    assert error.where == "shop.yaml:19: outbound[0].template[1].elements.4" and error.line == 19
    assert str(error) == ("RENDER_REQUIRED_MISSING: route 'r' of shop (shop.yaml:19: outbound[0].template[1]."
                          "elements.4): FTX element 4: field 'notes' is required but the event has no value")
    assert numbers_asked == []  # no control number is used by an event that cannot be rendered


def test_a_default_stands_in_for_a_missing_value():
    route = one_route(edifact_route("""\
        - segment: FTX
          elements:
            1: {value: AAI}
            4: {path: notes, default: "none", required: true}
        """))
    assert body(draw(route, {**ORDER, "notes": None})) == [["FTX", "AAI", "", "", "none"]]


@pytest.mark.parametrize("charset, text, ok", [
    ("UNOA", "ABC-12 (X)/Y=Z.", True),
    ("UNOA", "Abc", False),           # no lower case in level A
    ("UNOB", "Abc 'quoted' + 50%", True),
    ("UNOB", "mail@example", False),  # @ is a national variant position of ISO 646
    ("UNOB", "Köln", False),
    ("UNOC", "Köln", True),
    ("UNOC", "150 €", False),         # not in ISO 8859-1
    ("UNOC", "line\nbreak", False),   # control characters are not data
    ("UNOW", "150 € – “ok”", True),
    ("UNOY", "東京", True),
])
def test_edifact_character_sets(charset, text, ok):
    route = one_route(edifact_route("- segment: FTX\n  elements: {4: notes}\n",
                                    envelope=f"{{sender: OURS, syntax_identifier: {charset}}}"))
    record = {**ORDER, "notes": text}
    if ok:
        doc = draw(route, record)
        [ic] = parse(doc.data)
        assert ic.syntax_id == charset and ic.messages[0].segments[1].get(4) == text
    else:
        with pytest.raises(RenderError) as exc:
            draw(route, record)
        assert exc.value.code == "UNENCODABLE_CHARACTER" and exc.value.field == "notes"
        assert f"cannot be written in {charset}" in str(exc.value)


def test_the_windows_1252_order_cannot_go_to_kontor_in_unoc():
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    route = routes.get("kontor-elektronik", "orders")
    assert route.takes(ORDER_1252)
    with pytest.raises(RenderError) as exc:
        draw(route, ORDER_1252)
    assert exc.value.code == "UNENCODABLE_CHARACTER"
    assert exc.value.field == "notes" and exc.value.tag == "FTX"
    assert "'“' (U+201C) cannot be written in UNOC (latin-1)" in str(exc.value)
    assert "kontor-elektronik.yaml:" in exc.value.where and exc.value.line is not None


@pytest.mark.parametrize("charset, text, problem", [
    ("basic", "WIDGET, STANDARD (12)", None),
    ("basic", "Widget", "'i' (U+0069) cannot be written in the X12 basic character set"),
    ("extended", "Widget #5 @ 50%", None),
    ("extended", "Caf\u00e9", "'\u00e9' (U+00E9) cannot be written in the X12 extended character set"),
    ("extended", "A*B", "'*' is the element separator of this interchange"),
    ("extended", "A>B", "'>' is the component separator"),
    ("extended", "A~B", "'~' is the segment terminator"),
])
def test_x12_character_sets_and_separators(charset, text, problem):
    route = one_route(x12_route("- segment: BEG\n  elements: {3: order_number}\n",
                                envelope=f"{{sender: OURS, character_set: {charset}}}"))
    record = {**ORDER, "order_number": text}
    if problem is None:
        assert body(draw(route, record)) == [["BEG", "", "", text]]
    else:
        with pytest.raises(RenderError) as exc:
            draw(route, record)
        assert problem in str(exc.value) and exc.value.field == "order_number"


def test_a_record_that_is_not_the_routes_event_is_refused():
    route = one_route(edifact_route("- segment: BGM\n  elements: {2: order_number}\n"))
    with pytest.raises(RenderError) as exc:
        draw(route, RESPONSE)
    assert exc.value.code == "RENDER_EVENT_INVALID" and "this route renders OrderCreated" in str(exc.value)
    with pytest.raises(RenderError) as exc:
        draw(route, {**ORDER, "lines": [{"line_number": "1"}]})
    assert exc.value.code == "RENDER_EVENT_INVALID" and "lines[0].quantity" in str(exc.value)
    empty = one_route(edifact_route("- segment: FTX\n  elements: {4: notes}\n"))
    with pytest.raises(RenderError) as exc:
        draw(empty, {**ORDER, "notes": None})
    assert exc.value.code == "RENDER_EMPTY"


# -- envelopes and control numbers ----------------------------------------------------------


class Numbers:
    def __init__(self, start: int = 40) -> None:
        self.asked: list[tuple[str, int]] = []
        self.next = start

    def __call__(self, kind: str) -> int:
        self.next += 1
        self.asked.append((kind, self.next))
        return self.next


def test_edifact_envelope_from_settings_and_identity():
    route = one_route(edifact_route("- segment: BGM\n  elements: {2: order_number}\n", envelope="""
    sender: OURS
    sender_qualifier: ZZZ
    syntax_identifier: UNOB
    syntax_version: "4"
    test: true
    ack_requested: true
    groups: true
""", extra="  expects_ack: false\n"))
    numbers = Numbers()
    doc = draw(route, ORDER, numbers=numbers)
    assert numbers.asked == [("UNB0020", 41), ("UNG0048", 42), ("UNH0062", 43)]
    assert doc.control_refs == {"UNB0020": "41", "UNG0048": "42", "UNH0062": "43"}
    assert doc.control_ref == "41" and doc.expects_ack is False
    [ic] = parse(doc.data)
    assert ic.all_issues() == []
    assert (ic.sender, ic.sender_qualifier, ic.recipient, ic.recipient_qualifier) == ("OURS", "ZZZ",
                                                                                      "5400000000001", "14")
    assert (ic.syntax_id, ic.syntax_version, ic.test, ic.ack_requested) == ("UNOB", "4", True, True)
    assert (ic.date, ic.time) == ("20261125", "0900")  # syntax 4: CCYYMMDD; Brussels time
    assert ic.groups[0].control_ref == "42" and ic.messages[0].ref == "43"
    assert ic.messages[0].segments[0].to_json() == ["UNH", "43", ["ORDERS", "D", "96A", "UN"]]
    assert doc.filename == "ORDERS-41.edi" and doc.syntax == "edifact" and doc.message_type == "ORDERS"


def test_x12_envelope_numbers_and_identity_defaults():
    route = one_route(x12_route("- segment: BEG\n  elements: {3: order_number}\n",
                                envelope="{sender: OURS, test: true, ack_requested: true}",
                                extra='  filename: "{partner}/{route}-{control}-{timestamp}.{ext}"\n'))
    numbers = Numbers(998)
    doc = draw(route, ORDER, numbers=numbers)
    assert numbers.asked == [("ISA13", 999), ("GS06", 1000), ("ST02", 1001)]
    assert doc.control_refs == {"ISA13": "000000999", "GS06": "1000", "ST02": "1001"}
    assert doc.expects_ack is True  # follows ack_requested unless the route says
    assert doc.filename == "shop/r-000000999-20261125080000.x12"
    [ic] = parse(doc.data)
    assert ic.all_issues() == []
    assert doc.data.startswith(b"ISA*00*          *00*          *ZZ*OURS           *ZZ*SHOP           *261125*0900*"
                               b"U*00401*000000999*1*T*>~GS*PO*OURS*SHOPGS*20261125*0900*1000*X*004010~ST*850*1001~")
    grouped = one_route(x12_route("- segment: BEG\n  elements: {3: order_number}\n",
                                  envelope="{sender: OURS, group_number: interchange, isa_version: '00501'}"))
    numbers = Numbers()
    doc = draw(grouped, ORDER, numbers=numbers)
    assert numbers.asked == [("ISA13", 41), ("ST02", 42)]
    assert b"*^*00501*000000041*0*P*>~GS*PO*OURS*SHOPGS*20261125*0900*41*X*004010~" in doc.data


def test_control_numbers_that_do_not_fit_are_render_errors():
    route = one_route(x12_route("- segment: BEG\n  elements: {3: order_number}\n"))
    with pytest.raises(RenderError) as exc:
        draw(route, ORDER, numbers=lambda kind: 1_000_000_000)
    assert exc.value.code == "RENDER_CONTROL_NUMBER_INVALID"
    with pytest.raises(RenderError):
        draw(route, ORDER, numbers=lambda kind: "7")


def test_rendering_is_deterministic_given_event_numbers_and_now():
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    route = routes.get("acme-retail", "ship-notice")
    first = draw(route, SHIPMENT, numbers=numbering(5))
    assert draw(route, SHIPMENT, numbers=numbering(5)) == first
    naive = draw(route, SHIPMENT, numbers=numbering(5), now=NOW.replace(tzinfo=None))  # naive: UTC
    assert naive.data == first.data
    later = draw(route, SHIPMENT, numbers=numbering(5), now=datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc))
    assert later.data != first.data and later.data.replace(b"261126", b"261125").replace(b"20261126", b"20261125") \
        == first.data


# -- X12 hierarchies ----------------------------------------------------------------------


def hl_route():
    return one_route(x12_route("""\
        - hl: S
          segments:
            - segment: TD1
              elements: {2: {count: packages}}
            - hl: O
              each: {path: order_numbers, as: order}
              segments:
                - segment: PRF
                  elements: {1: $order}
                - hl: P
                  each: /packages
                  when: {path: items.order_number, same_as: $order}
                  segments:
                    - segment: MAN[1=GM]
                      elements: {2: sscc}
                    - hl: I
                      each: items
                      when: {path: order_number, same_as: $order}
                      child_code: false
                      segments:
                        - segment: SN1
                          elements: {2: quantity}
        - segment: CTT
          elements: {1: {segment_count: HL}}
        """, event="ShipmentCreated", message="856"))


def test_hl_levels_number_their_parents_and_say_whether_they_have_children():
    item = SHIPMENT["packages"][0]["items"][0]
    record = {**SHIPMENT, "order_numbers": ["A", "B", "C"], "packages": [
        {"sscc": "P1", "package_type": None, "items": [{**item, "order_number": "A", "quantity": Decimal("1")}]},
        {"sscc": "P2", "package_type": None, "items": [{**item, "order_number": "A", "quantity": Decimal("2")},
                                                       {**item, "order_number": "B", "quantity": Decimal("3")}]},
    ]}
    assert body(draw(hl_route(), record)) == [
        ["HL", "1", "", "S", "1"], ["TD1", "", "2"],
        ["HL", "2", "1", "O", "1"], ["PRF", "A"],
        ["HL", "3", "2", "P", "1"], ["MAN", "GM", "P1"], ["HL", "4", "3", "I"], ["SN1", "", "1"],
        ["HL", "5", "2", "P", "1"], ["MAN", "GM", "P2"], ["HL", "6", "5", "I"], ["SN1", "", "2"],
        ["HL", "7", "1", "O", "1"], ["PRF", "B"],
        ["HL", "8", "7", "P", "1"], ["MAN", "GM", "P2"], ["HL", "9", "8", "I"], ["SN1", "", "3"],
        ["HL", "10", "1", "O", "0"], ["PRF", "C"],  # an order with nothing shipped: no children
        ["CTT", "10"],
    ]


def test_the_widget_856_rules_read_the_hierarchy_back(tmp_path):
    """What the 856 template writes, WIDGET SUPPLY's inbound rules (each: {hl: P}, ^PRF/1) read."""
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    route = routes.get("acme-retail", "ship-notice")
    item = SHIPMENT["packages"][0]["items"][0]
    record = {**SHIPMENT, "order_numbers": ["PO-1", "PO-2"], "packages": [
        {"sscc": "S1", "package_type": "CT", "items": [{**item, "order_number": "PO-1"}]},
        {"sscc": "S2", "package_type": "CT", "items": [{**item, "line_number": "7", "order_number": "PO-2"}]}]}
    parts = build(GatewayConfig(mappings=ROOT / "mappings", schemas=ROOT / "schemas"), sink=MemorySink())
    [event] = parts.pipeline.process(Document(draw(route, record).data, received_at=NOW)).events
    assert [(p["sscc"], [(i["line_number"], i["order_number"]) for i in p["items"]])
            for p in event.record["packages"]] == [("S1", [("1", "PO-1")]), ("S2", [("7", "PO-2")])]
    assert event.record["order_numbers"] == ["PO-1", "PO-2"]


# -- routes, plans and the egress --------------------------------------------------------


def test_routes_for_a_partner_follow_the_event_type_and_the_filter():
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    assert [r.name for r in routes.routes_for("kontor-elektronik", "OrderCreated", ORDER)] == ["orders"]
    assert routes.routes_for("kontor-elektronik", "OrderCreated", {**ORDER, "supplier": None}) == []
    assert routes.routes_for("kontor-elektronik", "OrderResponded", RESPONSE) == []
    assert [r.name for r in routes.routes_for("brasserie-du-parc", "OrderResponded", RESPONSE)] == ["ordrsp"]
    assert sorted(routes.event_types) == ["InvoiceIssued", "OrderCreated", "OrderResponded", "ShipmentCreated"]
    assert sorted(routes.partners) == ["acme-retail", "brasserie-du-parc", "kontor-elektronik", "widget-supply"]
    plans = routes.plan("ShipmentCreated", SHIPMENT)
    assert [(p.partner_id, p.name) for p in plans] == [("acme-retail", "ship-notice")]
    assert routes.plan("ParcelScanned", {}) == []


def test_routes_plan_feeds_the_egress_with_numbers_from_the_state_store(tmp_path):
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    store = MemoryStore()
    dead = []
    egress = Egress(store, LocalArchive(tmp_path), routes.plan, dead_letters=dead.extend)
    [queued] = egress.handle("OrderResponded", RESPONSE, now=NOW)
    doc = queued.document
    assert (doc.partner_id, doc.kind, doc.control_ref) == ("brasserie-du-parc", "ORDRSP", "1")
    assert doc.details["control_refs"] == {"UNB0020": "1", "UNH0062": "1"}
    assert doc.details["expects_ack"] is False
    data = egress.archive.path(doc.raw_ref).read_bytes()
    assert data.startswith(b"UNA:+.? '\nUNB+UNOC:3+4012345000009:14+5412345000013:14+261125:0900+1'")
    # the next event for the same partner takes the next numbers; an event rendered before takes none
    other = {**RESPONSE, "event_id": "00000000-0000-5000-8000-000000000002", "response_number": "ORSP-7002"}
    [again] = egress.handle("OrderResponded", other, now=NOW)
    assert again.document.control_ref == "2"
    assert egress.handle("OrderResponded", other, now=NOW)[0].document is None
    # a render error is a dead letter and the route goes on
    broken = {**RESPONSE, "event_id": "00000000-0000-5000-8000-000000000003", "response_number": None}
    assert egress.handle("OrderResponded", broken, now=NOW) == []
    [letter] = dead
    assert letter.record["stage"] == "render" and letter.record["reason_code"] == "RENDER_REQUIRED_MISSING"
    assert "brasserie-du-parc.yaml:" in letter.record["error"] and "'response_number'" in letter.record["error"]
    assert store.next_control_number("brasserie-du-parc", "UNB0020") == 3  # the failure used none


# -- XML ---------------------------------------------------------------------------------------

UBL_RESPONSE = """\
- name: ubl-response
  event: OrderResponded
  document:
    syntax: xml
    message: OrderResponse
    version: "2.1"
    namespaces: {"": "urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2"}
  template:
    - element: cbc:UBLVersionID
      text: {value: "2.1"}
    - element: cbc:ID
      text: {path: response_number, required: true}
    - element: cbc:IssueDate
      text: {path: response_date, format: iso}
    - element: cbc:OrderResponseCode
      text: {path: status, map: {ACCEPTED: AP, CHANGED: CA, REJECTED: RE}}
    - element: cbc:DocumentCurrencyCode
      text: currency
    - element: cac:OrderReference
      children:
        - element: cbc:ID
          text: order_number
        - element: cbc:IssueDate
          text: {path: order_date, format: iso}
    - element: cac:SellerSupplierParty
      each: supplier
      children: &party
        - element: cac:Party
          children:
            - element: cbc:EndpointID
              text: id
              attributes: {schemeID: {path: id_scheme, map: {GLN: "0088", "*": null}}}
            - element: cac:PartyName
              children:
                - element: cbc:Name
                  text: name
    - element: cac:BuyerCustomerParty
      each: buyer
      children: *party
    - element: cac:OrderLine
      each: lines
      children:
        - element: cac:LineItem
          children:
            - element: cbc:ID
              text: line_number
            - element: cbc:LineStatusCode
              text: {path: status, map: {ACCEPTED: "5", CHANGED: "3", BACKORDERED: "3", REJECTED: "7"}}
            - element: cbc:Quantity
              text: quantity
              attributes: {unitCode: unit}
            - element: cac:Delivery
              children:
                - element: cac:PromisedDeliveryPeriod
                  children:
                    - element: cbc:StartDate
                      text: {path: delivery_date, format: iso}
            - element: cac:Price
              children:
                - element: cbc:PriceAmount
                  text: unit_price
                  attributes: {currencyID: ^currency}
            - element: cac:Item
              children:
                - element: cac:SellersItemIdentification
                  children:
                    - element: cbc:ID
                      text: supplier_item_id
                - element: cac:StandardItemIdentification
                  children:
                    - element: cbc:ID
                      text: gtin
                      attributes: {schemeID: {value: "0160"}}
        - element: cac:OrderLineReference
          children:
            - element: cbc:LineID
              text: line_number
"""


def test_an_xml_route_renders_ubl_that_kontors_ubl_rules_read_back(tmp_path):
    """An OrderResponded as a UBL 2.1 OrderResponse, read back by the gateway with Kontor's UBL rules."""
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    with (mappings / "brasserie-du-parc.yaml").open("a", encoding="utf-8") as f:
        f.write(textwrap.indent(UBL_RESPONSE, "  "))
    routes = load_routes(mappings, SCHEMAS)
    route = routes.get("brasserie-du-parc", "ubl-response")
    numbers = Numbers()
    doc = draw(route, RESPONSE, numbers=numbers)
    assert numbers.asked == [] and doc.control_refs == {} and doc.control_ref is None
    assert doc.syntax == "xml" and doc.filename.startswith("OrderResponse-") and doc.filename.endswith(".xml")
    assert doc.data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<OrderResponse ")
    assert b' xmlns="urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2"' in doc.data.split(b"\n")[1]
    assert b"xmlns:ext" not in doc.data  # only the namespaces used are declared
    assert b"<cac:Delivery>" in doc.data and b"<cbc:Name>" not in doc.data  # no name: no element
    parts = build(GatewayConfig(mappings=mappings, schemas=ROOT / "schemas"), sink=MemorySink())
    outcome = parts.pipeline.process(Document(doc.data, received_at=NOW))
    assert outcome.dead_letters == []
    [event] = outcome.events
    assert event.record["partner_id"] == "kontor-elektronik"
    envelope = ("event_id", "received_at", "source")
    assert {k: v for k, v in event.record.items() if k not in envelope} == \
        {k: v for k, v in RESPONSE.items() if k not in envelope}


def test_xml_templates_are_checked_like_the_others():
    found = problems("""\
        - name: x
          event: OrderResponded
          document: {syntax: xml, message: OrderResponse, version: "2.1"}
          envelope: {sender: ME}
          template:
            - element: "bad name"
            - element: foo:ID
              text: nothing
            - segment: BGM
            - element: cbc:ID
              text: {segment_count: LIN}
        """)
    text = "\n".join(found)
    assert "outbound[0].envelope.sender: 'sender': an XML document has no envelope to set" in text
    assert "template[0].element: 'bad name' is not an XML name" in text
    assert "template[1].element: prefix 'foo' is not declared" in text
    assert "template[1].text: field 'nothing': 'nothing' is not a field of OrderResponded" in text
    assert "template[2]: segment: for EDIFACT and X12 routes" in text
    assert "template[3].text: 'segment_count' is for EDIFACT and X12 routes" in text


def test_values_from_fastavro_decoding_render_the_same_as_from_json():
    """The consumer hands records as Avro decodes them: the same bytes as the JSON form gives."""
    from gateway.events.encoding import SingleObjectEncoder

    encoder = SingleObjectEncoder(SCHEMAS)
    event_type, decoded = encoder.decode(encoder.encode("InvoiceIssued", INVOICE))
    routes = load_routes(ROOT / "mappings", SCHEMAS)
    route = routes.get("brasserie-du-parc", "invoic")
    assert draw(route, decoded).data == draw(route, INVOICE).data
    assert isinstance(decoded["invoice_date"], date) and isinstance(decoded["total_amount"], Decimal)

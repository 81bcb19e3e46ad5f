"""The mapping language: paths, conversions, load-time checks and the engine."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import ConfigError, MappingError
from gateway.mapping import convert
from gateway.mapping.engine import Mapper, default_topic
from gateway.mapping.loader import check_partners, load_partners, partner_from
from gateway.mapping.paths import PathError, Scope, parse_path
from gateway.mapping.targets import load_targets
from gateway.model import Segment
from gateway.syntax import parse
from gateway.yamlconf import loads

ROOT = Path(__file__).resolve().parents[2]
TARGETS = load_targets(ROOT / "schemas")
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


def seg(tag: str, *elements) -> Segment:
    return Segment(tag, [list(e) if isinstance(e, tuple) else e for e in elements])


# -- paths --------------------------------------------------------------------


def test_path_grammar():
    p = parse_path("DTM[1.1=137|2,2!=X,3]/1.2")
    assert (p.tag, p.element, p.component) == ("DTM", 1, 2)
    scope = Scope([
        seg("DTM", ("137", "20260101", "102")),  # no element 3: the bare filter fails
        seg("DTM", ("2", "20260202", "102"), "X", "y"),  # 2!=X fails
        seg("DTM", ("2", "20260303", "102"), "Y", "y"),
    ])
    assert p.first(scope)[0] == "20260303"
    for bad in ("dtm/1", "DTM[1.1=137/1", "DTM/x", "DTM[a=b]/1"):
        with pytest.raises(PathError):
            parse_path(bad)


def test_groups_end_at_the_next_trigger_or_until():
    scope = Scope([seg("BGM", "1"), seg("LIN", "1"), seg("QTY", ("21", "5")), seg("LIN", "2"),
                   seg("QTY", ("21", "7")), seg("UNS", "S"), seg("QTY", ("21", "99"))])
    groups = scope.groups(parse_path("LIN"), frozenset({"UNS"}))
    assert [[s.tag for s in g.segments] for g in groups] == [["LIN", "QTY"], ["LIN", "QTY"]]
    assert parse_path("QTY/1.2").first(groups[1])[0] == "7"


def test_a_group_index_made_while_cutting_is_the_one_its_segments_give():
    segments = [seg("LIN", "1"), seg("PIA", "1"), seg("QTY", "5"), seg("PIA", "2"), seg("LIN", "2"),
                seg("LIN", "3"), seg("PIA", "3"), seg("UNS", "S"), seg("PIA", "99")]
    for group in Scope(segments).groups(parse_path("LIN"), frozenset({"UNS"})):
        fresh = Scope(list(group.segments))
        fresh.by_tag("")
        assert group.index() == fresh.index()
        assert group.index()["LIN"] is not group.segments  # the index's lists are its own
    [first, _, third] = Scope(segments).groups(parse_path("LIN"), frozenset({"UNS"}))
    assert [s.get(1) for s in first.by_tag("PIA")] == ["1", "2"] and [s.get(1) for s in third.by_tag("PIA")] == ["3"]
    nad = [seg("NAD", "BY", "1"), seg("NAD", "SU", "2"), seg("NAD", "DP", "3"), seg("NAD", "", "4")]
    pick = {text: [g.segments[0].get(2) for g in Scope(nad).groups(parse_path(text), frozenset())]
            for text in ("NAD[1=BY|DP]", "NAD[1!=BY]", "NAD[1]", "NAD[1=SU,2=2]", "NAD[1=SU,2=3]")}
    assert pick == {"NAD[1=BY|DP]": ["1", "3"], "NAD[1!=BY]": ["2", "3", "4"], "NAD[1]": ["1", "2", "3"],
                    "NAD[1=SU,2=2]": ["2"], "NAD[1=SU,2=3]": []}


def test_hl_levels_follow_parent_pointers():
    segments = [seg("HL", "1", "", "S"), seg("TD5", "", "2", "UPSN"), seg("HL", "2", "1", "O"),
                seg("PRF", "PO-1"), seg("HL", "3", "2", "P"), seg("MAN", "GM", "0001"),
                seg("HL", "4", "3", "I"), seg("LIN", "", "VP", "A"), seg("HL", "5", "2", "P"),
                seg("MAN", "GM", "0002"), seg("HL", "6", "5", "I"), seg("LIN", "", "VP", "B"), seg("CTT", "6")]
    root = Scope(segments)
    packs = root.hl_levels("P")
    assert [parse_path("MAN/2").first(p)[0] for p in packs] == ["0001", "0002"]
    assert [parse_path("LIN/3").first(i)[0] for i in packs[1].hl_levels("I")] == ["B"]
    assert len(root.hl_levels("O")[0].hl_levels("I")) == 2  # descendants, not only children


# -- conversions ----------------------------------------------------------------


def test_dates_and_times():
    assert convert.to_date("20261120", "102") == date(2026, 11, 20)
    assert convert.to_date("261120", None) == date(2026, 11, 20)
    assert convert.to_date("2026-11-20", "iso") == date(2026, 11, 20)
    assert convert.to_date("20261120-20261130", "718") == date(2026, 11, 20)
    ts = convert.to_datetime("202611201405", "203", "Europe/Brussels")
    assert ts == datetime(2026, 11, 20, 13, 5, tzinfo=timezone.utc)
    assert convert.to_datetime("20261123", "CCYYMMDD", None, "101230") == datetime(2026, 11, 23, 10, 12, 30,
                                                                                    tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not a valid date"):
        convert.to_date("20261350", "102")


def test_decimals():
    assert convert.to_decimal("24,5", scale=4, precision=18, decimal_mark=",") == Decimal("24.5000")
    assert convert.to_decimal("83400", scale=2, precision=18, implied=2) == Decimal("834.00")
    assert convert.to_decimal("1.005", scale=2, precision=18) == Decimal("1.00")  # banker's rounding
    with pytest.raises(ValueError, match="not a number"):
        convert.to_decimal("12a", scale=2, precision=18)
    with pytest.raises(ValueError, match="more than 4 digits"):
        convert.to_decimal("123.45", scale=2, precision=4)


def test_a_decimal_reader_gives_what_to_decimal_gives_and_keeps_a_bounded_number(monkeypatch):
    monkeypatch.setattr(convert, "_REMEMBERED", 3)
    read = convert.decimal_reader(scale=2, precision=6, implied=None)
    for text, mark in [("1,5", ","), ("1,5", "."), ("1.5", "."), ("2.345", "."), ("1.5", "."), ("7", ","),
                       ("8", "."), ("9", "."), ("1.5", ".")]:
        assert read(text, mark) == convert.to_decimal(text, scale=2, precision=6, decimal_mark=mark)
    assert read("1,5", ",") == Decimal("1.50") and read("1,5", ".") == Decimal("1.50")  # (a comma without UNA)
    assert read("3.25", ".") is read("3.25", ".")  # kept: the same object again
    for _ in range(2):  # a bad text is refused every time, not kept
        with pytest.raises(ValueError, match="not a number"):
            read("12a", ".")
        with pytest.raises(ValueError, match="more than 6 digits"):
            read("12345.6", ".")
    assert read.cache_info().currsize <= 3  # the values kept stay under the bound


# -- load-time checks -------------------------------------------------------------

HEAD = """partner: p1
identity:
  edifact: {sender: "S1"}
"""


def problems(text: str) -> list[str]:
    errors: list[str] = []
    partner_from(loads(HEAD + text, "p1.yaml"), TARGETS, errors)
    return errors


def order_route(fields: str, match: str = "{syntax: edifact, message: ORDERS}") -> str:
    return f"""inbound:
  - match: {match}
    event: OrderCreated
    fields:
      order_number: BGM/2
      buyer:
        fields: {{id: "NAD[1=BY]/2.1"}}
      lines:
        each: {{group: LIN}}
        fields:
          line_number: LIN/1
          quantity: QTY/1.2
{fields}"""


def test_a_good_route_has_no_problems():
    assert problems(order_route("")) == []


@pytest.mark.parametrize(
    "fields, expected",
    [
        ("      order_nr: BGM/2\n", "p1.yaml:16: inbound[0].fields.order_nr: field 'order_nr': is not a field"),
        ("      currency: {path: CUX/1.2, format: '102'}\n", "'format' is for date and timestamp fields"),
        ("      order_date: {path: DTM/1.2, format: '999'}\n", "unknown format '999'"),
        ("      notes: {path: FTX/4, codes: nope}\n", "code list 'nope' is not defined"),
        ("      notes: {xpath: 'cbc:Note'}\n", "'xpath' is for XML routes"),
        ("      notes: 'BGM[1=/2'\n", "is not a segment path"),
        ("      notes: BGM\n", "names a segment, not a value"),
        ("      order_date: {value: not-a-date}\n", "constant 'not-a-date'"),
        ("      event_id: BGM/2\n", "is filled by the gateway"),
        ("      supplier: BGM/2\n", "is a record"),
        ("      notes: {path: FTX/4, value: x}\n", "give one of path, xpath, value, concat"),
        ("      notes: {each: {group: LIN}, path: FTX/4}\n", "not a record or array"),
    ],
)
def test_each_problem_names_file_line_and_field(fields, expected):
    found = problems(order_route(fields))
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith("p1.yaml:")


def test_required_fields_without_rules_and_enum_maps():
    text = """inbound:
  - match: {syntax: edifact, message: ORDRSP}
    event: OrderResponded
    key: response_date
    fields:
      status: {path: BGM/3, map: {"29": ACCEPTED, "4": MAYBE}}
"""
    found = problems(text)
    assert any("order_number (string) is required but has no rule" in f for f in found)
    assert any("lines (array of record) is required" in f for f in found)
    assert any("maps to MAYBE, which status does not allow" in f for f in found)
    assert any("key 'response_date' must be a top-level string field" in f for f in found)


def test_shape_errors_do_not_hide_other_routes():
    text = order_route("      order_nr: BGM/2\n") + """  - match: {syntax: edifact, message: X}
    event: OrderCreated
    extra: 1
    fields: {}
  - match: {syntax: edifact, message: Y}
    event: NoSuchEvent
    fields: {}
"""
    found = problems(text)
    assert any("inbound[1].extra: unknown key" in f for f in found)
    assert any("order_nr" in f for f in found)
    assert any("unknown event type 'NoSuchEvent'" in f for f in found)


def test_yaml_syntax_errors_and_duplicates(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(HEAD + "inbound: [\n")
    (tmp_path / "b.yaml").write_text(HEAD)
    (tmp_path / "c.yaml").write_text(HEAD)
    found = check_partners(tmp_path, TARGETS)
    assert any(f.startswith(f"{tmp_path / 'a.yaml'}:5: invalid YAML") for f in found)
    assert any("partner 'p1' is also defined in" in f for f in found)
    with pytest.raises(ConfigError, match="problem"):
        load_partners(tmp_path, TARGETS)


def test_the_shipped_partner_files_are_valid():
    assert check_partners(ROOT / "mappings", TARGETS) == []


# -- the engine -----------------------------------------------------------------

ORDERS = (
    b"UNA:+,? 'UNB+UNOC:3+S1:14+R+261120:0930+IC1'UNH+M1+ORDERS:D:96A:UN'BGM+220+PO-1+9'"
    b"DTM+137:202611201405:203'NAD+BY+123::9'LIN+1++111:EN'QTY+21:2,5'LIN+2++222:EN'QTY+21:4'"
    b"UNS+S'UNT+10+M1'UNZ+1+IC1'"
)


def engine_for(text: str):
    errors: list[str] = []
    partner = partner_from(loads(HEAD + text, "p1.yaml"), TARGETS, errors)
    assert errors == []
    return partner, Mapper()


def map_one(data: bytes, text: str):
    partner, mapper = engine_for(text)
    [ic] = parse(data)
    return [e for m in ic.messages for e in mapper.map(m, partner, received_at=RECEIVED, transport="http",
                                                        receipt_id="r1")]


def test_events_are_built_with_envelope_and_deterministic_ids():
    text = order_route("      occurred_at: DTM[1.1=137]/1.2\n")
    [event] = map_one(ORDERS, text)
    again = map_one(ORDERS, text)[0]
    r = event.record
    assert r["event_id"] == again.record["event_id"]
    assert (r["event_type"], r["partner_id"], r["received_at"]) == ("OrderCreated", "p1", RECEIVED)
    assert r["occurred_at"] == datetime(2026, 11, 20, 14, 5, tzinfo=timezone.utc)  # format 203 from the DTM
    assert r["source"]["interchange_ref"] == "IC1" and r["source"]["receipt_id"] == "r1"
    assert [line["quantity"] for line in r["lines"]] == [Decimal("2.5000"), Decimal("4.0000")]  # UNA comma
    assert event.topic == "edigw.order-created" == default_topic("OrderCreated")
    assert r["supplier"] is None and r["notes"] is None


def test_a_mapped_message_is_freed_without_the_cyclic_collector():
    """The scopes of a message (the root is its own root, groups point back at it) are taken apart
    once it is mapped: its segments are freed by reference counting, not left for the collector."""
    import gc

    text = order_route("      ship_to: {group: \"NAD[1=BY]\", fields: {id: NAD/2.1}}\n")
    partner, mapper = engine_for(text)
    gc.collect()
    gc.disable()
    try:
        [ic] = parse(ORDERS)
        [message] = ic.messages
        ic.messages.clear()
        [event] = mapper.map(message, partner, received_at=RECEIVED)
        assert event.record["ship_to"]["id"] == "123" and len(event.record["lines"]) == 2
        del message, ic
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, Segment)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


def test_required_value_missing_names_the_field_and_place():
    data = ORDERS.replace(b"BGM+220+PO-1+9'", b"BGM+220'")
    with pytest.raises(MappingError) as info:
        map_one(data, order_route(""))
    issue = info.value.issue
    assert issue.code == "MAPPING_REQUIRED_MISSING" and "order_number" in issue.text
    assert issue.location.tag == "UNH"


def test_invalid_value_names_the_segment():
    data = ORDERS.replace(b"QTY+21:4'", b"QTY+21:4x'")
    with pytest.raises(MappingError) as info:
        map_one(data, order_route(""))
    assert info.value.issue.code == "MAPPING_VALUE_INVALID"
    assert info.value.issue.location.tag == "QTY" and "'4x' is not a number" in info.value.issue.text


def test_unknown_partner_and_missing_route():
    partner, mapper = engine_for(order_route(""))
    from gateway.mapping.loader import Partners

    [ic] = parse(ORDERS.replace(b"S1:14", b"S2:14"))
    with pytest.raises(MappingError) as info:
        Partners([partner]).identify(ic)
    assert info.value.issue.code == "PARTNER_UNKNOWN" and "S2" in info.value.issue.text
    [ic] = parse(ORDERS.replace(b"ORDERS:D", b"ORDRSP:D"))
    with pytest.raises(MappingError) as info:
        mapper.map(ic.messages[0], partner, received_at=RECEIVED)
    assert info.value.issue.code == "ROUTE_MISSING"


def test_conditions_concat_constants_and_route_each():
    text = """inbound:
  - match: {syntax: edifact, message: ORDERS}
    event: ParcelScanned
    each: {group: LIN}
    when: {path: /BGM/1, in: ["220", "221"]}
    fields:
      tracking_number: {concat: [/BGM/2, LIN/1], separator: "-"}
      status_code: {value: IN_TRANSIT}
      status_description: {path: LIN/3.1, when: {path: LIN/1, equals: "2"}, default: none}
      scanned_at: {path: DTM/1.2, default: "2026-01-01T00:00:00Z", format: iso}
"""
    events = map_one(ORDERS, text)
    assert [e.record["tracking_number"] for e in events] == ["PO-1-1", "PO-1-2"]
    assert [e.record["status_description"] for e in events] == ["none", "222"]
    assert len({e.record["event_id"] for e in events}) == 2
    # DTM is outside the LIN groups: the default applies
    assert events[0].record["scanned_at"] == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert map_one(ORDERS.replace(b"BGM+220", b"BGM+105"), text) == []


def test_xml_routes_use_xpath():
    head = """partner: p1
identity:
  xml: {xpath: "cac:BuyerCustomerParty/cac:Party/cbc:EndpointID", equals: "5412345000013"}
"""
    text = """inbound:
  - match: {syntax: xml, message: Order, version: "2.1"}
    event: OrderCreated
    key: order_number
    fields:
      order_number: cbc:ID
      order_date: cbc:IssueDate
      currency: cbc:DocumentCurrencyCode
      buyer:
        fields:
          id: cac:BuyerCustomerParty/cac:Party/cbc:EndpointID
          id_scheme: {xpath: "cac:BuyerCustomerParty/cac:Party/cbc:EndpointID/@schemeID", map: {"0088": GLN}}
          name: cac:BuyerCustomerParty/cac:Party/cac:PartyName/cbc:Name
      lines:
        each: {xpath: "cac:OrderLine/cac:LineItem"}
        fields:
          line_number: cbc:ID
          quantity: cbc:Quantity
          unit: cbc:Quantity/@unitCode
          gtin: cac:Item/cac:StandardItemIdentification/cbc:ID
"""
    errors: list[str] = []
    partner = partner_from(loads(head + text, "p1.yaml"), TARGETS, errors)
    assert errors == []
    from gateway.mapping.loader import Partners

    [ic] = parse((ROOT / "samples/xml/ubl21_order.xml").read_bytes())
    assert Partners([partner]).identify(ic, ic.messages[0]) is partner
    [event] = Mapper().map(ic.messages[0], partner, received_at=RECEIVED)
    r = event.record
    assert (r["order_number"], r["order_date"], r["currency"]) == ("UBL-7741", date(2026, 11, 20), "EUR")
    assert r["buyer"] == {"id": "5412345000013", "id_scheme": "GLN", "name": "Brasserie du Parc", "address": None}
    assert r["lines"][0]["unit"] == "C62" and r["lines"][0]["quantity"] == Decimal("12.0000")


def test_inherited_paths_follow_hl_ancestry_and_envelope_is_readable():
    segments = [seg("HL", "1", "", "S"), seg("HL", "2", "1", "O"), seg("PRF", "PO-A"), seg("HL", "3", "2", "P"),
                seg("HL", "4", "3", "I"), seg("LIN", "", "VP", "A"), seg("HL", "5", "1", "O"), seg("PRF", "PO-B"),
                seg("HL", "6", "5", "P"), seg("HL", "7", "6", "I"), seg("LIN", "", "VP", "B")]
    root = Scope(segments)
    items = [i for p in root.hl_levels("P") for i in p.hl_levels("I")]
    inherited, absolute = parse_path("^PRF/1"), parse_path("/PRF/1")
    assert [inherited.first(i)[0] for i in items] == ["PO-A", "PO-B"]  # each item's own order
    assert [absolute.first(i)[0] for i in items] == ["PO-A", "PO-A"]  # the message's first
    [ic] = parse(ORDERS)
    msg_scope = Scope(ic.messages[0].segments, message=ic.messages[0])
    assert parse_path("UNB/2.1").first(msg_scope)[0] == "S1"
    assert parse_path("/UNB/2.2").first(msg_scope.groups(parse_path("LIN"), frozenset())[0])[0] == "14"


def test_an_envelope_matching_two_partners_is_ambiguous():
    from gateway.mapping.loader import Partners

    a, _ = engine_for(order_route(""))
    b, _ = engine_for(order_route(""))
    b.id = "p2"
    [ic] = parse(ORDERS)
    with pytest.raises(MappingError) as info:
        Partners([a, b]).identify(ic)
    assert info.value.issue.code == "PARTNER_AMBIGUOUS" and "p1" in info.value.issue.text and "p2" in info.value.issue.text


def test_optional_record_absent_is_null_but_half_present_is_an_error():
    text = order_route("""      supplier:
        fields:
          id: "NAD[1=SU]/2.1"
          name: "NAD[1=SU]/4"
""")
    [event] = map_one(ORDERS, text)
    assert event.record["supplier"] is None
    with pytest.raises(MappingError) as info:
        map_one(ORDERS.replace(b"NAD+BY+123::9'", b"NAD+BY+123::9'NAD+SU+++Kontor'"), text)
    assert "supplier.id is required" in info.value.issue.text


def test_rule_keys_that_do_not_apply_are_errors():
    found = problems(order_route("      notes: {path: FTX/4, group: NAD}\n"
                                 "      currency: {concat: [{path: CUX/1.2, format: '102'}]}\n"
                                 "      supplier: {fields: {id: NAD/2}, path: NAD/2}\n"))
    assert any("'group' is for records" in f for f in found)
    assert any("a concat part takes path, xpath or value only, not format" in f for f in found)
    assert any("is a record: 'path' does not apply" in f for f in found)


@pytest.mark.parametrize("data", [
    ORDERS,
    ORDERS.replace(b"NAD+BY+123::9'", b"NAD+BY+123::92'"),  # no such map key: the map's "*"
    ORDERS.replace(b"NAD+BY+123::9'", b"NAD+BY+123::  '"),  # blank after strip: null
    ORDERS.replace(b"NAD+BY+123::9'", b"NAD+BY+123'"),  # absent: null
    ORDERS.replace(b"QTY+21:4'", b"QTY+21:4:KGM'").replace(b"QTY+21:2,5'", b"QTY+21:2,5:ZZZ'"),
])
def test_a_path_with_a_map_or_code_list_gives_what_the_general_rule_gives(data):
    """Such rules are read inline in the generated record code; ``strip: true`` (the default,
    but given) sends the same rule through the general compiled rule."""
    def route(extra: str) -> str:
        return HEAD + """code_lists:
  unit: {PCE: C62, KGM: KGM, "*": C62}
""" + order_route(f"""          unit: {{path: QTY/1.3, codes: unit{extra}}}
""").replace('fields: {id: "NAD[1=BY]/2.1"}',
             'fields: {id: "NAD[1=BY]/2.1", id_scheme: {path: NAD/2.3, map: {"9": GLN, "*": null}%s}}' % extra)

    inline = map_one_text(data, route(""))
    general = map_one_text(data, route(", strip: true"))
    assert [e.record for e in inline] == [e.record for e in general]
    assert inline[0].record["buyer"]["id_scheme"] == ("GLN" if b"123::9'" in data else None)


def test_a_value_outside_a_map_without_star_names_the_segment_inline_and_in_general():
    messages = []
    for extra in ("", ", strip: true"):
        text = HEAD + order_route(f"""          unit: {{path: QTY/1.3, map: {{KGM: KGM}}{extra}}}
""")
        with pytest.raises(MappingError) as info:
            map_one_text(ORDERS.replace(b"QTY+21:4'", b"QTY+21:4:PCE'"), text)
        messages.append((info.value.issue.code, info.value.issue.text, info.value.issue.location.tag))
    assert messages[0] == messages[1] == ("MAPPING_VALUE_INVALID", "unit: 'PCE' is not one of KGM in the rule's map",
                                          "QTY")


def map_one_text(data: bytes, whole: str):
    errors: list[str] = []
    partner = partner_from(loads(whole, "p1.yaml"), TARGETS, errors)
    assert errors == []
    [ic] = parse(data)
    return [e for m in ic.messages for e in Mapper().map(m, partner, received_at=RECEIVED, transport="http",
                                                         receipt_id="r1")]

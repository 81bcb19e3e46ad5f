"""Tests of the hardened XML intake (gateway.syntax.xml)."""

from __future__ import annotations

import codecs
import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.errors import ConfigError, EdiSyntaxError
from gateway.model import Interchange, Message
from gateway.syntax import xml
from tests.helpers import CORPUS, needs_corpus

needs_xml_corpus = needs_corpus("xml")

UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
TEST_NS = "urn:example:gateway:test:po"


def read(data, **kw) -> tuple[xml.XmlMessage, Interchange]:
    items = list(xml.read(data, **kw))
    assert len(items) == 2
    message, interchange = items
    assert isinstance(message, xml.XmlMessage) and isinstance(interchange, Interchange)
    return message, interchange


def refusal(data, **kw) -> EdiSyntaxError:
    with pytest.raises(EdiSyntaxError) as info:
        list(xml.read(data, **kw))
    return info.value


def everything_said(exc: EdiSyntaxError) -> str:
    """All text an error exposes (message, issues, JSON) - to look for leaked data."""
    return "\n".join([str(exc), repr(exc.issues), *(json.dumps(i.to_json()) for i in exc.issues)])


class Stream(io.RawIOBase):
    """A binary stream of ``head`` + ``filler`` repeated forever, counting what it served."""

    def __init__(self, head: bytes, filler: bytes = b"x" * 4096, limit: int | None = None, step: int | None = None):
        self.head, self.filler, self.limit, self.step = head, filler, limit, step
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "the reader must never ask for everything"
        if self.step:
            size = min(size, self.step)
        out = bytearray()
        while len(out) < size:
            if self.limit is not None and self.served + len(out) >= self.limit:
                break
            position = self.served + len(out)
            if position < len(self.head):
                out += self.head[position : position + size - len(out)]
            else:
                offset = (position - len(self.head)) % len(self.filler)
                out += self.filler[offset : offset + size - len(out)]
        if self.limit is not None:
            out = out[: max(self.limit - self.served, 0)]
        self.served += len(out)
        return bytes(out)


@pytest.fixture()
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that serves an entity-declaring DTD and records every request."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            hits.append(self.path)
            body = b'<!ENTITY x "FETCHED-OVER-HTTP">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def fresh_schema_cache() -> Iterator[None]:
    xml.clear_schema_cache()
    yield
    xml.clear_schema_cache()


# ---------------------------------------------------------------------------
# the corpus

# (type, ref, version, sender, recipient) - read off the files by hand.
CORPUS_XML = {
    "cxml_orderrequest.xml": (
        "OrderRequest", "1625586002.193314.7293@dev", "1.2.050",
        "inbound@prominate-platform.com", "supplier@supplier.com",
    ),
    "cxml_punchoutordermessage.xml": ("PunchOutOrderMessage", "933695160894", "1.2.050", "83528721", "65652314"),
    "cxml_punchoutsetuprequest.xml": (
        "PunchOutSetupRequest", "933695160890", "1.2.050",
        "inbound@prominate-platform.com", "supplier@supplier.com",
    ),
    "cxml_quotemessage.xml": ("QuoteMessage", "0c30050@supplierorg.com", "1.2.060", "AN00000123", "AN00000456"),
    "cxml_shipnoticerequest.xml": (
        "ShipNoticeRequest", "0c30050@supplierorg.com", "1.2.050", "AN00000123", "AN00000456",
    ),
    "cxml_statusupdaterequest.xml": (
        "StatusUpdateRequest", "0c30050@supplierorg.com", "1.2.050", "AN00000123", "AN00000456",
    ),
    "ubl20_despatchadvice_example.xml": ("DespatchAdvice", "565899", "2.0", "", ""),
    "ubl20_invoice_example_ns1.xml": ("Invoice", "A00095678", "2.0", "", ""),
    "ubl20_order_val_good.xml": ("Order", "AEG012345", "2.0-prd2", "", ""),
    "ubl21_creditnote_example.xml": ("CreditNote", "TOSL108", "2.1", "", ""),
    "ubl21_invoice_example.xml": ("Invoice", "TOSL108", "2.1", "", ""),
    "ubl21_invoice_trivial.xml": ("Invoice", "123", "", "", ""),
    "ubl21_order_example.xml": ("Order", "34", "2.1", "", ""),
    "ubl21_orderresponse_example.xml": ("OrderResponse", "7", "2.1", "", ""),
    "ubl21_orderresponsesimple_example.xml": ("OrderResponseSimple", "7", "2.1", "", ""),
}


@needs_xml_corpus
def test_table_covers_every_corpus_xml_file() -> None:
    assert sorted(p.name for p in (CORPUS / "xml").glob("*.xml")) == sorted(CORPUS_XML)


@needs_xml_corpus
@pytest.mark.parametrize("name", sorted(CORPUS_XML))
def test_corpus_document(name: str) -> None:
    type_, ref, version, sender, recipient = CORPUS_XML[name]
    with open(CORPUS / "xml" / name, "rb") as stream:  # read as a stream
        message, interchange = read(stream, keep=True)
    assert (message.type, message.ref, message.version) == (type_, ref, version)
    assert (interchange.sender, interchange.recipient) == (sender, recipient)
    assert interchange.syntax == "xml"
    assert interchange.control_ref == ref
    assert interchange.messages == [message] and interchange.message_count == 1
    assert message.interchange is interchange
    assert message.segments == [] and message.issues == [] and interchange.ok
    assert interchange.charset == "utf-8"
    assert etree.QName(message.root).localname == ("cXML" if name.startswith("cxml") else type_)
    if name.startswith("ubl"):
        assert message.namespace == f"{UBL}{type_}-2"
    else:
        assert message.namespace == ""


@needs_xml_corpus
def test_cxml_envelope_details() -> None:
    message, interchange = read((CORPUS / "xml" / "cxml_orderrequest.xml").read_bytes())
    assert (interchange.sender_qualifier, interchange.recipient_qualifier) == ("NetworkId", "NetworkId")
    assert interchange.test is True  # <Request deploymentMode="test">
    # The DTD named in the DOCTYPE was not loaded, but the tree is complete.
    assert message.xpath("string(/cXML/Request/OrderRequest/OrderRequestHeader/@orderID)") == "DO1234"
    _, other = read((CORPUS / "xml" / "cxml_statusupdaterequest.xml").read_bytes())
    assert other.test is False


@needs_xml_corpus
def test_corpus_bad_syntax_is_malformed_with_line_and_offset() -> None:
    data = (CORPUS / "invalid" / "ubl20_order_bad_syntax.xml").read_bytes()
    exc = refusal(data)
    issue = exc.issue
    assert issue.code == "XML_MALFORMED"
    bad_line = next(n for n, text in enumerate(data.split(b"\n"), 1) if b"<cbc:ChannelCodeLA<" in text)
    assert issue.location.line == bad_line == 50
    assert "column" in issue.text and "line 50" in issue.text
    line_start = sum(len(text) + 1 for text in data.split(b"\n")[: bad_line - 1])
    assert line_start <= issue.location.offset < line_start + len(data.split(b"\n")[bad_line - 1])


@needs_xml_corpus
def test_corpus_bad_model_and_bad_code_are_well_formed() -> None:
    for name in ("ubl20_order_bad_model.xml", "ubl20_order_bad_code.xml"):
        message, _ = read((CORPUS / "invalid" / name).read_bytes())
        assert (message.type, message.ref) == ("Order", "AEG012345")


@needs_xml_corpus
def test_through_the_syntax_dispatcher() -> None:
    from gateway.syntax import parse

    [interchange] = parse((CORPUS / "xml" / "ubl21_order_example.xml").read_bytes())
    assert interchange.syntax == "xml" and [m.type for m in interchange.messages] == ["Order"]


# ---------------------------------------------------------------------------
# model and API

PO = f"""<?xml version="1.0" encoding="UTF-8"?>
<po:PurchaseOrder xmlns:po="{TEST_NS}" xmlns:x="urn:example:extra">
  <po:ID>PO-1</po:ID>
  <po:Note>first</po:Note>
  <po:Line><po:Item>A</po:Item><po:Qty>2</po:Qty></po:Line>
  <po:Line><po:Item>B</po:Item><po:Qty>3</po:Qty></po:Line>
</po:PurchaseOrder>
"""


def test_message_then_interchange_and_keep() -> None:
    items = list(xml.read(PO.encode()))
    assert [type(i) for i in items] == [xml.XmlMessage, Interchange]
    message, interchange = items
    assert interchange.messages == []  # streaming: not kept
    assert interchange.message_count == 1
    assert message.interchange is interchange
    _, kept = read(PO.encode(), keep=True)
    assert len(kept.messages) == 1


def test_xml_message_is_a_slotted_message() -> None:
    message, _ = read(PO.encode())
    assert isinstance(message, Message)
    assert not hasattr(message, "__dict__")
    with pytest.raises(AttributeError):
        message.unknown_attribute = 1  # type: ignore[attr-defined]
    built = xml.XmlMessage("T", "R", "V", [], root=None, namespace="urn:x")
    assert (built.type, built.namespace, built.namespaces, built.issues) == ("T", "urn:x", {}, [])


def test_to_json_has_namespace_and_no_segments() -> None:
    message, interchange = read(PO.encode(), keep=True)
    out = message.to_json()
    assert out == {"type": "PurchaseOrder", "ref": "", "version": "", "namespace": TEST_NS}
    whole = json.loads(json.dumps(interchange.to_json()))
    assert whole["syntax"] == "xml"
    assert whole["messages"] == [out]


def test_namespaces_and_xpath() -> None:
    message, _ = read(PO.encode())
    assert message.namespace == TEST_NS
    assert message.namespaces == {"po": TEST_NS, "x": "urn:example:extra"}
    assert message.xpath("/po:PurchaseOrder/po:Line/po:Item/text()") == ["A", "B"]
    # the caller's own prefixes work too, and win over the document's
    assert message.xpath("sum(/p:PurchaseOrder/p:Line/p:Qty)", {"p": TEST_NS}) == 5.0
    assert message.xpath("string(//po:ID)") == "PO-1"


@needs_xml_corpus
def test_unusual_prefixes_are_preserved() -> None:
    message, _ = read((CORPUS / "xml" / "ubl20_invoice_example_ns1.xml").read_bytes())
    assert message.namespaces == {
        "Bob": UBL + "Invoice-2",
        "Harry": UBL + "CommonBasicComponents-2",
        "Sally": UBL + "CommonAggregateComponents-2",
    }
    assert message.root.prefix == "Bob"
    assert message.xpath("/Bob:Invoice/Harry:ID/text()") == ["A00095678"]
    conventional = {"inv": message.namespace, **xml.UBL_NAMESPACES}
    assert message.xpath("/inv:Invoice/cbc:ID/text()", conventional) == ["A00095678"]
    assert etree.tostring(message.root).startswith(b"<Bob:Invoice")


def test_default_namespace_is_not_a_prefix() -> None:
    doc = f'<Order xmlns="{UBL}Order-2" xmlns:cbc="{xml.CBC}"><cbc:ID> 7 </cbc:ID></Order>'
    message, _ = read(doc.encode())
    assert message.namespace == UBL + "Order-2"
    assert message.namespaces == {"cbc": xml.CBC}
    assert message.ref == "7"  # stripped


def test_ubl_id_must_be_a_direct_cbc_child() -> None:
    doc = (
        f'<Invoice xmlns="{UBL}Invoice-2" xmlns:cbc="{xml.CBC}" xmlns:cac="{xml.CAC}">'
        "<cac:OrderReference><cbc:ID>NOT-ME</cbc:ID></cac:OrderReference>"
        "<ID>nor-me</ID></Invoice>"
    )
    message, _ = read(doc.encode())
    assert (message.type, message.ref, message.version) == ("Invoice", "", "")


def test_cxml_variants() -> None:
    response = b'<cXML payloadID="p1" version="1.2.014"><Response><Status code="200"/></Response></cXML>'
    message, interchange = read(response)
    assert (message.type, message.ref, message.version) == ("Response", "p1", "1.2.014")
    assert (interchange.sender, interchange.recipient) == ("", "")
    profile = (
        b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.050/cXML.dtd">'
        b'<cXML payloadID="p2" version="1.2.011"><Response><Status code="200"/><ProfileResponse/></Response></cXML>'
    )
    message, _ = read(profile)
    assert (message.type, message.version) == ("ProfileResponse", "1.2.011")  # the attribute wins
    message, interchange = read(b'<cXML><Message deploymentMode="test"><X/></Message></cXML>')
    assert (message.type, interchange.test) == ("X", True)
    message, _ = read(b"<cXML><Header/><!-- none --></cXML>")
    assert (message.type, message.ref, message.version) == ("cXML", "", "")


def test_other_xml_documents() -> None:
    message, interchange = read(b"<?xml version='1.0'?><catalog id='c1'><item/></catalog>")
    assert (message.type, message.ref, message.version, message.namespace) == ("catalog", "", "", "")
    assert interchange.control_ref == ""


def test_read_is_lazy() -> None:
    iterator = xml.read(b"<not-closed>")  # nothing happens until iteration
    with pytest.raises(EdiSyntaxError):
        next(iterator)


# ---------------------------------------------------------------------------
# malformed documents


def test_malformed_has_line_column_and_offset() -> None:
    data = b'<?xml version="1.0"?>\n<r>\n<a>\n<b></a>\n</r>\n'
    issue = refusal(data).issue
    assert issue.code == "XML_MALFORMED"
    assert issue.location.line == 4
    assert "mismatch" in issue.text and "column 8" in issue.text
    assert issue.location.offset == data.index(b"<b></a>") + 7


def test_malformed_offset_counts_bytes_not_characters() -> None:
    data = '<r>\n  <a>ééé<</a></r>'.encode()
    issue = refusal(data).issue
    assert issue.location.line == 2
    # libxml2 reports the column in characters (10: just past the stray "<")
    assert "column 10" in issue.text
    assert issue.location.offset == data.index(b"<</a>") + 1


def test_malformed_cases() -> None:
    for data, words in [
        (b"<r><a></r>", "mismatch"),
        (b"<r><a>", "Premature end"),
        (b"<r/><r/>", "Extra content"),
        (b'<r a="1" a="2"/>', "redefined"),
        (b"<r>&x;</r>", "not defined"),
        (b'<?xml version="1.0"?>', ""),
    ]:
        issue = refusal(data).issue
        assert issue.code == "XML_MALFORMED", data
        assert words in issue.text, (data, issue.text)
        assert issue.location.line == 1


def test_malformed_late_in_a_long_chunked_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml, "CHUNK", 256)  # many chunks: exercises the position window
    body = "".join(f"<l n='{i}'>ß{i}</l>\n" for i in range(2000))
    data = f"<r>\n{body}<bad></r>\n".encode()
    issue = refusal(Stream(data, limit=len(data), step=100)).issue
    assert issue.location.line == 2002
    assert issue.location.offset == data.index(b"<bad></r>") + len("<bad></r>")


def test_invalid_bytes_are_malformed_with_offset() -> None:
    data = b'<?xml version="1.0"?>\n<r>\n  <a>\xff</a>\n</r>'
    issue = refusal(data).issue
    assert issue.code == "XML_MALFORMED"
    assert issue.location.offset == data.index(b"\xff")
    assert issue.location.line == 3
    assert "ff" in issue.text and "utf-8" in issue.text


def test_empty_and_not_xml() -> None:
    assert refusal(b"").issue.code == "EMPTY_DOCUMENT"
    assert refusal(b" \r\n\t").issue.code == "EMPTY_DOCUMENT"
    assert refusal(b"\xef\xbb\xbf  ").issue.code == "EMPTY_DOCUMENT"
    issue = refusal(b"  UNB+UNOA:1+X+Y'").issue
    assert issue.code == "NOT_EDI" and issue.location.offset == 2 and "UNB" in issue.text


def test_excessive_nesting_hits_the_parser_limit() -> None:
    data = b"<a>" * 5000 + b"</a>" * 5000
    issue = refusal(data).issue
    assert issue.code == "XML_TOO_LARGE"
    assert "depth" in issue.text.lower()


# ---------------------------------------------------------------------------
# forbidden constructs

PASSWD = Path("/etc/passwd")


def passwd_lines() -> list[str]:
    if not PASSWD.is_file():  # pragma: no cover - every Linux has one
        return []
    return [line for line in PASSWD.read_text(errors="replace").splitlines() if len(line) > 8]


def disable_prolog_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave only the post-parse defence in place."""
    monkeypatch.setattr(xml, "_scan_prolog", lambda text, final: (xml._Verdict.ROOT, 0))


XXE_DOCS = {
    "general": b'<?xml version="1.0"?>\n<!DOCTYPE r [\n<!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n<r>&x;</r>',
    "parameter": b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><r/>',
    "attribute": b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r a="&x;"/>',
    "unused": b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>no reference</r>',
    "after-comment": b'<!-- <a> --><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "internal": b'<!DOCTYPE r [<!ENTITY x "harmless-looking">]><r>&x;</r>',
}


@pytest.mark.parametrize("scan", ["with-prolog-scan", "post-parse-only"])
@pytest.mark.parametrize("name", sorted(XXE_DOCS))
def test_xxe_is_refused_and_leaks_nothing(name: str, scan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if scan == "post-parse-only":
        disable_prolog_scan(monkeypatch)
    exc = refusal(XXE_DOCS[name])
    assert exc.issue.code == "XML_FORBIDDEN", exc.issue
    said = everything_said(exc)
    for line in passwd_lines():
        assert line not in said
    assert "root:" not in said


def test_prolog_scan_refuses_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("libxml2 must not see a document that declares entities")

    monkeypatch.setattr(xml.etree, "parse", no_parsing)
    issue = refusal(XXE_DOCS["general"]).issue
    assert issue.code == "XML_FORBIDDEN"
    assert issue.location.line == 3
    assert issue.location.offset == XXE_DOCS["general"].index(b"<!ENTITY")


def test_prolog_scan_reads_on_until_the_prolog_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml, "CHUNK", 64)
    monkeypatch.setattr(xml.etree, "parse", lambda *a, **k: pytest.fail("parsed"))
    data = (
        b'<?xml version="1.0"?>\n<!--' + b" padding " * 300 + b"-->\n"
        b'<!DOCTYPE r [\n<!ELEMENT r ANY>' + b"<!-- more padding -->" * 50 + b'\n<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<r>&x;</r>"
    )
    issue = refusal(Stream(data, limit=len(data), step=10)).issue
    assert issue.code == "XML_FORBIDDEN"
    assert issue.location.offset == data.index(b"<!ENTITY")
    assert issue.location.line == 5


def test_prolog_scan_verdicts() -> None:
    scan = xml._scan_prolog
    assert scan('<?xml version="1.0"?><!-- c --><r/>', True) == (xml._Verdict.ROOT, 31)
    assert scan('<!DOCTYPE r SYSTEM "a>b" [<!ELEMENT r ANY>]><r/>', True)[0] == xml._Verdict.ROOT
    assert scan("<!DOCTYPE r [<!-- ]> --><!ATTLIST r a CDATA 'x'>]><r/>", True)[0] == xml._Verdict.ROOT
    assert scan("<!DOCTYPE r [<!-- ]> --><!ENTITY x 'y'>]><r/>", True)[0] == xml._Verdict.FORBIDDEN
    assert scan("<!DOCTYPE r [<!ELEMENT r ANY>", False)[0] == xml._Verdict.MORE
    assert scan("<!DOCTYPE r [<!ELEMENT r ANY>  <!ENTITY", True)[0] == xml._Verdict.FORBIDDEN
    assert scan("<!ENTITY x 'y'><r/>", True)[0] == xml._Verdict.FORBIDDEN  # outside any DOCTYPE
    assert scan("<?xml", False)[0] == xml._Verdict.MORE
    assert scan("  ", True)[0] == xml._Verdict.EMPTY
    assert scan("x<r/>", True)[0] == xml._Verdict.NOT_XML
    # '<!ENTITY' in the body is data, not a declaration
    assert scan("<r><![CDATA[<!ENTITY x 'y'>]]></r>", True)[0] == xml._Verdict.ROOT


def test_entity_text_in_the_body_is_fine() -> None:
    message, _ = read(b"<r><![CDATA[<!ENTITY x SYSTEM 'file:///etc/passwd'>]]> &amp; &#65;</r>")
    assert message.root.text == "<!ENTITY x SYSTEM 'file:///etc/passwd'> & A"


def billion_laughs(levels: int = 10) -> bytes:
    decls = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        decls.append(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">')
    return f'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n {" ".join(decls)}\n]>\n<lolz>&lol{levels - 1};</lolz>'.encode()


@pytest.mark.parametrize("scan", ["with-prolog-scan", "post-parse-only"])
def test_billion_laughs_is_refused_quickly(scan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if scan == "post-parse-only":
        disable_prolog_scan(monkeypatch)
    data = billion_laughs()
    started = time.perf_counter()
    exc = refusal(data)
    elapsed = time.perf_counter() - started
    assert exc.issue.code == "XML_FORBIDDEN"
    assert elapsed < 0.5
    assert "lollollol" not in everything_said(exc)


def test_billion_laughs_in_a_stream_is_refused_without_reading_on() -> None:
    stream = Stream(billion_laughs(), filler=b"<lolz/>" * 100)
    exc = refusal(stream, max_bytes=10 * 1024 * 1024)
    assert exc.issue.code == "XML_FORBIDDEN"
    assert stream.served <= 2 * 1024 * 1024  # the first chunk or two, not the whole limit


def test_external_dtd_file_is_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(
        f'<!ENTITY x SYSTEM "{secret.as_uri()}">\n<!ATTLIST r injected CDATA "FROM-THE-DTD">\n'
    )
    doctype = f'<!DOCTYPE r SYSTEM "{dtd.as_uri()}">\n'.encode()
    # Not referencing anything from it: accepted, and the DTD's defaults are absent.
    message, _ = read(doctype + b"<r>plain</r>")
    assert message.root.get("injected") is None
    assert message.root.text == "plain"
    # Referencing its entity, in content or in an attribute: refused, nothing leaked.
    for body in (b"<r>&x;</r>", b'<r a="&x;"/>'):
        for scan in (True, False):
            with monkeypatch.context() as patch:
                if not scan:
                    disable_prolog_scan(patch)
                exc = refusal(doctype + body)
            assert exc.issue.code == "XML_FORBIDDEN"
            assert "TOP-SECRET" not in everything_said(exc)


def test_nothing_is_fetched_over_the_network(http_server: tuple[str, list[str]]) -> None:
    base, hits = http_server
    doctype = f'<!DOCTYPE r SYSTEM "{base}/evil.dtd">'.encode()
    message, _ = read(doctype + b"<r>fine</r>")  # the cXML pattern: accepted
    assert message.root.text == "fine"
    exc = refusal(doctype + b"<r>&x;</r>")
    assert exc.issue.code == "XML_FORBIDDEN" and "FETCHED" not in everything_said(exc)
    exc = refusal(f'<!DOCTYPE r [<!ENTITY x SYSTEM "{base}/x">]><r>&x;</r>'.encode())
    assert exc.issue.code == "XML_FORBIDDEN"
    time.sleep(0.05)
    assert hits == []


def test_a_resolver_request_alone_is_refused(tmp_path: Path) -> None:
    """Third line of defence: should libxml2 ever ask for a resource, it gets nothing
    and the document is refused (provoked here with a parser that loads DTDs)."""
    secret = tmp_path / "secret.dtd"
    secret.write_text('<!ATTLIST r leaked CDATA "TOP-SECRET">')
    parser = etree.XMLParser(load_dtd=True, attribute_defaults=True, no_network=True)
    fetched = xml._NoFetch()
    parser.resolvers.add(fetched)
    tree = etree.parse(io.BytesIO(f'<!DOCTYPE r SYSTEM "{secret.as_uri()}"><r/>'.encode()), parser)
    assert tree.getroot().get("leaked") is None
    assert fetched.urls and fetched.urls[0].endswith("secret.dtd")
    with pytest.raises(EdiSyntaxError) as info:
        xml._check_forbidden(tree, parser, fetched)
    assert info.value.issue.code == "XML_FORBIDDEN"


def test_utf7_is_refused() -> None:
    data = b'<?xml version="1.0" encoding="UTF-7"?><r>+ADw-x+AD4-</r>'
    assert refusal(data).issue.code == "XML_FORBIDDEN"
    assert refusal(b"<r/>", encoding="utf-7").issue.code == "XML_FORBIDDEN"


# ---------------------------------------------------------------------------
# size


def test_default_limit_is_50_mib() -> None:
    assert xml.DEFAULT_MAX == 50 * 1024 * 1024


def test_oversized_stream_is_refused_without_reading_it_all() -> None:
    limit = 3 * 1024 * 1024 + 17
    stream = Stream(b"<r>")  # endless: "<r>xxxxxxxx..."
    exc = refusal(stream, max_bytes=limit)
    assert exc.issue.code == "XML_TOO_LARGE"
    assert exc.issue.location.offset == limit
    assert str(limit) in exc.issue.text
    assert limit < stream.served <= limit + 1


def test_oversized_bytes_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml.etree, "parse", lambda *a, **k: pytest.fail("parsed"))
    data = b"<r>" + b"x" * 1000 + b"</r>"
    assert refusal(data, max_bytes=len(data) - 1).issue.code == "XML_TOO_LARGE"
    assert refusal(bytearray(data), max_bytes=100).issue.code == "XML_TOO_LARGE"
    assert refusal(memoryview(data), max_bytes=100).issue.code == "XML_TOO_LARGE"


def test_limit_is_inclusive() -> None:
    data = b"<r>" + b"x" * 1000 + b"</r>"
    read(data, max_bytes=len(data))
    read(io.BytesIO(data), max_bytes=len(data))
    assert refusal(io.BytesIO(data), max_bytes=len(data) - 1).issue.code == "XML_TOO_LARGE"


def test_large_document_under_the_limit_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml, "CHUNK", 4096)
    lines = b"".join(b"<po:Line><po:Item>%d</po:Item></po:Line>\n" % i for i in range(20000))
    data = f'<po:PurchaseOrder xmlns:po="{TEST_NS}">\n'.encode() + lines + b"</po:PurchaseOrder>"
    stream = Stream(data, limit=len(data), step=3000)
    message, _ = read(stream)
    assert message.xpath("count(/po:PurchaseOrder/po:Line)") == 20000
    assert message.root[-1].sourceline == 20001


def test_text_mode_stream_is_rejected() -> None:
    with pytest.raises(TypeError):
        list(xml.read(io.StringIO("<r/>")))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# encodings

TEXT = "Grüße à 5 €"


def doc(encoding_label: str | None) -> str:
    declaration = f'<?xml version="1.0" encoding="{encoding_label}"?>' if encoding_label else '<?xml version="1.0"?>'
    return f"{declaration}\n<r a='{TEXT}'>{TEXT}</r>\n"


@pytest.mark.parametrize(
    ("data", "charset"),
    [
        (doc("UTF-8").encode(), "utf-8"),
        (codecs.BOM_UTF8 + doc("UTF-8").encode(), "utf-8"),
        (codecs.BOM_UTF8 + doc(None).encode(), "utf-8"),
        (doc(None).encode("utf-16"), "utf-16-le"),  # native BOM (little endian here)
        (codecs.BOM_UTF16_BE + doc("UTF-16").encode("utf-16-be"), "utf-16-be"),
        (codecs.BOM_UTF16_LE + doc("UTF-16").encode("utf-16-le"), "utf-16-le"),
        (doc("UTF-16").encode("utf-16-le"), "utf-16-le"),  # no BOM: byte pattern
        (doc("UTF-16").encode("utf-16-be"), "utf-16-be"),
        (doc(None).encode("utf-32"), "utf-32-le"),
        (doc("windows-1252").encode("cp1252"), "cp1252"),
        (doc("ISO-8859-15").encode("iso8859-15"), "iso8859-15"),
    ],
)
def test_encodings(data: bytes, charset: str) -> None:
    message, interchange = read(data)
    assert message.root.text == TEXT and message.root.get("a") == TEXT
    assert interchange.charset == charset


def test_bom_document_positions_count_the_bom() -> None:
    data = codecs.BOM_UTF8 + b"<r>\n<a></b>\n</r>"
    issue = refusal(data).issue
    assert issue.location.line == 2
    assert issue.location.offset == data.index(b"</b>") + 4


def test_utf16_malformed_has_line() -> None:
    data = "<?xml version='1.0' encoding='UTF-16'?>\n<r>\n<a></b>\n</r>".encode("utf-16")
    issue = refusal(data).issue
    assert issue.code == "XML_MALFORMED" and issue.location.line == 3
    assert issue.location.offset == data.index("</b>".encode("utf-16-le")) + 8


def test_encoding_argument_overrides_the_declaration() -> None:
    data = "<?xml version='1.0' encoding='UTF-8'?><r>Grüße</r>".encode("latin-1")  # says UTF-8, is Latin-1
    assert refusal(data).issue.code == "XML_MALFORMED"  # as declared: invalid UTF-8
    message, interchange = read(data, encoding="latin-1")
    assert message.root.text == "Grüße"
    assert interchange.charset == "iso8859-1"
    # the override also beats a UTF-16 declaration on 8-bit bytes
    message, _ = read(b"<?xml version='1.0' encoding='UTF-16'?><r>\xe9</r>", encoding="cp1252")
    assert message.root.text == "é"


def test_encoding_argument_with_bom() -> None:
    utf8 = codecs.BOM_UTF8 + "<r>é</r>".encode()
    assert read(utf8, encoding="utf-8")[0].root.text == "é"
    assert read(utf8, encoding="utf-8-sig")[0].root.text == "é"
    utf16 = "<r>é</r>".encode("utf-16-be")
    assert read(codecs.BOM_UTF16_BE + utf16, encoding="utf-16")[0].root.text == "é"
    assert read(utf16, encoding="UTF-16")[0].root.text == "é"
    # a UTF-8 BOM in front of text the partner says is Latin-1 is dropped, not read as "ï»¿"
    assert read(codecs.BOM_UTF8 + b"<r>\xe9</r>", encoding="latin-1")[0].root.text == "é"


def test_unknown_encodings() -> None:
    issue = refusal(b'<?xml version="1.0" encoding="x-no-such-charset"?><r/>').issue
    assert issue.code == "CHARSET_UNKNOWN" and "x-no-such-charset" in issue.text
    assert refusal(b"<r/>", encoding="no-such").issue.code == "CHARSET_UNKNOWN"
    assert refusal(b"<r/>", encoding="base64").issue.code == "CHARSET_UNKNOWN"  # not a text encoding


def test_ebcdic_document() -> None:
    data = "<?xml version='1.0' encoding='IBM037'?><r>EBCDIC</r>".encode("cp037")
    message, interchange = read(data)
    assert message.root.text == "EBCDIC" and interchange.charset == "cp037"


def test_declaration_in_another_encoding_than_it_names() -> None:
    # labelled UTF-16 / EBCDIC, but written in 8-bit ASCII-compatible bytes: the bytes win
    for label in ("UTF-16", "UTF-32", "IBM037"):
        message, interchange = read(f"<?xml version='1.0' encoding='{label}'?><r>é</r>".encode())
        assert message.root.text == "é" and interchange.charset == "utf-8", label


# ---------------------------------------------------------------------------
# XSD validation

PO_XSD = f"""<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="{TEST_NS}"
           targetNamespace="{TEST_NS}" elementFormDefault="qualified">
  <xs:element name="PurchaseOrder">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="ID" type="xs:string"/>
        <xs:element name="Note" type="xs:string" minOccurs="0"/>
        <xs:element name="Line" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Item" type="xs:string"/>
              <xs:element name="Qty" type="xs:positiveInteger"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


@pytest.fixture()
def po_schemas(tmp_path: Path) -> dict[tuple[str, str], Path]:
    path = tmp_path / "po.xsd"
    path.write_text(PO_XSD)
    return {(TEST_NS, "PurchaseOrder"): path}


def test_valid_document_has_no_issues(po_schemas: dict) -> None:
    message, interchange = read(PO.encode(), schemas=po_schemas)
    assert message.issues == [] and interchange.ok


def test_misspelled_element_is_reported_with_its_line(po_schemas: dict) -> None:
    bad = PO.replace("<po:Note>first</po:Note>", "<po:Note>first</po:Nore>")
    assert refusal(bad.encode()).issue.code == "XML_MALFORMED"  # not even well-formed
    bad = PO.replace("<po:Note>first</po:Note>", "<po:Nôte>first</po:Nôte>")
    message, interchange = read(bad.encode(), schemas=po_schemas, keep=True)
    [issue] = message.issues
    assert issue.code == "XML_SCHEMA_INVALID"
    assert issue.location.line == 4
    assert "Nôte" in issue.text and "po.xsd" in issue.text
    assert not message.ok and not interchange.ok
    assert message.to_json()["issues"][0]["code"] == "XML_SCHEMA_INVALID"


def test_each_schema_error_is_an_issue(po_schemas: dict) -> None:
    bad = PO.replace("<po:Qty>2</po:Qty>", "<po:Qty>two</po:Qty>").replace(
        "<po:Item>B</po:Item>", "<po:Itme>B</po:Itme>"
    )
    message, _ = read(bad.encode(), schemas=po_schemas)
    assert [(i.code, i.location.line) for i in message.issues] == [
        ("XML_SCHEMA_INVALID", 5),
        ("XML_SCHEMA_INVALID", 6),
    ]
    assert "two" in message.issues[0].text


def test_schema_issues_are_capped(po_schemas: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml, "MAX_SCHEMA_ISSUES", 3)
    lines = "".join(f"<po:Line><po:Item>i</po:Item><po:Qty>-{n}</po:Qty></po:Line>\n" for n in range(10))
    data = f'<po:PurchaseOrder xmlns:po="{TEST_NS}"><po:ID>1</po:ID>\n{lines}</po:PurchaseOrder>'
    message, _ = read(data.encode(), schemas=po_schemas)
    assert len(message.issues) == 4
    assert "7 more" in message.issues[-1].text


def test_schema_applies_only_to_its_root(po_schemas: dict) -> None:
    other = PO.replace("PurchaseOrder", "Invoice")  # same namespace, other root
    message, _ = read(other.encode(), schemas=po_schemas)
    assert message.issues == []
    elsewhere = PO.replace(TEST_NS, "urn:example:other")
    message, _ = read(elsewhere.encode(), schemas=po_schemas)
    assert message.issues == []


def test_schema_for_a_document_without_namespace(tmp_path: Path) -> None:
    xsd = tmp_path / "plain.xsd"
    xsd.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:element name="r"><xs:complexType><xs:attribute name="n" type="xs:int"/></xs:complexType></xs:element>'
        "</xs:schema>"
    )
    schemas = {("", "r"): str(xsd)}
    assert read(b'<r n="1"/>', schemas=schemas)[0].issues == []
    assert [i.code for i in read(b'<r n="one"/>', schemas=schemas)[0].issues] == ["XML_SCHEMA_INVALID"]


def test_schema_is_loaded_once_per_path(po_schemas: dict, tmp_path: Path) -> None:
    bad = PO.replace("<po:Qty>2</po:Qty>", "<po:Qty>two</po:Qty>").encode()
    assert len(read(bad, schemas=po_schemas)[0].issues) == 1
    (tmp_path / "po.xsd").write_text(PO_XSD.replace("xs:positiveInteger", "xs:string"))
    assert len(read(bad, schemas=po_schemas)[0].issues) == 1  # still the cached schema
    same_file = {(TEST_NS, "PurchaseOrder"): str(tmp_path / "." / "po.xsd")}
    assert len(read(bad, schemas=same_file)[0].issues) == 1  # same real path, same cache entry
    xml.clear_schema_cache()
    assert read(bad, schemas=po_schemas)[0].issues == []  # reloaded


def test_schema_cache_is_thread_safe(po_schemas: dict) -> None:
    good, bad = PO.encode(), PO.replace("<po:Qty>2</po:Qty>", "<po:Qty>0</po:Qty>").encode()
    failures: list[str] = []

    def work(n: int) -> None:
        for i in range(30):
            data = bad if (n + i) % 2 else good
            issues = read(data, schemas=po_schemas)[0].issues
            if len(issues) != (1 if data is bad else 0):
                failures.append(f"{n}/{i}: {issues}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_schema_imports_local_files_only(tmp_path: Path, http_server: tuple[str, list[str]]) -> None:
    base, hits = http_server
    (tmp_path / "inc.xsd").write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{TEST_NS}">'
        '<xs:simpleType name="Code"><xs:restriction base="xs:string"><xs:length value="2"/></xs:restriction>'
        "</xs:simpleType></xs:schema>"
    )
    local = tmp_path / "local.xsd"
    local.write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="{TEST_NS}" targetNamespace="{TEST_NS}">'
        '<xs:include schemaLocation="inc.xsd"/><xs:element name="C" type="t:Code"/></xs:schema>'
    )
    schemas = {(TEST_NS, "C"): local}
    assert read(f'<C xmlns="{TEST_NS}">AB</C>'.encode(), schemas=schemas)[0].issues == []
    assert len(read(f'<C xmlns="{TEST_NS}">ABC</C>'.encode(), schemas=schemas)[0].issues) == 1

    remote = tmp_path / "remote.xsd"
    remote.write_text(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{TEST_NS}">'
        f'<xs:import namespace="urn:x" schemaLocation="{base}/x.xsd"/><xs:element name="C"/></xs:schema>'
    )
    with pytest.raises(ConfigError, match="only local files"):
        read(f'<C xmlns="{TEST_NS}"/>'.encode(), schemas={(TEST_NS, "C"): remote})
    time.sleep(0.05)
    assert hits == []


def test_broken_schema_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.xsd"):
        read(PO.encode(), schemas={(TEST_NS, "PurchaseOrder"): tmp_path / "missing.xsd"})
    (tmp_path / "broken.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><oops/>")
    with pytest.raises(ConfigError, match="broken.xsd"):
        read(PO.encode(), schemas={(TEST_NS, "PurchaseOrder"): tmp_path / "broken.xsd"})


def _ubl_order_schemas(tmp_path: Path) -> dict[tuple[str, str], Path]:
    """A deliberately small stand-in for the UBL 2.0 Order XSD set (three local files)."""
    ns = "http://www.w3.org/2001/XMLSchema"
    (tmp_path / "order.xsd").write_text(
        f'<xs:schema xmlns:xs="{ns}" targetNamespace="{UBL}Order-2" elementFormDefault="qualified">'
        f'<xs:import namespace="{xml.CAC}" schemaLocation="cac.xsd"/>'
        '<xs:element name="Order"><xs:complexType><xs:sequence>'
        '<xs:any namespace="##other" processContents="lax" maxOccurs="unbounded"/>'
        "</xs:sequence></xs:complexType></xs:element></xs:schema>"
    )
    (tmp_path / "cac.xsd").write_text(
        f'<xs:schema xmlns:xs="{ns}" xmlns:cbc="{xml.CBC}" targetNamespace="{xml.CAC}" elementFormDefault="qualified">'
        f'<xs:import namespace="{xml.CBC}" schemaLocation="cbc.xsd"/>'
        '<xs:element name="OtherCommunication"><xs:complexType><xs:sequence>'
        '<xs:element ref="cbc:ChannelCode" minOccurs="0"/><xs:element ref="cbc:Value"/>'
        "</xs:sequence></xs:complexType></xs:element></xs:schema>"
    )
    (tmp_path / "cbc.xsd").write_text(
        f'<xs:schema xmlns:xs="{ns}" targetNamespace="{xml.CBC}" elementFormDefault="qualified">'
        '<xs:element name="ChannelCode" type="xs:token"/><xs:element name="Value" type="xs:string"/>'
        "</xs:schema>"
    )
    return {(UBL + "Order-2", "Order"): tmp_path / "order.xsd"}


@needs_xml_corpus
def test_corpus_bad_model_fails_schema_validation_at_its_line(tmp_path: Path) -> None:
    schemas = _ubl_order_schemas(tmp_path)
    good, _ = read((CORPUS / "xml" / "ubl20_order_val_good.xml").read_bytes(), schemas=schemas)
    assert good.issues == []
    bad, _ = read((CORPUS / "invalid" / "ubl20_order_bad_model.xml").read_bytes(), schemas=schemas)
    [issue] = bad.issues
    assert issue.code == "XML_SCHEMA_INVALID"
    assert issue.location.line == 50
    assert "ChannelCod'" in issue.text

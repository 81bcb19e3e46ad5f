"""The tracking pages in a real browser: `edigw run` on a loopback port, Debian's chromium driven headless
through its chromedriver (selenium), against the real broker.

The gateway first runs without Brasserie du Parc's partner file, so its order fails ("no partner");
then it is restarted with the file back (a mapping fix), and the order is replayed from the page.
Widget Supply's 850 (rendered from the order) is delivered over HTTP to a loopback receiver that
refuses it with 400 (terminal: a failed delivery) until the test lets it through and re-drives it.

Screenshots are taken on the way (into the test's folder; with EDIGW_UI_SCREENSHOTS=docs/ui into that
folder, which is how the ones in docs/ui were made).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from adapters.http.keys import hash_key
from tests.gateway_process import KEY as ADMIN_KEY, Gateway

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
BRASSERIE, ACME = "ui-key-brasserie", "ui-key-acme"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"  # Debian's (make test installs them)


def _order(po: str, interchange: str) -> bytes:
    text = (SAMPLES / "edifact/orders_d96a.edi").read_text("latin-1")
    return text.replace("ORD000123", interchange).replace("PO-45001", po).encode("latin-1")


def _broken_order() -> bytes:
    """Brasserie's order with a segment ORDERS has not (QQQ, counted in UNT): refused by validation at
    segment 5."""
    lines = _order("PO-UI-BROKEN", "UIBROKEN1").decode("latin-1").split("\n")
    at = next(n for n, line in enumerate(lines) if line.startswith("DTM"))
    lines.insert(at + 1, "QQQ+1+2'")
    return "\n".join(lines).replace("UNT+22+1'", "UNT+23+1'").encode("latin-1")


def _post(url: str, body: bytes, key: str, content_type: str = "application/EDIFACT") -> str:
    response = httpx.post(f"{url}/v1/documents", content=body, timeout=30,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": content_type})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _settled(url: str, receipt_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(f"{url}/v1/documents/{receipt_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=30).json()
        if status["status"] != "received" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


class Receiver(ThreadingHTTPServer):
    """A partner's HTTP endpoint on loopback: answers ``status`` and keeps what was posted."""

    def __init__(self) -> None:
        self.status, self.bodies = 400, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.status < 300:
                    receiver.bodies.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/edi"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _received_day(url: str, receipt_id: str):
    status = httpx.get(f"{url}/v1/documents/{receipt_id}", headers={"X-API-Key": ADMIN_KEY}, timeout=30).json()
    return datetime.fromisoformat(status["received_at"]).astimezone(timezone.utc).date()


def _mappings(where: Path, *, with_brasserie: bool, deliver_to: str) -> Path:
    shutil.copytree(ROOT / "mappings", where, dirs_exist_ok=True)
    brasserie = where / "brasserie-du-parc.yaml"
    if with_brasserie:
        text = (ROOT / "mappings/brasserie-du-parc.yaml").read_text()
        brasserie.write_text(text + f"\nchannels:\n  http:\n    api_keys: [{hash_key(BRASSERIE)}]\n")
    else:
        brasserie.unlink()
    acme = where / "acme-retail.yaml"
    if "api_keys" not in acme.read_text():
        with acme.open("a") as f:
            f.write(f"\nchannels:\n  http:\n    api_keys: [{hash_key(ACME)}]\n")
    widget = where / "widget-supply.yaml"
    if "\nchannels:" not in widget.read_text():
        with widget.open("a") as f:
            f.write(f"\nchannels:\n  http:\n    deliver: {{url: '{deliver_to}', timeout_seconds: 5}}\n")
    return where


@pytest.fixture(scope="module")
def site(broker, tmp_path_factory):
    """The gateway after the mapping fix, with one order failed before it, one broken order, one X12
    850 of Acme's; and what was posted, by name."""
    home = tmp_path_factory.mktemp("ui")
    receiver = Receiver()
    mappings = _mappings(home / "mappings", with_brasserie=False, deliver_to=receiver.url)
    # a client id of its own: the outbound routes' consumer groups are named after it, and a group shared
    # with another test's gateway would wait for that one's members to time out
    gateway = Gateway(home, broker.bootstrap, "ui.order-created", mappings=mappings, client_id="ui-pages",
                      extra="delivery: {interval_seconds: 0.3}\n")
    gateway.start()
    try:
        unmapped = _post(gateway.url, _order("PO-UI-REPLAY", "UIREPLAY1"), ADMIN_KEY)
        assert _settled(gateway.url, unmapped)["status"] == "failed"
    finally:
        gateway.stop()
    _mappings(mappings, with_brasserie=True, deliver_to=receiver.url)  # the fix; the same store and archive
    gateway.start()
    try:
        posted = {"unmapped": unmapped,
                  "order": _post(gateway.url, _order("PO-UI-1", "UIORDER1"), BRASSERIE),
                  "broken": _post(gateway.url, _broken_order(), BRASSERIE),
                  "acme": _post(gateway.url, (SAMPLES / "x12/850_4010.x12").read_bytes(), ACME,
                                "application/EDI-X12")}
        for name in ("order", "broken", "acme"):
            assert _settled(gateway.url, posted[name])["status"] != "received", name
        posted["undelivered"] = _undelivered(gateway.url, "widget-supply")
        gateway.receiver = receiver
        yield gateway, posted
    finally:
        gateway.stop()
        receiver.shutdown()


def _undelivered(url: str, partner: str, timeout: float = 60) -> str:
    """The id of the partner's first failed outbound document, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.get(f"{url}/v1/outbound", params={"partner": partner, "status": "failed"},
                          headers={"X-API-Key": ADMIN_KEY}, timeout=30).json()["documents"]
        if found:
            return found[0]["id"]
        assert time.monotonic() < deadline, "no failed delivery for " + partner
        time.sleep(0.3)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900"):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:  # a failure, never a skip: make test installs chromium-driver
        pytest.fail(f"cannot start chromium through {CHROMEDRIVER}: {exc.msg}", pytrace=False)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = os.environ.get("EDIGW_UI_SCREENSHOTS")
    where = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)

    def take(driver, name: str) -> Path:
        path = where / f"{name}.png"
        driver.set_window_size(1100, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1100, min(max(height + 160, 420), 1200))  # the window's frame included
        assert driver.save_screenshot(str(path)), path
        driver.set_window_size(1280, 900)
        return path
    return take


def click(driver, element) -> None:
    """Click what submits a form, and wait for the next page."""
    driver.execute_script("window.beforeClick = true")
    element.click()
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return window.beforeClick === undefined && document.readyState === 'complete'"))


def login(driver, url: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{url}/ui/login")
    driver.find_element(By.ID, "key").send_keys(key)
    click(driver, driver.find_element(By.ID, "sign-in"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Documents received", driver.page_source[:2000]


def rows(driver, table: str) -> list[str]:
    return [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-id]")]


def test_pages_ask_for_a_login_and_refuse_an_unknown_key(site, browser):
    gateway, posted = site
    browser.delete_all_cookies()
    browser.get(f"{gateway.url}/ui/documents/{posted['order']}")
    assert browser.current_url.startswith(f"{gateway.url}/ui/login?next=")
    browser.find_element(By.ID, "key").send_keys("not-a-key")
    click(browser, browser.find_element(By.ID, "sign-in"))
    assert "not configured" in browser.find_element(By.ID, "problem").text
    browser.find_element(By.ID, "key").send_keys(ADMIN_KEY)
    click(browser, browser.find_element(By.ID, "sign-in"))
    # back to the page asked for
    assert browser.current_url == f"{gateway.url}/ui/documents/{posted['order']}"
    cookie = browser.get_cookie("edigw_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/ui"
    assert ADMIN_KEY not in cookie["value"]


def test_search_by_order_number_status_and_partner(site, browser, shots):
    gateway, posted = site
    login(browser, gateway.url, ADMIN_KEY)
    listed = rows(browser, "documents")
    assert {posted[name] for name in ("unmapped", "order", "broken", "acme")} <= set(listed)
    shots(browser, "documents")
    browser.find_element(By.ID, "ref").send_keys("PO-UI-1")
    click(browser, browser.find_element(By.ID, "find"))
    assert rows(browser, "documents") == [posted["order"]]
    browser.find_element(By.ID, "ref").clear()
    Select(browser.find_element(By.ID, "status")).select_by_value("failed")
    click(browser, browser.find_element(By.ID, "find"))
    failed = rows(browser, "documents")
    assert posted["broken"] in failed and posted["order"] not in failed and posted["acme"] not in failed
    Select(browser.find_element(By.ID, "status")).select_by_value("")
    Select(browser.find_element(By.ID, "partner")).select_by_value("acme-retail")
    click(browser, browser.find_element(By.ID, "find"))
    assert rows(browser, "documents") == [posted["acme"]]
    # by the interchange control number (UNB 0020)
    browser.get(f"{gateway.url}/ui/?ref=UIORDER1")
    assert rows(browser, "documents") == [posted["order"]]
    # by date: all on the day they were received (UTC), none from the day after or up to the day before
    today = _received_day(gateway.url, posted["order"])
    browser.get(f"{gateway.url}/ui/?since={today}&until={today}")
    assert {posted[name] for name in ("unmapped", "order", "broken", "acme")} <= set(rows(browser, "documents"))
    browser.get(f"{gateway.url}/ui/?since={today + timedelta(days=1)}")
    assert rows(browser, "documents") == []
    browser.get(f"{gateway.url}/ui/?until={today - timedelta(days=1)}")
    assert rows(browser, "documents") == []
    browser.get(f"{gateway.url}/ui/?since=yesterday")
    assert "not a date" in browser.find_element(By.CSS_SELECTOR, "p.problem").text


def test_a_detail_shows_the_raw_document_with_its_error_segment_marked(site, browser, shots):
    gateway, posted = site
    login(browser, gateway.url, ADMIN_KEY)
    browser.get(f"{gateway.url}/ui/documents/{posted['broken']}")
    marked = browser.find_elements(By.CSS_SELECTOR, "#raw mark.error-segment")
    assert len(marked) == 1 and marked[0].text.startswith("QQQ+1+2"), browser.find_element(By.ID, "raw").text
    assert "QQQ" in browser.find_element(By.ID, "doc-error").text
    assert marked[0].value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"  # the stylesheet applies
    shots(browser, "document-error")
    # a published one: outline, decoded events, the CONTRL/ack sent, the timeline
    browser.get(f"{gateway.url}/ui/documents/{posted['order']}")
    outline = browser.find_element(By.ID, "outline").text
    assert "UIORDER1" in outline and "ORDERS" in outline
    events = browser.find_elements(By.CSS_SELECTOR, "details.event")
    assert len(events) == 1 and "OrderCreated" in events[0].text and "PO-UI-1" in events[0].text
    assert "published" in events[0].find_element(By.TAG_NAME, "summary").text  # its id is the one published
    assert browser.find_elements(By.CSS_SELECTOR, "#raw mark") == []
    timeline = browser.find_element(By.ID, "timeline").text
    assert "received over http" in timeline and "published" in timeline
    shots(browser, "document")
    # Acme's 850 was answered with a 997: listed with its control number, and in the timeline
    browser.get(f"{gateway.url}/ui/documents/{posted['acme']}")
    [ack] = browser.find_elements(By.CSS_SELECTOR, "#acks-sent tbody tr")
    assert ack.text.startswith("997 000000001")
    assert "997 000000001 queued for the partner" in browser.find_element(By.ID, "timeline").text


def test_a_dead_letter_is_replayed_from_the_page(site, browser, shots):
    gateway, posted = site
    login(browser, gateway.url, ADMIN_KEY)
    browser.get(f"{gateway.url}/ui/dead-letters")
    assert posted["unmapped"] in rows(browser, "failed")
    row = browser.find_element(By.CSS_SELECTOR, f"#failed tr[data-id='{posted['unmapped']}']")
    assert "partner" in row.text.lower()  # the reason: no partner file named the sender
    shots(browser, "dead-letters")
    click(browser, row.find_element(By.CSS_SELECTOR, "button.replay"))
    assert browser.current_url == f"{gateway.url}/ui/documents/{posted['unmapped']}"
    assert "now published" in browser.find_element(By.ID, "flash").text
    assert browser.find_element(By.ID, "doc-partner").text == "brasserie-du-parc"
    # the API says the same, and the dead letter is gone from the page
    status = httpx.get(f"{gateway.url}/v1/documents/{posted['unmapped']}", headers={"X-API-Key": ADMIN_KEY}).json()
    assert status["status"] == "published" and status["events"] == 1
    browser.get(f"{gateway.url}/ui/dead-letters")
    assert posted["unmapped"] not in rows(browser, "failed")


def test_a_failed_delivery_is_re_driven_from_the_page(site, browser, shots):
    gateway, posted = site
    undelivered = posted["undelivered"]
    login(browser, gateway.url, ADMIN_KEY)
    browser.get(f"{gateway.url}/ui/dead-letters")
    row = browser.find_element(By.CSS_SELECTOR, f"#undelivered tr[data-id='{undelivered}']")
    assert "HTTP 400" in row.text and "widget-supply" in row.text
    gateway.receiver.status = 200  # the partner fixed its endpoint
    click(browser, row.find_element(By.CSS_SELECTOR, "button.redrive"))
    assert browser.current_url == f"{gateway.url}/ui/outbound/{undelivered}"
    assert "re-driven" in browser.find_element(By.ID, "flash").text
    deadline = time.monotonic() + 30
    while "sent" not in browser.find_element(By.ID, "outbound-status").text:
        assert time.monotonic() < deadline, browser.find_element(By.ID, "outbound-status").text
        time.sleep(0.3)
        browser.refresh()
    assert len(gateway.receiver.bodies) == 1 and gateway.receiver.bodies[0].startswith(b"ISA")
    assert "awaited" in browser.find_element(By.ID, "partner-ack").text  # the partner's 997 is due next
    # Widget Supply's 997 accepts it: the verdict on the 850's page, the 850 on the 997's
    sent = [seg.strip().split("*") for seg in gateway.receiver.bodies[0].decode().split("~")]
    control = {seg[0]: seg for seg in sent}
    group, st02 = control["GS"][6], control["ST"][2]
    ack = (f"ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMERETAIL     *261207*0900*U*00401*000000777*0*P*>~"
           f"GS*FA*WIDGETSUPPLY*ACMERETAIL*20261207*0900*777*X*004010~ST*997*0001~AK1*PO*{group}~"
           f"AK2*850*{st02}~AK5*A~AK9*A*1*1*1~SE*6*0001~GE*1*777~IEA*1*000000777~").encode()
    ack_id = _post(gateway.url, ack, ADMIN_KEY, "application/EDI-X12")
    assert _settled(gateway.url, ack_id)["status"] == "published"
    browser.refresh()
    verdict = browser.find_element(By.ID, "partner-ack").text
    assert "accepted" in verdict and "997" in verdict, verdict
    shots(browser, "outbound-detail")
    browser.get(f"{gateway.url}/ui/documents/{ack_id}")
    [answered] = browser.find_elements(By.CSS_SELECTOR, "#acks-received tbody tr")
    assert answered.text.startswith("850 ") and "accepted" in answered.text


def test_a_partner_key_sees_only_its_own_documents(site, browser):
    gateway, posted = site
    login(browser, gateway.url, ACME)
    assert browser.find_element(By.ID, "who").text == "acme-retail"
    listed = rows(browser, "documents")
    assert posted["acme"] in listed and posted["order"] not in listed and posted["broken"] not in listed
    assert [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#partner option")] == \
        ["acme-retail"]
    browser.get(f"{gateway.url}/ui/documents/{posted['order']}")  # Brasserie's, by direct URL
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "PO-UI-1" not in browser.page_source
    browser.get(f"{gateway.url}/ui/?partner=brasserie-du-parc")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Refused"
    browser.get(f"{gateway.url}/ui/dead-letters")
    assert rows(browser, "failed") == [] and browser.find_elements(By.CSS_SELECTOR, "button.replay") == []
    # the same answers without a browser, and no replay for a partner key
    session = _session(gateway.url, ACME)
    assert session.get(f"/ui/documents/{posted['order']}").status_code == 404
    assert session.get(f"/ui/documents/{posted['acme']}").status_code == 200
    token = _csrf(session.get("/ui/").text)
    refused = session.post(f"/ui/documents/{posted['acme']}/replay", data={"csrf": token})
    assert refused.status_code in (403, 404)


def _session(url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    token = _csrf(client.get("/ui/login").text)
    assert client.post("/ui/login", data={"csrf": token, "key": key}).status_code == 303
    return client


def _csrf(html: str) -> str:
    marker = 'name="csrf" value="'
    return html[html.index(marker) + len(marker):].split('"', 1)[0]


def test_an_action_without_the_sessions_csrf_token_is_refused(site, broker):
    gateway, _ = site
    session = _session(gateway.url, ADMIN_KEY)
    # a failed document to act on: Brasserie's broken order is one
    [failed] = [d for d in httpx.get(f"{gateway.url}/v1/documents", params={"ref": "UIBROKEN1"},
                                     headers={"X-API-Key": ADMIN_KEY}).json()["documents"]]
    assert failed["status"] == "failed"
    before = failed["updated_at"]
    for form in ({}, {"csrf": "forged"}, {"csrf": _csrf(_session(gateway.url, ADMIN_KEY).get("/ui/").text)}):
        refused = session.post(f"/ui/documents/{failed['id']}/replay", data=form)
        assert refused.status_code == 403 and "CSRF" in refused.text, form
    after = httpx.get(f"{gateway.url}/v1/documents/{failed['id']}", headers={"X-API-Key": ADMIN_KEY}).json()
    assert after["updated_at"] == before  # not processed again
    # with the session's own token the same request goes through
    token = _csrf(session.get("/ui/").text)
    done = session.post(f"/ui/documents/{failed['id']}/replay", data={"csrf": token})
    assert done.status_code == 303
    again = httpx.get(f"{gateway.url}/v1/documents/{failed['id']}", headers={"X-API-Key": ADMIN_KEY}).json()
    assert again["status"] == "failed" and again["updated_at"] != before  # processed again, still broken


def test_partners_overview_counts_and_chart(site, browser, shots):
    """The page's figures are the API's: counts per partner and status, and per day in the chart."""
    gateway, posted = site
    login(browser, gateway.url, ADMIN_KEY)
    browser.get(f"{gateway.url}/ui/partners")
    listed = httpx.get(f"{gateway.url}/v1/documents", params={"limit": 1000}, headers={"X-API-Key": ADMIN_KEY},
                       timeout=30).json()["documents"]
    for partner in ("brasserie-du-parc", "acme-retail"):
        row = browser.find_element(By.CSS_SELECTOR, f"#partners tr[data-partner='{partner}']")
        shown = {s: int(row.find_element(By.CSS_SELECTOR, f"td.{s}").text) for s in ("published", "failed")}
        assert shown == {s: sum(1 for d in listed if d["partner"] == partner and d["status"] == s)
                         for s in ("published", "failed")}, partner
        assert int(row.find_element(By.CSS_SELECTOR, "td.received").text) == \
            sum(1 for d in listed if d["partner"] == partner)
    brasserie = browser.find_element(By.CSS_SELECTOR, "#partners tr[data-partner='brasserie-du-parc']")
    assert int(brasserie.find_element(By.CSS_SELECTOR, "td.failed").text) >= 1  # the broken order at least
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart g.day")
    assert len(bars) == 30
    counted = {bar.get_attribute("data-day"): (int(bar.get_attribute("data-documents")),
                                               int(bar.get_attribute("data-failed"))) for bar in bars}
    with_partner = [d for d in listed if d["partner"]]
    assert sum(n for n, _ in counted.values()) == len(with_partner) >= 3
    assert sum(f for _, f in counted.values()) == sum(1 for d in with_partner if d["status"] == "failed") >= 1
    day = _received_day(gateway.url, posted["order"])
    assert counted[day.isoformat()][0] >= 1
    shots(browser, "partners")
    browser.get(f"{gateway.url}/ui/outbound")
    shots(browser, "outbound")

"""The support console in a real browser: headless Chromium driven by selenium, against the real CLI.

One gateway for the module: the shipped ACME sample (orders 4500012 and 4500013) taken in
through a watched folder by `edigw run --once` and delivered to Odoo without the door handle, so
4500012 is held. Odoo is an Odoo sandbox (`edigw odoo-sandbox`) seeded from samples/odoo-seed.yaml
less the door handle, or the real Odoo EDIGW_ODOO_* names: there the run has a customer of its own
under a tag, the ACME profile points at it, and the sample's other products are found or made by
barcode. The console is `edigw web`, users are made with `edigw users add`. Support then finds the
order as the customer says it ("04500012"), reads why it is held, creates the product in Odoo
(odoorpc), reprocesses it from the page and sees it delivered, with its name in the audit trail.
The screenshots in docs/ (README) are taken here: with EDIGW_SCREENSHOTS=docs they are written there,
otherwise into a temporary folder, so a test run leaves the checkout as it was.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, live_odoo
from gateway.config import OdooSettings
from gateway.odoo.client import OdooClient
from gateway_fixtures import Gateway, make_gateway, odoorpc_login
from test_odoo_delivery import (ADDRESSES, PRODUCTS, archive_products_with_barcode, delivery_address, euro_pricelist,
                                sample_product)

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
PASSWORDS = {"ann": "ann-operator-pw", "vic": "vic-viewer-pw", "ada": "ada-admin-pw"}
ROLES = {"ann": "operator", "vic": "viewer", "ada": "admin"}
HANDLE_BARCODE = "5790000012352"  # line 2 of the ACME sample: the product Odoo lacks at first
PASSWORD_ENV = "EDIGW_TEST_ODOO_PASSWORD"
DOCS = ROOT / "docs" if os.environ.get("EDIGW_SCREENSHOTS") == "docs" else Path(tempfile.mkdtemp(prefix="edigw-shots-"))

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian's chromium and chromium-driver are needed (.ci/run installs them)")


def _started(command: list[str], env: dict, cwd: Path, pattern: str) -> tuple[subprocess.Popen, re.Match]:
    """A server started by a command (its output in a log file), once its output says where it listens."""
    log = cwd / f"{command[5]}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    found = Gateway(cwd).wait_for(lambda: process.poll() is not None or re.search(pattern, log.read_text()),
                                  timeout=60, interval=0.1)
    assert found and process.poll() is None, f"{' '.join(command)} said: {log.read_text()}"
    return process, found


@pytest.fixture(scope="module", params=["sandbox", "live"])
def console(request, tmp_path_factory):
    if request.param == "live":
        live = live_odoo("the console's tests")  # before anything starts: skipped without a live Odoo
    home = tmp_path_factory.mktemp("console")
    gateway = make_gateway(home, partners=("acme-retail",))
    env = gateway.env()
    servers: list[subprocess.Popen] = []  # kept for the module (conftest stops what tests start, after each)
    try:
        if request.param == "live":
            url, db, login, password = live
        else:
            url, db, login, password = _sandbox(home, gateway, env, servers)
        env[PASSWORD_ENV] = password
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'[odoo]\nurl = "{url}"\ndb = "{db}"\nuser = "{login}"\npassword_env = "{PASSWORD_ENV}"\n')
        rpc = odoorpc_login(url, db, login, password)
        if request.param == "live":
            customer = _live_customer(rpc, gateway, url, db, login, password)
        else:
            customer = _seeded_customer(rpc)
        yield from _console(home, gateway, env, servers, rpc, customer)
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=20)


def _sandbox(home: Path, gateway: Gateway, env: dict, servers: list) -> tuple[str, str, str, str]:
    """`edigw odoo-sandbox` seeded from samples/odoo-seed.yaml less the door handle: its url, db, login, password."""
    seed = yaml.safe_load((ROOT / "samples" / "odoo-seed.yaml").read_text(encoding="utf-8"))
    seed["product.product"] = [p for p in seed["product.product"] if p.get("barcode") != HANDLE_BARCODE]
    (home / "odoo-seed.yaml").write_text(yaml.safe_dump(seed), encoding="utf-8")
    odoo, found = _started(gateway.command("odoo-sandbox", "--port", "0", "--data", str(home / "odoo-seed.yaml")),
                           env, home, r"on (http://[\d.]+:\d+) \(database '([^']+)', login '([^']+)'/'([^']+)'")
    servers.append(odoo)
    return found.groups()


def _seeded_customer(rpc) -> dict:
    """ACME as samples/odoo-seed.yaml makes it (the profile's `ref: ACME`)."""
    [customer] = rpc.execute_kw("res.partner", "search_read", [[("ref", "=", "ACME"), ("parent_id", "=", False)]],
                                {"fields": ["name"]})
    return customer


def _live_customer(rpc, gateway: Gateway, url: str, db: str, login: str, password: str) -> dict:
    """This run's ACME on a real Odoo: a customer under a tag buying in EUR with ACME's delivery address, the ACME
    profile pointed at it, the sample's products but the door handle, whose barcode no active product keeps."""
    tag = uuid.uuid4().hex[:8].upper()
    name, ref = f"ACME Retail {tag}", f"ACME-{tag}"
    customer = rpc.execute_kw("res.partner", "create", [{"name": name, "ref": ref, "is_company": True,
                                                         "customer_rank": 1,
                                                         "property_product_pricelist": euro_pricelist(rpc)}])
    delivery_address(rpc, customer, *ADDRESSES["ACME"])
    profile = gateway.partners / "acme-retail.yaml"
    profile.write_text(profile.read_text(encoding="utf-8").replace("ref: ACME}", f"ref: {ref}}}"), encoding="utf-8")
    with pytest.MonkeyPatch.context() as environment:  # the module's fixture outlives a test's monkeypatch
        environment.setenv(PASSWORD_ENV, password)
        client = OdooClient(OdooSettings(url=url, db=db, user=login, password_env=PASSWORD_ENV))
        for product in PRODUCTS:
            if product["barcode"] != HANDLE_BARCODE:
                sample_product(rpc, client, product)
    archive_products_with_barcode(rpc, HANDLE_BARCODE)  # an earlier run's door handle
    return {"id": customer, "name": name}


def _console(home: Path, gateway: Gateway, env: dict, servers: list, rpc, customer: dict):
    sample = ROOT / "samples" / "inbox" / "acme-retail" / "ORDERS_4500012.edi"
    shutil.copyfile(sample, gateway.inbox("acme-retail") / "ORDERS_4500012.edi")
    shutil.copyfile(sample, gateway.inbox("acme-retail") / "ORDERS_4500012-again.edi")  # sent twice: a duplicate
    (gateway.inbox("acme-retail") / "broken-4500099.edi").write_bytes(broken(sample.read_bytes()))
    run(gateway, env, "run", "--once")
    for name, role in ROLES.items():
        run(gateway, {**env, "NEW_PASSWORD": PASSWORDS[name]}, "users", "add", name, "--role", role,
            "--password-env", "NEW_PASSWORD")
    web, found = _started(gateway.command("web", "--port", "0"), env, home, r"on (http://[\d.]+:\d+)/")
    servers.append(web)
    yield {"gateway": gateway, "env": env, "url": found.group(1), "rpc": rpc, "customer": customer}


def broken(sample: bytes) -> bytes:
    """The ACME sample renumbered (orders 4500099 and 4500098, interchange ACME000118), its first message
    with an impossible date (DTM+2, segment 4) and a wrong segment count in UNT: rejected with two findings."""
    for old, new in ((b"4500012", b"4500099"), (b"4500013", b"4500098"), (b"ACME000117", b"ACME000118"),
                     (b"UNT+23+1", b"UNT+21+1"), (b"DTM+2:20261127:102", b"DTM+2:20261340:102")):
        assert old in sample
        sample = sample.replace(old, new)
    return sample


def run(gateway: Gateway, env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(gateway.command(*args), capture_output=True, text=True, env=env, cwd=gateway.home, timeout=120)
    assert done.returncode == 0, f"edigw {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def sign_in(driver, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORDS[name])
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    assert f"{name} ({ROLES[name]})" in driver.find_element(By.CSS_SELECTOR, ".who").text


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for(driver, words: str) -> str:
    """The page's text once it says `words`: a click or Enter loads the next page while the old one is still shown."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def says(driver):
        try:
            return words in text(driver)
        except StaleElementReferenceException:
            return False

    try:
        WebDriverWait(driver, 15).until(says)
    except TimeoutException:
        raise AssertionError(f"the page never said {words!r}:\n{text(driver)}") from None
    return text(driver)


def test_support_finds_a_held_order_fixes_it_in_odoo_and_reprocesses_it_from_the_page(console, browser):
    from selenium.webdriver.common.by import By

    url, rpc, customer = console["url"], console["rpc"], console["customer"]
    sign_in(browser, url, "ann")
    browser.find_element(By.CSS_SELECTOR, ".quick input").send_keys("04500012\n")  # as the customer says it
    wait_for(browser, " found")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    assert "1 found" in text(browser) and len(rows) == 1 and "4500012" in rows[0].text and "held" in rows[0].text
    browser.save_screenshot(str(DOCS / "console-search.png"))

    rows[0].find_element(By.LINK_TEXT, "4500012").click()
    status = browser.find_element(By.CSS_SELECTOR, ".status").text
    assert "held" in status and "waits for a person" in status
    reason = browser.find_element(By.CSS_SELECTOR, ".status .why").text
    assert "line 2" in reason and HANDLE_BARCODE in reason, reason
    highlighted = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "ol.raw li.ours")]
    assert highlighted[0].startswith("UNH+1+ORDERS") and highlighted[-1].startswith("UNT+23+1") and len(highlighted) == 23
    assert "Door handle, brushed" in browser.find_element(By.CSS_SELECTOR, "table.lines").text
    browser.save_screenshot(str(DOCS / "console-message.png"))

    kg = rpc.execute_kw("uom.uom", "search", [[("name", "=", "kg")]])[0]
    rpc.execute_kw("product.product", "create", [{"name": "Door handle, brushed", "default_code": "AX-220",
                                                  "barcode": HANDLE_BARCODE, "list_price": 11.9,
                                                  "uom_id": kg, "uom_po_id": kg}])
    browser.find_element(By.LINK_TEXT, "Reprocess from deliver…").click()
    preview = wait_for(browser, "nothing was written")
    assert "nothing was written" in preview and f"create a sale order for {customer['name']}" in preview, preview
    assert "12.5 kg of [AX-220] Door handle, brushed" in preview
    browser.find_element(By.CSS_SELECTOR, "form.confirm button").click()

    assert "reprocessed from deliver: now delivered" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert "delivered" in browser.find_element(By.CSS_SELECTOR, ".status .now").text
    [order] = rpc.execute_kw("sale.order", "search_read", [[("client_order_ref", "=", "4500012"),
                                                             ("partner_id", "=", customer["id"])]], {"fields": ["name"]})
    odoo_card = browser.find_element(By.XPATH, "//section[h2='Odoo']")
    assert order["name"] in odoo_card.text
    link = odoo_card.find_element(By.LINK_TEXT, "open in Odoo").get_attribute("href")
    assert "model=sale.order" in link and link.startswith(url.split(":")[0])
    audit = browser.find_element(By.CSS_SELECTOR, "table.audit").text
    assert re.search(r"held delivered ann \(console\)", audit), audit

    browser.find_element(By.CSS_SELECTOR, ".status a[href*='/orders/']").click()
    assert "delivered" in wait_for(browser, "Order 4500012")
    browser.save_screenshot(str(DOCS / "console-thread.png"))

    # The same order by the Odoo record's name, from the command line.
    found = run(console["gateway"], console["env"], "messages", "find", order["name"]).stdout
    assert "4500012" in found and "1 message(s) found" in found


def _session(url: str, name: str) -> tuple[urllib.request.OpenerDirector, str]:
    """A signed-in HTTP session (no browser) and the form token of its pages."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(url + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    opener.open(url + "/login", urllib.parse.urlencode(
        {"name": name, "password": PASSWORDS[name], "csrf_token": token}).encode())
    page = opener.open(url + "/messages").read().decode()
    return opener, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _post_status(opener, url: str, values: dict) -> int:
    try:
        return opener.open(url, urllib.parse.urlencode(values).encode()).status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_viewer_sees_no_action_buttons_and_its_post_to_an_action_is_refused(console, browser):
    from selenium.webdriver.common.by import By

    url = console["url"]
    sign_in(browser, url, "vic")
    browser.get(url + "/messages?q=4500013")
    browser.find_element(By.LINK_TEXT, "4500013").click()
    wait_for(browser, "Audit trail")
    assert not browser.find_elements(By.PARTIAL_LINK_TEXT, "Reprocess")
    assert not browser.find_elements(By.CSS_SELECTOR, ".actions")
    message_id = browser.current_url.rsplit("/", 1)[1]
    browser.get(f"{url}/messages/{message_id}/reprocess?stage=parse")
    assert "Not allowed" in text(browser) and "operator" in text(browser)

    opener, token = _session(url, "vic")
    assert _post_status(opener, f"{url}/messages/{message_id}/reprocess", {"stage": "parse", "csrf_token": token}) == 403
    audit = run(console["gateway"], console["env"], "messages", "show", message_id).stdout
    assert "vic" not in audit


def test_a_post_without_a_valid_form_token_is_refused_even_for_an_operator(console):
    url = console["url"]
    opener, token = _session(url, "ann")
    [held] = [m for m in yaml.safe_load(run(console["gateway"], console["env"], "messages", "find", "4500013",
                                            "--json").stdout)["messages"]]
    target = f"{url}/messages/{held['id']}/reprocess"
    assert _post_status(opener, target, {"stage": "parse"}) == 403
    assert _post_status(opener, target, {"stage": "parse", "csrf_token": token[:-2] + "xx"}) == 403
    shown = run(console["gateway"], console["env"], "messages", "show", str(held["id"])).stdout
    assert "ann (console)" not in shown


def test_wrong_passwords_lock_the_account_for_a_while(console):
    url = console["url"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    run(console["gateway"], {**console["env"], "NEW_PASSWORD": "locked-user-pw"}, "users", "add", "lou",
        "--role", "viewer", "--password-env", "NEW_PASSWORD")

    def attempt(password: str) -> str:
        page = opener.open(url + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        try:
            return opener.open(url + "/login", urllib.parse.urlencode(
                {"name": "lou", "password": password, "csrf_token": token}).encode()).read().decode()
        except urllib.error.HTTPError as error:
            return error.read().decode()

    for _ in range(5):
        assert "wrong user name or password" in attempt("not-the-password")
    assert "too many wrong passwords" in attempt("locked-user-pw")


def test_messages_find_takes_numbers_with_leading_zeros_control_numbers_files_and_hashes(console):
    gateway, env = console["gateway"], console["env"]

    def found(*args: str) -> dict:
        return yaml.safe_load(run(gateway, env, "messages", "find", *args, "--json").stdout)

    assert [m["document_number"] for m in found("0004500013")["messages"]] == ["4500013"]
    both = found("ACME000117")  # the UNB control reference both messages share
    assert both["total"] == 2 and {m["document_number"] for m in both["messages"]} == {"4500012", "4500013"}
    assert found("ORDERS_4500")["total"] == 2
    sha = both["messages"][0]["file"] and yaml.safe_load(run(gateway, env, "messages", "show",
                                                              str(both["messages"][0]["id"]), "--json").stdout)
    assert found(sha["exchange"]["sha256"][:10])["total"] == 2
    paged = found("ACME000117", "--limit", "1", "--page", "2")
    assert paged["total"] == 2 and paged["pages"] == 2 and len(paged["messages"]) == 1
    assert found("4500012", "--state", "rejected")["total"] == 0
    assert found("nothing-like-this")["total"] == 0


def test_a_rejected_message_shows_each_finding_on_its_segment_and_files_show_the_duplicate(console, browser):
    from selenium.webdriver.common.by import By

    url = console["url"]
    sign_in(browser, url, "vic")
    browser.get(url + "/messages?q=4500099")
    browser.find_element(By.LINK_TEXT, "4500099").click()
    assert "rejected" in browser.find_element(By.CSS_SELECTOR, ".status .now").text
    findings = browser.find_element(By.CSS_SELECTOR, "ul.findings").text
    assert "segment 4 DTM, element 1.2: DTM01.2 (2380, date/time) '20261340' is not a valid date" in findings, findings
    assert "segment 23 UNT: UNT says 21 segments but the message has 23" in findings, findings
    marked = {li.find_element(By.TAG_NAME, "code").text: li.text
              for li in browser.find_elements(By.CSS_SELECTOR, "ol.raw li.finding")}
    assert set(marked) == {"DTM+2:20261340:102'", "UNT+21+1'"}, marked
    assert "in element 1.2" in marked["DTM+2:20261340:102'"]
    acknowledgment = browser.find_element(By.XPATH, "//section[h2='Acknowledgment']").text
    assert "rejected" in acknowledgment

    browser.get(url + "/files?state=duplicate")
    [row] = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    assert "duplicate" in row.text and "ORDERS_4500012" in row.text and "duplicate of file" in row.text


def test_the_daemon_serves_the_console_on_its_http_port(tmp_path):
    import socket

    gateway = make_gateway(tmp_path, partners=("acme-retail",))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with gateway.config.open("a", encoding="utf-8") as config:
        config.write(f"[http]\nport = {port}\n")
    daemon = gateway.start()
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10)
    assert page.status == 200 and "Sign in to the support console" in page.read().decode()
    assert f"console, health and metrics on http://127.0.0.1:{port}/" in gateway.daemon_log()
    daemon.terminate()
    assert daemon.wait(timeout=30) == 0, gateway.daemon_log()


def test_a_search_result_exports_as_csv(console):
    opener, _ = _session(console["url"], "vic")
    export = opener.open(console["url"] + "/messages?q=ACME000117&format=csv")
    assert export.headers["Content-Type"].startswith("text/csv")
    rows = export.read().decode().splitlines()
    assert rows[0].startswith("id,partner,direction,type,document_type,document_number,order,record_name")
    assert sorted(row.split(",")[5] for row in rows[1:]) == ["4500012", "4500013"]

"""Sell-through and replenishment end to end: files dropped into partners' watched folders,
`edigw run --once`, and what a planner sees: `edigw signals export`, the feed file in the
forecasting tool's outbox, the draft RFQs and reordering rules in Odoo (over odoorpc), the
messages and their reasons.

The Odoo is the sandbox over real HTTP, and a real Odoo 18 when EDIGW_ODOO_URL, EDIGW_ODOO_DB,
EDIGW_ODOO_USER and EDIGW_ODOO_PASSWORD are set (skipped, saying so, otherwise). Master data is
made per test under a unique tag (products, vendors, barcodes), so the tests can run against a
shared Odoo; the warehouse is the database's first one, whatever its short name.
"""

from __future__ import annotations

import csv
import io
import subprocess
import textwrap
import uuid

import pytest

from conftest import CORPUS
from gateway_fixtures import Gateway, age, make_gateway, odoo_session
import test_procure_to_pay as procure

PASSWORD_ENV = procure.PASSWORD_ENV
SLSRPT = CORPUS / "edifact/SLSRPT/bots_slsrpt_d96a_ean004.edi"
X12_852 = CORPUS / "x12/852/oopfactory_852_003030_caret_term.x12"

RETAILER = """\
    name: BigBox sell-through
    odoo_partner: {ref: BIGBOX}
    identifiers:
      edifact: {id: "8712345555555", qualifier: "14"}
      x12: {id: "007061617", qualifier: "01", gs_id: "007061617"}
    channels:
      edi: {type: folder, inbox: inbox/retailer, after: move, settle_seconds: 0.2}
    receive:
      SLSRPT: {template: edifact/SLSRPT_D96A}
      "852": {template: x12/852_004010}
    """
FORECASTER = """\
    name: Forecasting tool
    odoo_partner: {ref: FORECAST}
    channels:
      drop: {type: folder, inbox: inbox/forecaster, outbox: outbox/forecaster, after: move, settle_seconds: 0.2}
    receive:
      REPLENISHMENT: {template: csv/replenishment}
    """


def gateway_with(tmp_path, forecaster: str = "", odoo: procure.Odoo | None = None) -> Gateway:
    gateway = make_gateway(tmp_path / "gw", partners=())
    (gateway.partners / "retailer.yaml").write_text(textwrap.dedent(RETAILER), encoding="utf-8")
    (gateway.partners / "forecaster.yaml").write_text(textwrap.dedent(FORECASTER) + textwrap.dedent(forecaster),
                                                      encoding="utf-8")
    if odoo is not None:
        with gateway.config.open("a", encoding="utf-8") as config:
            config.write(f'[odoo]\nurl = "{odoo.url}"\ndb = "{odoo.db}"\nuser = "{odoo.user}"\n'
                         f'password_env = "{PASSWORD_ENV}"\n')
    return gateway


def drop(gateway: Gateway, partner: str, name: str, data: bytes, run: bool = True) -> None:
    target = gateway.inbox(partner) / name
    target.write_bytes(data)
    age(target)
    if run:
        gateway.run("run", "--once")


def exported(gateway: Gateway, *args: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(gateway.run("signals", "export", *args).stdout.decode("utf-8"))))


def feed_files(gateway: Gateway) -> list[list[dict]]:
    outbox = gateway.state / "outbox" / "forecaster"
    return [list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
            for path in sorted(outbox.glob("demand-signals_*.csv"))] if outbox.exists() else []


# --- sell-through, no Odoo needed ---------------------------------------------------------


def test_sales_reports_are_kept_and_exported_as_demand_signals(tmp_path):
    gateway = gateway_with(tmp_path)
    drop(gateway, "retailer", "slsrpt01.edi", SLSRPT.read_bytes())
    drop(gateway, "retailer", "852.x12", X12_852.read_bytes())

    reports = gateway.messages(partner="retailer")
    assert sorted((m["type"], m["document_number"] or "", m["state"]) for m in reports) == [
        ("852", "", "translated"), ("SLSRPT", "20060801005", "translated"), ("SLSRPT", "XXX", "translated")]
    rows = exported(gateway)
    assert len(rows) == 196 + 196 + 3
    first = rows[0]
    assert {k: first[k] for k in ("period_start", "period_end", "partner", "location", "gtin", "sold", "product")} == {
        "period_start": "2008-03-31", "period_end": "2008-03-31", "partner": "retailer",
        "location": "8712345001472", "gtin": "8712345275208", "sold": "2", "product": ""}
    x12 = [row for row in rows if row["location"] == "007061617"]
    assert [(row["partner_item"], row["on_hand"], row["on_order"]) for row in x12] == [
        ("54-P96A", "10", "6"), ("54-P99A", "77", "")]
    # --since keeps the periods ending on or after the day: the 852's 1995 week goes, the stores'
    # 2008-03-31 sales days (DTM 356, in both interchanges) stay.
    assert len(exported(gateway, "--since", "2000-01-01")) == 392
    assert exported(gateway, "--since", "2008-04-01") == []
    assert exported(gateway, "--partner", "someone-else") == []
    as_json = gateway.json("signals", "export", "--since", "2000-01-01")
    assert len(as_json) == 392
    assert (as_json[0]["sold"], as_json[0]["location"], as_json[0]["message_id"]) == (
        "2", "8712345001472", int(rows[0]["message_id"]))

    parquet = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "signals.parquet"
    gateway.run("signals", "export", "--format", "parquet", "--output", str(target))
    table = parquet.read_table(target)
    assert table.num_rows == len(rows)
    assert sum(value for value in table.column("sold").to_pylist() if value is not None) == sum(
        int(row["sold"]) for row in rows if row["sold"])

    found = gateway.json("messages", "find", "20060801005")
    assert any(hit.get("document_type") == "SalesReport" for hit in found["messages"]), found


def test_parquet_goes_to_a_file_and_a_bad_since_is_a_usage_error(tmp_path):
    gateway = gateway_with(tmp_path)
    refused = gateway.run("signals", "export", "--format", "parquet", check=False)
    assert refused.returncode == 1 and b"--output" in refused.stderr
    refused = gateway.run("signals", "export", "--since", "last week", check=False)
    assert refused.returncode == 2 and b"--since" in refused.stderr  # a usage error, as messages list says it


def test_a_forecasting_tool_gets_the_new_signals_once_each_over_its_channel(tmp_path):
    gateway = gateway_with(tmp_path, "signals: {format: csv, schedule: 1h, partners: [retailer]}\n")
    drop(gateway, "retailer", "slsrpt01.edi", SLSRPT.read_bytes())
    [first] = feed_files(gateway)
    assert len(first) == 392 and {row["partner"] for row in first} == {"retailer"}

    gateway.run("run", "--once")  # nothing new: no new file
    assert len(feed_files(gateway)) == 1

    drop(gateway, "retailer", "852.x12", X12_852.read_bytes())
    files = feed_files(gateway)
    assert len(files) == 2 and [row["partner_item"] for row in files[1]] == ["54-P96A", "54-P99A", "54-P99A"]


def test_a_malformed_recommendations_file_is_held_with_the_line_and_value_and_kept(tmp_path):
    gateway = gateway_with(tmp_path)
    data = b"product,warehouse,quantity,date\nHINGE-100,WH,lots,2026-12-14\n"
    drop(gateway, "forecaster", "recs-bad.csv", data)
    [message] = gateway.messages(partner="forecaster")
    assert message["state"] == "held"
    shown = gateway.json("messages", "show", str(message["id"]))
    assert "lines[1].quantity" in shown["reason"] and "'lots'" in shown["reason"] and "not a number" in shown["reason"]
    assert gateway.run("messages", "show", str(message["id"]), "--raw").stdout == data  # its bytes archived


def test_the_daemon_delivers_the_feed_on_the_profile_schedule(tmp_path):
    gateway = gateway_with(tmp_path, "signals: {format: csv, schedule: 1s}\n")
    daemon = gateway.start()
    try:
        drop(gateway, "retailer", "852.x12", X12_852.read_bytes(), run=False)
        assert gateway.wait_for(lambda: feed_files(gateway), timeout=30), gateway.daemon_log()
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    [rows] = feed_files(gateway)
    assert [(row["location"], row["partner_item"]) for row in rows] == [
        ("007061617", "54-P96A"), ("007061617", "54-P99A"), ("007061618", "54-P99A")]


def console_page(gateway: Gateway, message_id: int) -> str:
    """A message's page as a viewer gets it from `edigw web`, over HTTP."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    from test_console import _started

    env = {**gateway.env(), "NEW_PASSWORD": "planner-pw-1"}
    subprocess.run(gateway.command("users", "add", "pia", "--role", "viewer", "--password-env", "NEW_PASSWORD"),
                   env=env, cwd=gateway.home, check=True, capture_output=True, timeout=60)
    web, found = _started(gateway.command("web", "--port", "0"), env, gateway.home, r"on (http://[\d.]+:\d+)/")
    try:
        url = found.group(1)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = re.search(r'name="csrf_token" value="([^"]+)"', opener.open(url + "/login").read().decode()).group(1)
        opener.open(url + "/login", urllib.parse.urlencode(
            {"name": "pia", "password": "planner-pw-1", "csrf_token": token}).encode())
        return opener.open(f"{url}/messages/{message_id}").read().decode()
    finally:
        web.terminate()
        web.wait(timeout=20)


def test_the_console_shows_a_sales_report_line_by_line_with_its_locations(tmp_path):
    import re

    gateway = gateway_with(tmp_path)
    drop(gateway, "retailer", "852.x12", X12_852.read_bytes())
    [report] = gateway.messages(partner="retailer")
    page = console_page(gateway, report["id"])
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh]>(.*?)</t[dh]>", page, re.S)]
    assert "location" in cells and "quantity on hand" in cells and "quantity on order" in cells
    assert cells.count("007061617") == 2 and cells.count("007061618") == 1
    assert "54-P96A" in cells and "P96A" in cells


def test_an_852_lines_figures_per_store_read_store_by_store_in_the_console_and_messages_show(tmp_path):
    """The 852 that lists its stores in SDQ segments (tests/test_demand.py; no 852 of the corpus has
    SDQ), sent under the retailer's envelope ids: each line's figures per location, one location
    a row with its figures together, on the message's page and in `edigw messages show`."""
    import re

    from test_demand import SDQ_852

    data = SDQ_852.replace(b"*ZZ*BIGBOX         *", b"*01*007061617      *").replace(b"*BIGBOX*", b"*007061617*")
    gateway = gateway_with(tmp_path)
    drop(gateway, "retailer", "852_W49-2026.x12", data)
    [report] = gateway.messages(partner="retailer")
    first = ["location 114: 30 sold, 140 on hand", "location 207: 12 sold, 20 on hand",
             *[f"location {store}: {sold} sold" for store, sold in (
                 ("301", "7"), ("302", "5"), ("303", "4"), ("304", "3"), ("305", "2"), ("306", "2"), ("307", "1"),
                 ("308", "1"))],
             "location 309: 6 sold, 100 on hand"]
    second = ["location 0614141000114: 500 on order"]

    table = re.search(r'<table class="list lines">(.*?)</table>', console_page(gateway, report["id"]), re.S).group(1)
    header = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<th>(.*?)</th>", table, re.S)]
    rows = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]
    column = header.index("location quantities")
    assert [re.findall(r"<div[^>]*>(.*?)</div>", row[column]) for row in rows] == [first, second]

    shown = gateway.run("messages", "show", str(report["id"])).stdout.decode()
    assert "    line 1 (5790000012345), location quantities:\n" + "".join(f"      {text}\n" for text in first) in shown
    assert "    line 2 (5790000012369), location quantities:\n      " + second[0] + "\n" in shown
    assert '"activity"' not in shown  # told as text, not as JSON


# --- with Odoo ----------------------------------------------------------------------------


@pytest.fixture(params=["sandbox", "live"])
def odoo(request, monkeypatch, tmp_path):
    tag = uuid.uuid4().hex[:8].upper()
    with odoo_session(request.param, tmp_path, monkeypatch, "sell-through and replenishment", PASSWORD_ENV) as session:
        odoo = procure.Odoo(session.url, session.db, session.user, session.rpc, tag, session.running)
        odoo.seed()  # a vendor (ref NORDIC-<tag>) and three products P1…P3 with barcodes
        odoo.other_vendor = odoo.call("res.partner", "create", {"name": f"Baltic Tools {tag}", "is_company": True,
                                                                "supplier_rank": 1, "ref": f"BALTIC-{tag}"})
        [odoo.warehouse] = odoo.call("stock.warehouse", "search_read", [], fields=["code", "lot_stock_id"], limit=1)
        yield odoo


def code(odoo: procure.Odoo, product: str) -> str:
    return f"PTP{product[1]}-{odoo.tag}"


def barcode(odoo: procure.Odoo, product: str) -> str:
    [row] = odoo.call("product.product", "read", [odoo.products[product]], fields=["barcode"])
    return row["barcode"]


def vendor_of(odoo: procure.Odoo, product: str, vendor: int) -> None:
    [row] = odoo.call("product.product", "read", [odoo.products[product]], fields=["product_tmpl_id"])
    odoo.call("product.supplierinfo", "create", {"partner_id": vendor, "product_tmpl_id": row["product_tmpl_id"][0],
                                                 "price": 3.5, "min_qty": 0})


def rfqs(odoo: procure.Odoo) -> list[dict]:
    orders = odoo.call("purchase.order", "search_read", [("partner_id", "in", [odoo.vendor, odoo.other_vendor])],
                       fields=["name", "state", "origin", "partner_id", "picking_type_id"], order="id")
    for order in orders:
        order["lines"] = odoo.call("purchase.order.line", "search_read", [("order_id", "=", order["id"])],
                                   fields=["product_id", "product_qty", "name", "date_planned", "price_unit"],
                                   order="id")
    return orders


def test_a_sales_report_names_our_product_reference_in_the_signals(tmp_path, odoo):
    gateway = gateway_with(tmp_path, odoo=odoo)
    unknown = procure.gtin(f"29{uuid.uuid4().int % 10 ** 10:010d}")
    text = ("UNA:+.? 'UNB+UNOC:3+8712345555555:14+5790000000006:14+261201:0900+9001'"
            "UNH+1+SLSRPT:D:96A:UN:EAN004'BGM+73E+SR-" + odoo.tag + "+9'DTM+137:20261201:102'"
            "DTM+90:20261123:102'DTM+91:20261129:102'NAD+BY+8712345000000::9'"
            "LOC+162+8712345001472::9'"
            f"LIN+1++{barcode(odoo, 'P1')}:EN'PRI+NTP:27::RTP'QTY+153:12:PCE'QTY+145:40:PCE'"
            f"LIN+2++{unknown}:EN'QTY+153:3:PCE'"
            "UNT+14+1'UNZ+1+9001'")
    trial = tmp_path / "week48.edi"
    trial.write_text(text)
    said = gateway.run("partners", "test", "retailer", str(trial)).stdout.decode()
    assert "kept as demand signals, nothing written to Odoo; 1 of 2 items are our products" in said, said
    assert f"gtin:{barcode(odoo, 'P1')} is our {code(odoo, 'P1')}" in said and f"not a product in Odoo: gtin:{unknown}" in said
    drop(gateway, "retailer", "week48.edi", text.encode())

    [report] = gateway.messages(partner="retailer")
    assert report["state"] == "delivered", report
    shown = gateway.json("messages", "show", str(report["id"]))
    assert "1 of 2 items are not products in Odoo" in (shown.get("reason") or ""), shown
    rows = exported(gateway)
    assert [(row["product"], row["gtin"], row["sold"], row["on_hand"], row["period_start"], row["period_end"])
            for row in rows] == [
        (code(odoo, "P1"), barcode(odoo, "P1"), "12", "40", "2026-11-23", "2026-11-29"),
        ("", unknown, "3", "", "2026-11-23", "2026-11-29")]


def recommendations(odoo: procure.Odoo, extra: str = "") -> bytes:
    wh = odoo.warehouse["code"]
    return (f"product,warehouse,quantity,date,supplier\n"
            f"{code(odoo, 'P1')},{wh},120,2026-12-14,\n"
            f"{code(odoo, 'P2')},{wh},40,2026-12-15,BALTIC-{odoo.tag}\n"
            f"{code(odoo, 'P3')},{wh},2500,2026-12-10,\n"
            f"NOSUCH-{odoo.tag},{wh},5,2026-12-10,\n" + extra).encode()


def test_recommendations_become_draft_rfqs_per_supplier_and_unknowns_are_held_per_line(tmp_path, odoo):
    vendor_of(odoo, "P1", odoo.vendor)
    gateway = gateway_with(tmp_path, odoo=odoo)
    trial = tmp_path / "recs-w49.csv"
    trial.write_bytes(recommendations(odoo))
    dry = gateway.run("partners", "test", "forecaster", str(trial), check=False)
    said = dry.stdout.decode()
    assert dry.returncode == 1, said  # some lines would be held
    assert "would draft RFQs for 2 recommendations (nothing confirmed)" in said, said
    assert f"line 2: 120 × " in said and f"held: line 5: no product with reference NOSUCH-{odoo.tag}" in said
    assert rfqs(odoo) == []  # a dry run writes nothing

    drop(gateway, "forecaster", "recs-w49.csv", recommendations(odoo))

    [message] = gateway.messages(partner="forecaster")
    assert message["state"] == "held"
    reason = gateway.json("messages", "show", str(message["id"]))["reason"]
    assert "2 of 4 recommendations held" in reason
    assert f"line 4: no supplier for" in reason and f"line 5: no product with reference NOSUCH-{odoo.tag}" in reason
    orders = rfqs(odoo)
    assert sorted((o["partner_id"][0], o["state"], [line["product_id"][0] for line in o["lines"]]) for o in orders) == sorted([
        (odoo.vendor, "draft", [odoo.products["P1"]]), (odoo.other_vendor, "draft", [odoo.products["P2"]])])
    by_vendor = {o["partner_id"][0]: o for o in orders}
    first = by_vendor[odoo.vendor]
    assert first["origin"].startswith("recs-w49.csv (edigw message ")
    assert first["lines"][0]["product_qty"] == 120.0 and first["lines"][0]["date_planned"].startswith("2026-12-14")
    assert first["lines"][0]["name"].endswith("recs-w49.csv (edigw message %d) line 2" % message["id"])
    assert by_vendor[odoo.other_vendor]["lines"][0]["name"].endswith("line 3")

    # The buyer gives P3 a vendor; the reprocess adds it to the same draft and makes nothing twice.
    vendor_of(odoo, "P3", odoo.vendor)
    gateway.run("reprocess", str(message["id"]), "--from", "deliver")
    orders = rfqs(odoo)
    assert len(orders) == 2
    assert [line["product_id"][0] for line in {o["partner_id"][0]: o for o in orders}[odoo.vendor]["lines"]] == [
        odoo.products["P1"], odoo.products["P3"]]
    reason = gateway.json("messages", "show", str(message["id"]))["reason"]
    assert "1 of 4 recommendations held" in reason and "NOSUCH" in reason
    gateway.run("reprocess", str(message["id"]), "--from", "deliver")
    assert [len(o["lines"]) for o in rfqs(odoo)] == [len(o["lines"]) for o in orders]
    assert {o["state"] for o in rfqs(odoo)} == {"draft"}  # nothing confirmed: a person approves in Odoo


def test_recommendations_set_the_min_and_max_of_reordering_rules(tmp_path, odoo):
    gateway = gateway_with(tmp_path, "replenishment: {apply: orderpoints}\n", odoo=odoo)
    wh = odoo.warehouse["code"]
    drop(gateway, "forecaster", "minmax-1.csv", (
        "product,warehouse,min,max\n"
        f"{code(odoo, 'P1')},{wh},20,80\n"
        f"{code(odoo, 'P2')},{wh},5,15\n").encode())
    [message] = gateway.messages(partner="forecaster")
    assert message["state"] == "delivered", message

    def rules() -> dict[int, tuple]:
        rows = odoo.call("stock.warehouse.orderpoint", "search_read",
                         [("product_id", "in", [odoo.products["P1"], odoo.products["P2"]])],
                         fields=["product_id", "warehouse_id", "location_id", "product_min_qty", "product_max_qty",
                                 "trigger"])
        return {row["product_id"][0]: (row["warehouse_id"][0], row["location_id"][0], row["product_min_qty"],
                                       row["product_max_qty"], row["trigger"]) for row in rows}

    here = (odoo.warehouse["id"], odoo.warehouse["lot_stock_id"][0])
    assert rules() == {odoo.products["P1"]: (*here, 20.0, 80.0, "manual"),
                       odoo.products["P2"]: (*here, 5.0, 15.0, "manual")}
    drop(gateway, "forecaster", "minmax-2.csv", f"product,warehouse,min,max\n{code(odoo, 'P1')},{wh},30,90\n".encode())
    assert rules() == {odoo.products["P1"]: (*here, 30.0, 90.0, "manual"),
                       odoo.products["P2"]: (*here, 5.0, 15.0, "manual")}
    second = max(gateway.messages(partner="forecaster"), key=lambda m: m["id"])
    shown = gateway.json("messages", "show", str(second["id"]))
    assert "changed from 20/80" in str(shown.get("result")), shown
    gateway.run("reprocess", str(second["id"]), "--from", "deliver")
    assert len(rules()) == 2
    assert "'unchanged'" in str(gateway.json("messages", "show", str(second["id"])).get("result"))

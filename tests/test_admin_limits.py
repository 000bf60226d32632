"""Admin mistakes that used to hang the gateway: an alias bomb in YAML, an XPath that never ends.

Each is refused by `edigw partners validate` with a reason naming the file, and `edigw run
--once` does not hang on it: the real CLI on a real folder and store.
"""

from __future__ import annotations

import time

from gateway_fixtures import make_gateway

# Nine levels of nine aliases each: a few hundred bytes that stand for 9**9 (387 million) strings.
ALIAS_BOMB = "\n".join(
    ["bomb:", '  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]) + "\n"


def with_overrides(gateway, partner: str, overrides: str) -> None:
    path = gateway.partners / f"{partner}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    template: edifact/ORDERS_D96A\n", "    template: edifact/ORDERS_D96A\n" + overrides), encoding="utf-8")


def test_an_alias_bomb_in_a_profile_is_refused_by_validate_at_once(tmp_path):
    gateway = make_gateway(tmp_path)
    with_overrides(gateway, "acme-retail", "    overrides:\n      codelists:\n        units:\n" + "".join(
        "          " + line + "\n" for line in ALIAS_BOMB.replace("bomb:", "PCE:").splitlines()))
    started = time.monotonic()
    done = gateway.run("partners", "validate", check=False, timeout=60)
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    output = done.stdout.decode()
    assert "acme-retail.yaml" in output and "aliases" in output and "expand to more than" in output


def test_an_alias_bomb_in_a_profile_stops_run_once_with_the_reason_not_a_hang(tmp_path):
    gateway = make_gateway(tmp_path)
    with_overrides(gateway, "acme-retail", "    overrides:\n      codelists:\n        units:\n" + "".join(
        "          " + line + "\n" for line in ALIAS_BOMB.replace("bomb:", "PCE:").splitlines()))
    done = gateway.run("run", "--once", check=False, timeout=60)
    assert done.returncode == 1
    assert b"expand to more than" in done.stderr + done.stdout


def test_an_alias_bomb_in_a_template_is_refused_with_its_file(tmp_path):
    gateway = make_gateway(tmp_path)
    templates = tmp_path / "templates" / "edifact"
    templates.mkdir(parents=True)
    (templates / "BOMB.yaml").write_text("extends: edifact/ORDERS_D96A\n" + ALIAS_BOMB, encoding="utf-8")
    config = gateway.config.read_text(encoding="utf-8")
    gateway.config.write_text(config.replace(config.split("\n")[2], f'templates_dir = "{tmp_path / "templates"}"'),
                              encoding="utf-8")
    profile = gateway.partners / "acme-retail.yaml"
    profile.write_text(profile.read_text(encoding="utf-8").replace("edifact/ORDERS_D96A", "edifact/BOMB"),
                       encoding="utf-8")
    done = gateway.run("partners", "validate", check=False, timeout=60)
    assert done.returncode == 1
    assert "BOMB.yaml" in done.stdout.decode() and "expand to more than" in done.stdout.decode()


def test_anchors_and_merge_keys_of_ordinary_size_still_work(tmp_path):
    gateway = make_gateway(tmp_path)
    profile = gateway.partners / "acme-retail.yaml"
    text = profile.read_text(encoding="utf-8").replace("name: ACME Retail GmbH", "description: &n ACME Retail GmbH\nname: *n")
    text = text.replace("  inbox:\n    type: folder\n", "  inbox: &folder\n    type: folder\n")
    profile.write_text(text, encoding="utf-8")
    done = gateway.run("partners", "show", "acme-retail", "--json")
    assert '"name": "ACME Retail GmbH"' in done.stdout.decode()
    done = gateway.run("partners", "validate", check=False)
    assert done.returncode == 0, done.stdout.decode()


NESTED_COUNT = "count(//*[count(//*[count(//*) > 0]) > 0])"


def test_an_xpath_override_that_nests_whole_message_scans_is_refused_by_validate(tmp_path):
    gateway = make_gateway(tmp_path)
    with_overrides(gateway, "acme-retail", f'    overrides:\n      fields:\n        note: "{NESTED_COUNT}"\n')
    done = gateway.run("partners", "validate", check=False)
    assert done.returncode == 1
    output = done.stdout.decode()
    assert "acme-retail.yaml" in output and "square of the message" in output and NESTED_COUNT in output


def test_a_whole_message_scan_in_every_line_is_refused_too(tmp_path):
    gateway = make_gateway(tmp_path)
    with_overrides(gateway, "acme-retail", '    overrides:\n      fields:\n        lines.description: "//IMD[1]"\n')
    done = gateway.run("partners", "validate", check=False)
    assert done.returncode == 1 and "once per item of a list" in done.stdout.decode()


def test_run_once_holds_the_message_with_the_reason_instead_of_hanging(tmp_path):
    from gateway_fixtures import SAMPLE_INBOX, age

    gateway = make_gateway(tmp_path)
    with_overrides(gateway, "acme-retail", f'    overrides:\n      fields:\n        note: "{NESTED_COUNT}"\n')
    path = gateway.inbox("acme-retail") / "orders.edi"
    path.write_bytes((SAMPLE_INBOX / "acme-retail" / "ORDERS_4500012.edi").read_bytes() * 1)
    age(path)
    gateway.run("run", "--once", timeout=120)
    messages = gateway.messages()
    assert messages and all(m["state"] == "held" for m in messages)
    assert all("square of the message" in m["reason"] for m in messages)

"""Partner profiles: the shipped ones load, and every mistake is named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from gateway.profiles import ProfileError, load_profile, load_profiles


def test_the_shipped_profiles_load_with_their_channels_and_templates(tmp_path):
    profiles = load_profiles(ROOT / "partners", tmp_path, ROOT / "templates")
    assert set(profiles) == {"acme-retail", "antwerp-3pl", "bigbox-stores", "corner-shop", "nordic-parts",
                             "forecaster"}
    nordic = profiles["nordic-parts"].purchasing
    assert (nordic.later_date_days, nordic.post_bills, nordic.on_mismatch, nordic.price_tolerance) == (3, True, "draft", 0.5)
    assert (nordic.late_response, nordic.late_asn, nordic.late_invoice) == (2 * 86400, 86400, 14 * 86400)
    assert profiles["acme-retail"].purchasing.late_response is None  # nothing is flagged unless asked
    acme = profiles["acme-retail"]
    assert acme.sender_id("edifact") == "4012345000009"
    assert acme.channels[0].inbox == tmp_path / "inbox" / "acme-retail"
    assert acme.channels[0].processed == tmp_path / "inbox" / "acme-retail" / "processed"
    assert [rule.template for rule in profiles["bigbox-stores"].rules_for("850")] == [
        "x12/850_004010", "x12/850_005010"]


def write(tmp_path: Path, text: str, name: str = "acme.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(ProfileError) as raised:
        load_profile(path, tmp_path, ROOT / "templates")
    return [str(problem) for problem in raised.value.problems]


def test_every_problem_of_a_profile_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, "\n".join([
        "name: ACME",
        "odoo_partner: {ref: ACME}",
        "colour: blue",
        "channels:",
        "  inbox: {type: ftp, inbox: in}",
        "receive:",
        "  ORDERS: {template: edifact/NO_SUCH}",
    ]) + "\n")
    problems = problems_of(path, tmp_path)
    assert f"{path}:3: unknown key 'colour'" in problems[0]
    assert any(p.startswith(f"{path}:5:") and "type 'ftp' is not supported" in p for p in problems)
    assert any(p.startswith(f"{path}:7:") and "no template 'edifact/NO_SUCH'" in p for p in problems)


def test_a_profile_without_an_odoo_partner_is_refused(tmp_path):
    path = write(tmp_path, "name: ACME\n")
    assert any("'odoo_partner' must give" in p for p in problems_of(path, tmp_path))


def test_broken_yaml_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME\n")
    problems = problems_of(path, tmp_path)
    assert problems[0].startswith(f"{path}:3: not valid YAML")


def test_a_file_name_that_is_not_a_partner_id_is_refused(tmp_path):
    path = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\n", name="ACME Corp.yaml")
    assert any("is not a valid partner id" in p for p in problems_of(path, tmp_path))


def test_validation_options_are_read_and_checked(tmp_path):
    path = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\nvalidation: {strict: false, check_digits: true}\n")
    profile = load_profile(path, tmp_path, ROOT / "templates")
    assert (profile.validation.strict, profile.validation.check_digits) == (False, True)
    broken = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\nvalidation:\n  strict: sometimes\n",
                   name="other.yaml")
    assert any(p.startswith(f"{broken}:4:") and "validation.strict must be true or false" in p
               for p in problems_of(broken, tmp_path))


def test_segment_order_is_strict_or_lenient_and_an_edifact_syntax_is_a_known_one(tmp_path):
    path = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\nidentifiers:\n  edifact: {id: X, syntax: UNOB}\n"
                           "validation: {segment_order: lenient}\n")
    assert load_profile(path, tmp_path, ROOT / "templates").validation.segment_order == "lenient"
    broken = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\nidentifiers:\n  edifact: {id: X, syntax: UTF8}\n"
                             "validation: {segment_order: loose}\n", name="other.yaml")
    found = problems_of(broken, tmp_path)
    assert any("validation.segment_order must be strict or lenient, not 'loose'" in p for p in found), found
    assert any("identifiers.edifact.syntax 'UTF8' is not one of UNOA" in p for p in found), found


def test_a_key_given_twice_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, "name: ACME\nodoo_partner: {ref: ACME}\nname: ACME again\n")
    assert problems_of(path, tmp_path) == [f"{path}:3: key 'name' is given twice"]


def test_a_wrong_purchasing_section_names_each_problem_and_its_line(tmp_path):
    path = write(tmp_path, "\n".join([
        "name: Nordic",
        "odoo_partner: {ref: NORDIC}",
        "purchasing:",
        "  apply: {later_date_days: soon, lower_price: yes please}",
        "  bills: {on_mismatch: ignore, quantity: ordered}",
        "  late: {response: tomorrow, ship: 1d}",
    ]))
    problems = problems_of(path, tmp_path)
    assert any(":4:" in p and "purchasing.apply.later_date_days must be a number" in p for p in problems), problems
    assert any(":4:" in p and "purchasing.apply.lower_price must be true or false" in p for p in problems), problems
    assert any(":5:" in p and "purchasing.bills.on_mismatch must be draft or hold, not 'ignore'" in p for p in problems)
    assert any(":5:" in p and "purchasing.bills.quantity must be received or shipped" in p for p in problems)
    assert any(":6:" in p and "purchasing.late.response must be a duration" in p for p in problems), problems
    assert any(":6:" in p and "unknown key 'ship' in purchasing.late" in p for p in problems), problems

"""What the Odoo writers (``inbound``, ``purchasing``) share: how a GTIN, a date and a refusal look to Odoo."""

from __future__ import annotations

from gateway.odoo.client import OdooError
from gateway.pipeline import DeliveryResult, TransientFailure

# A date without a time is sent as noon UTC: the same calendar day in every time zone from
# UTC-11 to UTC+11, where midnight would show as the day before west of Greenwich.
DATE_ONLY_TIME = "12:00:00"


def barcode_forms(code: str) -> list[str]:
    """A GTIN as Odoo may hold it: as sent, and as GTIN-13 ⇄ UPC-A (12 digits) with the leading zero."""
    code = code.strip()
    forms = [code]
    if code.isdigit():
        if len(code) == 12:
            forms.append("0" + code)
        elif len(code) in (13, 14) and code.startswith("0"):
            forms.append(code[1:])
            if len(code) == 14 and code.startswith("00"):
                forms.append(code[2:])
    return forms


def odoo_datetime(value: str) -> str:
    """An ISO date or date-time as Odoo's `YYYY-MM-DD HH:MM:SS` (UTC)."""
    value = value.strip()
    if len(value) == 10:
        return f"{value} {DATE_ONLY_TIME}"
    return value.replace("T", " ")[:19]


def held_for(error: OdooError, reason: str) -> DeliveryResult:
    """A refusal from Odoo as a held message with `reason`, unless Odoo refused the gateway's own
    login: fixing [odoo] in gateway.toml heals every message, so that one is tried again later."""
    if error.kind == "AccessDenied":
        raise TransientFailure(f"Odoo refused the gateway's login ({error.message}); "
                               "check [odoo] user and password in gateway.toml") from None
    return DeliveryResult("held", reason)

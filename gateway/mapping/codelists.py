"""Code lists: how a partner's codes (units, qualifiers …) become our canonical values, as data.

A code list is a YAML file in `templates/codelists/` named after the list:

    description: Units of measure → the unit names Odoo uses
    unmapped: keep          # keep (default): keep the code and warn; reject: an error
    codes:
      PCE: Units
      KGM: kg

Partner profiles add or change entries through template overrides (`codelists: {units:
{ST: Units}}`), which make a new `CodeList` for that partner only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Mapping

from gateway.mapping import yamlfile
from gateway.mapping.templatedirs import TemplateDirs

CODELISTS_DIR = "codelists"


class CodeListError(ValueError):
    """A code list file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class CodeList:
    name: str
    codes: Mapping[str, str] = field(default_factory=dict)
    unmapped: Literal["keep", "reject"] = "keep"
    description: str | None = None

    def lookup(self, code: str) -> str | None:
        """The canonical value of a code, or None when the list does not have it."""
        return self.codes.get(code)

    def with_entries(self, entries: Mapping[str, str]) -> "CodeList":
        """A copy of this list with entries added or replaced (partner overrides)."""
        return replace(self, codes={**self.codes, **entries})


def _check_entries(entries: object, where: str) -> dict[str, str]:
    if not isinstance(entries, Mapping):
        raise CodeListError(f"{where}: code list entries must be a mapping of code: value")
    result: dict[str, str] = {}
    for code, value in entries.items():
        if isinstance(value, (Mapping, list)) or value is None:
            raise CodeListError(f"{where}: code {code!r} must map to a single value, not {value!r}")
        result[str(code)] = str(value)
    return result


def load_codelist(templates_dir: Path, name: str) -> CodeList:
    """Read `templates/codelists/<name>.yaml`; raise CodeListError naming file and line."""
    path = TemplateDirs.of(templates_dir).file(f"{CODELISTS_DIR}/{name}.yaml")
    if not path.is_file():
        raise CodeListError(f"no code list {name!r} ({path} does not exist)")
    data = yamlfile.load(path, f"{CODELISTS_DIR}/{name}.yaml")
    if not isinstance(data, yamlfile.Located):
        raise CodeListError(f"{CODELISTS_DIR}/{name}.yaml: must be a mapping with `codes`")
    unknown = sorted(set(data) - {"description", "unmapped", "codes"})
    if unknown:
        raise CodeListError(f"{data.where(unknown[0])}: unknown key {unknown[0]!r}")
    unmapped = data.get("unmapped", "keep")
    if unmapped not in ("keep", "reject"):
        raise CodeListError(f"{data.where('unmapped')}: `unmapped` must be keep or reject")
    if "codes" not in data:
        raise CodeListError(f"{data.where()}: `codes` is required")
    return CodeList(
        name=name,
        codes=_check_entries(data["codes"], data.where("codes")),
        unmapped=unmapped,
        description=data.get("description"),
    )


def check_entries(entries: object, where: str) -> dict[str, str]:
    """Validate override entries for a code list (a mapping of code: value)."""
    return _check_entries(entries, where)

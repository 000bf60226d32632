"""The templates a gateway reads: the base templates shipped in the package, and the
operator's `templates_dir` on top, which adds templates and replaces base ones by name."""

from __future__ import annotations

from pathlib import Path


class TemplateDirs:
    """Folders of templates, the later ones overriding the earlier by relative path."""

    def __init__(self, *roots: Path) -> None:
        unique: list[Path] = []
        for root in roots:
            root = Path(root)
            if root not in unique:
                unique.append(root)
        self.roots = tuple(unique)

    @classmethod
    def of(cls, value: "TemplateDirs | Path | str") -> "TemplateDirs":
        return value if isinstance(value, TemplateDirs) else cls(Path(value))

    def file(self, relative: str) -> Path:
        """The file at `relative` in the last folder that has it; else where the operator's would be."""
        for root in reversed(self.roots):
            path = root / relative
            if path.is_file():
                return path
        return self.roots[-1] / relative

    def files(self, under: str = "") -> dict[str, Path]:
        """Every `*.yaml` below `under`, by its path relative to the folders (posix), overrides applied."""
        found: dict[str, Path] = {}
        for root in self.roots:
            base = root / under if under else root
            if base.is_dir():
                for path in base.rglob("*.yaml"):
                    found[path.relative_to(root).as_posix()] = path
        return found

    def __str__(self) -> str:
        return " + ".join(str(root) for root in self.roots)

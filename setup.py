"""Ships the base templates, the example partners and the samples inside the package.

They live at the top of the source tree (admins read them there); the build copies them into
`gateway/_shipped/` so an installed gateway (`pip install .`, a wheel) finds them too.
Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("templates", "partners", "samples")


class BuildWithShippedData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the source tree
            return
        root = Path(__file__).resolve().parent
        for folder in SHIPPED:
            target = Path(self.build_lib) / "gateway" / "_shipped" / folder
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / folder, target, ignore=shutil.ignore_patterns("__pycache__", "state"))


setup(cmdclass={"build_py": BuildWithShippedData})

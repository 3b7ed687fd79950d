"""pyproject.toml and the requirements files pin the same versions, so `pip install .` and the README's
install give one environment."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+).*", line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_every_package_pyproject_names_is_pinned_to_the_requirements_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    unpinned = [d for d in declared if "==" not in d]
    assert unpinned == []
    required = pins((ROOT / "requirements.txt").read_text().splitlines()
                    + (ROOT / "requirements-dev.txt").read_text().splitlines())
    assert {name: version for name, version in pins(declared).items() if required.get(name) != version} == {}

"""The declared version floors (pyproject.toml, environment.yml) are at least what the installed libraries
themselves require, and the installed versions satisfy them."""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parents[1]
#: extras of the libraries that this package uses them with (transformers and diffusers run on torch)
USED_EXTRAS = ("", "torch")


def declared() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for group in project["optional-dependencies"].values() for r in group]
    out: dict[str, list[Requirement]] = {}
    for text in reqs:
        req = Requirement(text)
        if canonicalize_name(req.name) != "adrpo-nb":
            out.setdefault(canonicalize_name(req.name), []).append(req)
    return out


def floor(req: Requirement) -> Version | None:
    """The lowest version a requirement allows (``>=``, ``==``, ``~=``, ``>``), or None."""
    versions = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=", ">")]
    return max(versions) if versions else None


def needed_floors(ours: dict[str, list[Requirement]]) -> dict[str, tuple[Version, str]]:
    """For each package we declare: the highest floor any installed declared library puts on it (and who)."""
    needed: dict[str, tuple[Version, str]] = {}
    for dist in ours:
        try:
            requires = md.requires(dist) or []
        except md.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if name not in ours or (req.marker and not any(req.marker.evaluate({"extra": e}) for e in USED_EXTRAS)):
                continue
            low = floor(req)
            if low is not None and (name not in needed or low > needed[name][0]):
                needed[name] = (low, f"{dist} requires {text}")
    return needed


def test_declared_floors_cover_the_installed_libraries_requirements():
    ours = declared()
    too_low = []
    for name, (low, why) in needed_floors(ours).items():
        for req in ours[name]:
            mine = floor(req)
            if mine is None or mine < low:
                too_low.append(f"{req} < {low} ({why})")
    assert not too_low, "raise these floors in pyproject.toml: " + "; ".join(too_low)


def test_installed_versions_satisfy_the_declared_requirements():
    bad = []
    for name, reqs in declared().items():
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            continue
        bad += [f"{name} {version} vs {r}" for r in reqs if not r.specifier.contains(version, prereleases=True)]
    assert not bad, bad


def test_environment_yml_takes_a_torch_that_exists_and_meets_the_floor():
    text = (ROOT / "environment.yml").read_text()
    channels = re.search(r"channels:\n((?:\s+- .*\n)+)", text).group(1)
    assert "- pytorch" not in channels, "the pytorch conda channel stopped publishing after PyTorch 2.5"
    conda_torch = re.search(r"^\s+- pytorch>=([\d.]+)", text, re.M)
    assert conda_torch, "environment.yml should pin pytorch>=<floor> from conda-forge"
    torch_floor = floor(declared()["torch"][0])
    assert Version(conda_torch.group(1)) >= torch_floor

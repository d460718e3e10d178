"""Installing the package keeps the torch a machine already has; our own setup is pinned.

setup.cfg states ranges (a library that pins torch==X would replace the CUDA build of a GPU
machine or Colab); constraints.txt pins what `make install` and CI test with.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, Requirement]:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    lines = parser["options"]["install_requires"].strip().splitlines()
    for extra in parser["options.extras_require"].values():
        lines += extra.strip().splitlines()
    return {canonicalize_name(req.name): req for req in map(Requirement, lines)}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_torch_is_a_range_that_keeps_the_builds_people_have():
    requirements = _requirements()
    for name in ("torch", "torchvision"):
        assert "==" not in str(requirements[name].specifier), requirements[name]
    # CUDA and CPU builds of other 2.x releases, as Colab and GPU images ship them.
    for version in ("2.4.1+cu121", "2.6.0", "2.9.1", "2.14.1+cpu"):
        assert requirements["torch"].specifier.contains(version), version
    assert requirements["torchvision"].specifier.contains("0.21.0+cu124")


def test_every_pin_lies_inside_its_range_and_every_requirement_is_pinned():
    requirements, pins = _requirements(), _pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for name, requirement in requirements.items():
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_pip_resolver_keeps_the_installed_torch(tmp_path):
    """pip's own resolver, offline (no index: only what is installed can satisfy a
    requirement), on this environment: installing the package with its dependencies wants
    nothing but the package itself; the installed torch is kept."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index",
         "--no-build-isolation", "--report", str(tmp_path / "report.json"), "-e", str(REPO)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert [item["metadata"]["name"] for item in report["install"]] == ["vgg-sweep"]


def _fake_dist(site, name: str, version: str, requires: str | None = None) -> None:
    """An installed distribution as pip sees one: a dist-info folder with its METADATA."""
    folder = site / f"{name}-{version}.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    (folder / "METADATA").write_text("\n".join(lines + ([f"Requires-Dist: {requires}"]
                                                         if requires else [])) + "\n")
    (folder / "INSTALLER").write_text("pip\n")
    (folder / "RECORD").write_text("")


def _dry_run_with(tmp_path, torch: str, torchvision: str) -> subprocess.CompletedProcess:
    """`pip install --dry-run -e .` offline, where another torch build is installed first on
    the path (as on Colab or a CUDA image)."""
    site = tmp_path / "site"
    _fake_dist(site, "torch", torch)
    _fake_dist(site, "torchvision", torchvision, f"torch=={torch.split('+')[0]}")
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index",
         "--no-build-isolation", "--report", str(tmp_path / "report.json"), "-e", str(REPO)],
        capture_output=True, text=True, timeout=300,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
             "PIP_CONFIG_FILE": os.devnull, "PYTHONPATH": str(site)})  # no local wheel folder


def test_pip_keeps_a_colab_cuda_torch_and_would_replace_a_torch_1(tmp_path):
    """Colab's torch 2.4.1+cu121 (torchvision 0.19.1+cu121) satisfies the package: pip installs
    nothing but vgg-sweep. A torch 1.x does not: pip looks for a torch in our range to replace
    it (none offline; the control that this check can fail)."""
    kept = _dry_run_with(tmp_path / "colab", "2.4.1+cu121", "0.19.1+cu121")
    assert kept.returncode == 0, kept.stderr[-2000:]
    assert "torch<3,>=2.1 in " in kept.stdout and "(2.4.1+cu121)" in kept.stdout
    report = json.loads((tmp_path / "colab" / "report.json").read_text())
    assert [item["metadata"]["name"] for item in report["install"]] == ["vgg-sweep"]
    old = _dry_run_with(tmp_path / "old", "1.13.1", "0.14.1")
    assert old.returncode != 0
    assert "No matching distribution found for torch<3,>=2.1 (from vgg-sweep)" in old.stderr


def test_make_install_and_ci_use_the_pins():
    """`make install` (what CI's .ci/run calls) installs with -c constraints.txt: make's own
    dry run of the recipe shows the command it would run."""
    recipe = subprocess.run(["make", "-n", "-B", "install"], cwd=REPO, capture_output=True,
                            text=True, timeout=60).stdout
    installs = [line for line in recipe.splitlines() if "pip install" in line and " -e " in line]
    assert installs and all("-c constraints.txt" in line for line in installs), recipe
    assert "make install" in (REPO / ".ci" / "run").read_text().splitlines()

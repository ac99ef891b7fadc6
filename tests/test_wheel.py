"""The wheel, installed into a fresh virtual environment, works from a folder that is not this repository.

The wheel is built from a copy of the files it is made of (so the repository
gets no build/ or egg-info litter) and installed with `--no-deps` into a
venv made without `--system-site-packages`.  Its dependencies come from a
`.pth` line naming this test environment's site-packages: that folder holds
no `policy_engine` package (the project is installed there in editable
mode, whose import hook a `.pth`-added folder does not run), and the fresh
venv's own site-packages comes first on `sys.path` anyway, so a file missing
from the wheel cannot be found anywhere else.  With the test extra's
setuptools the wheel is built without an isolated build env: about 15 s
in all on an idle machine, most of it pip starting up three times.  CI runs
it like every other test (marker `wheel`: `-m "not wheel"` skips it locally).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path

import pytest

from .conftest import AS_OF, BUNDLED_POLICIES, ROOT, validate_ok_lines

_SOURCES = ("pyproject.toml", "README.md", "policy_engine", "schemas", "policies", "examples")


def _run(command: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with the wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in _SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    # the test extra installs a setuptools that can build this project: no isolated build env to set up
    isolation = [] if int(version("setuptools").split(".")[0]) < 77 else ["--no-build-isolation"]
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(root / "dist"),
                  str(source)], cwd=root)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("policy_engine-*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    install = ["install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel)]
    done = _run([sys.executable, "-m", "pip", "--python", str(python), *install], cwd=root)
    assert done.returncode == 0, done.stderr
    fresh_site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root)
    (Path(fresh_site.stdout.strip()) / "test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return environment / "bin"


@pytest.mark.wheel
def test_the_installed_package_is_the_wheel_not_the_repository(installed: Path, tmp_path: Path) -> None:
    """The fresh venv imports policy_engine from its own site-packages, and the bundled pack is there too."""
    probe = (
        "import json, policy_engine;"
        "print(json.dumps([policy_engine.__file__, str(policy_engine.BUNDLED),"
        " [ref.file for ref in policy_engine.load(policy_engine.BUNDLED).policies]]))"
    )
    done = _run([str(installed / "python"), "-c", probe], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    module, bundled, files = json.loads(done.stdout)
    site_packages = installed.parent / "lib"
    assert Path(module).is_relative_to(site_packages)
    assert Path(bundled).is_relative_to(site_packages)
    assert sorted(files) == [f"policies/{path.name}" for path in BUNDLED_POLICIES]


@pytest.mark.wheel
def test_init_validate_and_evaluate_from_an_unrelated_folder(installed: Path, tmp_path: Path) -> None:
    """`policy-engine init`, then `validate`, `test` and `evaluate` in the pack it wrote, from the installed script."""
    command = str(installed / "policy-engine")
    done = _run([command, "init", "pack"], cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    pack = tmp_path / "pack"
    done = _run([command, "validate"], cwd=pack)
    assert (done.returncode, done.stdout, done.stderr) == (0, validate_ok_lines(), "")
    done = _run([command, "test"], cwd=pack)
    assert (done.returncode, done.stderr) == (0, "")
    assert re.fullmatch(r"[1-9][0-9]* passed, 0 failed", done.stdout.splitlines()[-1].strip("= "))
    done = _run([command, "evaluate", "examples/margin-a-regular.json", "--as-of", AS_OF], cwd=pack)
    assert (done.returncode, done.stderr) == (0, "")
    decision = json.loads(done.stdout)
    assert (decision["outcome"]["status"], decision["outcome"]["liquidation"]["returned"]) == (
        "liquidation",
        [{"asset": "BTC", "quantity": "0.72727273"}],
    )
    done = _run([command, "schema", "spot-margin.account"], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, (ROOT / "schemas" / "spot-margin.account.schema.json").read_text())

"""The required top-level folders `core/` and `plugins/` install as `kpi.core` and `kpi.plugins`,
in both install modes, and never as bare `core` / `plugins`.

Each install test builds the package with pip — offline: --no-index, --no-deps and
--no-build-isolation, with every proxy pointed at a closed port so that any download fails the test
instead of happening — into a fresh virtual environment. That environment sees the test
environment's packages (click, pluggy, SQLAlchemy, setuptools, pip …) through symlinks, but none of
kpi's own files, so the kpi it imports can only be the one the test installed. Building a wheel
without build isolation needs setuptools>=70.1 in the test environment (older setuptools needs the
`wheel` package for it).

The source tree is copied first: a build writes build/ and kpi.egg-info/ next to pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]  # as in tests/conftest.py; importlib mode cannot import it
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]

# Slow tests run by default; `-m "not slow"` leaves them out (the marker is registered in pyproject).
slow = pytest.mark.slow

# What a build must not see of the working tree: caches, earlier builds, stores of demo runs.
ROOT_IGNORE = {".git", ".hypothesis", ".pytest_cache", ".venv", "build", "dist", "out", "tests"}


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    at_root = Path(folder) == ROOT
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info")) or ".sqlite" in n
            or (at_root and n in ROOT_IGNORE)}

# Runs in the new environment, from a folder with neither core/ nor plugins/ in it.
PROBE = r"""
import importlib, importlib.resources, json, sys
import kpi.core
import kpi.plugins.schemes.packs
out = {
    "version": kpi.core.__version__,
    "core_file": kpi.core.__file__,
    "packs_file": kpi.plugins.schemes.packs.__file__,
    "packs": sorted(e.name for e in importlib.resources.files("kpi.plugins.schemes.packs").iterdir()),
}
for bare in ("core", "plugins"):
    try:
        importlib.import_module(bare)
        out[bare] = "imported from " + str(getattr(sys.modules[bare], "__file__", None))
    except ModuleNotFoundError as exc:
        out[bare] = "ModuleNotFoundError: " + str(exc.name)
print(json.dumps(out))
"""


def offline_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no PYTHONPATH or other PYTHON*/PIP_*/KPI_* settings
    from outside, no user site, no pip config files, and proxies that refuse every connection."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("PYTHON", "PIP_", "KPI_", "VIRTUAL_ENV"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    dead = "http://127.0.0.1:9"
    env.update(PYTHONNOUSERSITE="1", PYTHONUTF8="1", PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", http_proxy=dead, https_proxy=dead, HTTP_PROXY=dead,
               HTTPS_PROXY=dead, ALL_PROXY=dead)
    env.update(extra)
    return env


def run(cmd: list, cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or offline_env(), capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    if ok:
        assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc


def _kpi_own_entries(sitedir: Path) -> set[str]:
    """Names in a site-packages folder that belong to an installed kpi (regular or editable)."""
    own = set()
    for dist in md.distributions(path=[str(sitedir)]):
        if (dist.metadata["Name"] or "").lower().replace("_", "-") in ("kpi", "kpi-sample-plugin"):
            own |= {Path(str(f)).parts[0] for f in (dist.files or []) if not str(f).startswith("..")}
    for entry in sitedir.iterdir():
        if re.match(r"(kpi|kpi_sample_plugin)([-.].*)?$|__editable__[._]+kpi[-_]", entry.name):
            own.add(entry.name)
        elif entry.suffix == ".pth" and str(ROOT) in entry.read_text(encoding="utf-8", errors="replace"):
            own.add(entry.name)  # a legacy `setup.py develop` path entry to the working tree
    return own


@dataclass
class Venv:
    root: Path
    python: Path
    purelib: Path
    scripts: Path

    def pip_install(self, *args, cwd: Path) -> None:
        proc = run([self.python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                    "--no-cache-dir", "--disable-pip-version-check", *args], cwd=cwd, ok=False)
        assert proc.returncode == 0, (
            f"pip install {' '.join(map(str, args))} failed offline (building without isolation needs "
            f"setuptools>=70.1 in the test environment):\n{proc.stdout}\n{proc.stderr}")


def make_venv(where: Path) -> Venv:
    """A virtual environment that sees the test environment's packages except kpi itself."""
    run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    paths = json.loads(run([python, "-c", "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"],
                           cwd=where).stdout)
    venv = Venv(where, python, Path(paths["purelib"]), Path(paths["scripts"]))
    for sitedir in map(Path, site.getsitepackages()):
        if not sitedir.is_dir():
            continue
        skip = _kpi_own_entries(sitedir) | {"__pycache__"}
        for entry in sitedir.iterdir():
            link = venv.purelib / entry.name
            if entry.name not in skip and not link.exists():
                link.symlink_to(entry, target_is_directory=entry.is_dir())
    probe = run([python, "-c", "import importlib.util as u; print(u.find_spec('kpi') is None, "
                               "u.find_spec('pip') is not None)"], cwd=where).stdout.split()
    assert probe == ["True", "True"], f"the new environment should have pip but no kpi: {probe}"
    return venv


def copy_source(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=_copy_ignore)
    return dest


def probe(venv: Venv, cwd: Path) -> dict:
    assert not (cwd / "core").exists() and not (cwd / "plugins").exists()
    found = json.loads(run([venv.python, "-c", PROBE], cwd=cwd).stdout)
    assert found["core_file"] and found["packs_file"], f"imported as a namespace package, without its __init__.py: {found}"
    return found


def check_console_script(venv: Venv, cwd: Path) -> None:
    kpi = venv.scripts / ("kpi.exe" if os.name == "nt" else "kpi")
    assert kpi.is_file(), f"pip did not install the `kpi` console script in {venv.scripts}"
    assert run([kpi, "--version"], cwd=cwd).stdout.strip() == f"kpi, version {VERSION}"
    # The built-in plugins load and the bundled pack is read through importlib.resources.
    listed = run([kpi, "scheme", "list", "--json"], cwd=cwd)
    assert "recycling" in [s["id"] for s in json.loads(listed.stdout)]
    assert "error" not in listed.stderr, listed.stderr


@slow
def test_regular_install_imports_as_kpi_from_anywhere(tmp_path):
    venv = make_venv(tmp_path / "venv")
    src = copy_source(tmp_path / "src")
    venv.pip_install(src, cwd=tmp_path)
    shutil.rmtree(src)  # the install must not lean on the source it was built from
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    found = probe(venv, elsewhere)

    assert found["version"] == VERSION
    assert Path(found["core_file"]).is_relative_to(venv.purelib / "kpi" / "core")
    assert Path(found["packs_file"]).is_relative_to(venv.purelib / "kpi" / "plugins" / "schemes" / "packs")
    assert "recycling.toml" in found["packs"]
    assert found["core"] == "ModuleNotFoundError: core"
    assert found["plugins"] == "ModuleNotFoundError: plugins"
    assert not (venv.purelib / "core").exists() and not (venv.purelib / "plugins").exists()
    check_console_script(venv, elsewhere)


@slow
def test_editable_install_imports_the_source_tree_as_kpi(tmp_path):
    venv = make_venv(tmp_path / "venv")
    src = copy_source(tmp_path / "src")
    venv.pip_install("--editable", src, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    found = probe(venv, elsewhere)

    assert found["version"] == VERSION
    assert Path(found["core_file"]).resolve() == (src / "core" / "__init__.py").resolve()
    assert Path(found["packs_file"]).resolve() == (src / "plugins" / "schemes" / "packs" / "__init__.py").resolve()
    assert "recycling.toml" in found["packs"]
    assert found["core"] == "ModuleNotFoundError: core"  # the mapping is kpi.core -> core/, no path entry to src
    assert found["plugins"] == "ModuleNotFoundError: plugins"
    check_console_script(venv, elsewhere)

    # Files added after the install are seen without reinstalling: that is what editable is for.
    (src / "plugins" / "schemes" / "packs" / "added_after_install.toml").write_text("", encoding="utf-8")
    (src / "core" / "added_after_install.py").write_text("VALUE = 42\n", encoding="utf-8")
    assert "added_after_install.toml" in probe(venv, elsewhere)["packs"]
    out = run([venv.python, "-c", "from kpi.core.added_after_install import VALUE; print(VALUE)"], cwd=elsewhere)
    assert out.stdout.strip() == "42"


def _package_dirs() -> dict[str, Path]:
    """Every folder under the mapped top-level folders that holds Python files, by the package name
    the mapping gives it (core/store -> kpi.core.store)."""
    found = {}
    for package, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for py in base.rglob("*.py"):
            rel = py.parent.relative_to(base)
            if "__pycache__" in rel.parts:
                continue
            found[".".join((package, *rel.parts))] = py.parent
    return found


def test_the_mapping_covers_core_and_plugins_and_nothing_else():
    assert SETUPTOOLS["package-dir"] == {"kpi.core": "core", "kpi.plugins": "plugins"}
    assert PYPROJECT["project"]["scripts"] == {"kpi": "kpi.core.cli:main"}
    assert all(p == "kpi" or p.startswith("kpi.") for p in SETUPTOOLS["packages"])


def test_every_python_folder_is_a_listed_package():
    dirs = _package_dirs()
    assert {"kpi.core", "kpi.core.store", "kpi.plugins.schemes"} <= set(dirs)  # the walk finds something
    missing_init = sorted(str(d.relative_to(ROOT)) for d in dirs.values() if not (d / "__init__.py").is_file())
    assert not missing_init, f"folders with Python files but no __init__.py: {missing_init}"
    unlisted = sorted(set(dirs) - set(SETUPTOOLS["packages"]))
    assert not unlisted, f"packages missing from [tool.setuptools] packages in pyproject.toml: {unlisted}"


def test_every_listed_package_is_a_folder_with_an_init():
    for package in SETUPTOOLS["packages"]:
        top = next((p for p in sorted(SETUPTOOLS["package-dir"], key=len, reverse=True)
                    if package == p or package.startswith(p + ".")), None)
        assert top is not None, f"{package} is listed in pyproject.toml but no package-dir entry maps it to a folder"
        folder = ROOT / SETUPTOOLS["package-dir"][top] / Path(*package[len(top):].split(".")[1:])
        assert (folder / "__init__.py").is_file(), f"{package} is listed in pyproject.toml but {folder} has no __init__.py"


def test_scheme_packs_are_package_data():
    packs = ROOT / "plugins" / "schemes" / "packs"
    assert "recycling.toml" in {p.name for p in packs.glob("*.toml")}
    assert "*.toml" in PYPROJECT["tool"]["setuptools"]["package-data"]["kpi.plugins.schemes.packs"]

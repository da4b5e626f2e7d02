"""Helpers shared by the test modules (pyproject puts tests/ on pytest's pythonpath, so a test
imports them as `from support import …`); conftest.py holds the fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo"
OFFLINE_PROXY = "http://127.0.0.1:9"  # a closed port: any download attempt fails instead of happening

BACKENDS = {
    "sqlite": None,
    "postgresql": "KPI_TEST_POSTGRES_URL",
    "mysql": "KPI_TEST_MYSQL_URL",
}
EXAMPLE_URLS = {
    "KPI_TEST_POSTGRES_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "KPI_TEST_MYSQL_URL": "mysql+pymysql://root@127.0.0.1:3306/test",
}


def _server_database(env: str):
    """Create a throwaway database on the server named by `env`; yield its URL; drop it."""
    base = os.environ.get(env)
    if not base:
        pytest.skip(f"{env} is not set: no server to run this store test on "
                    f"(e.g. {env}={EXAMPLE_URLS[env]})")
    name = f"kpi_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def set_store(site_toml: Path, url: str) -> None:
    """Point a site's config at another store."""
    text = site_toml.read_text(encoding="utf-8")
    site_toml.write_text(text.replace("[identity]", f'[store]\nurl = "{url}"\n\n[identity]', 1), encoding="utf-8")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: none of the caller's PYTHONPATH, KPI_* or pip settings,
    no user site, and proxies that refuse every connection."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PIP_", "KPI_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(PYTHONNOUSERSITE="1", PYTHONUTF8="1", PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", http_proxy=OFFLINE_PROXY, https_proxy=OFFLINE_PROXY,
               HTTP_PROXY=OFFLINE_PROXY, HTTPS_PROXY=OFFLINE_PROXY, ALL_PROXY=OFFLINE_PROXY)
    env.update(extra)
    return env


def pip_install_offline(src: Path, base: Path) -> Path:
    """A distribution's source folder installed with pip, offline, into base/site; returns that folder."""
    copy = shutil.copytree(src, base / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    target = base / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--no-cache-dir", "--disable-pip-version-check", "--target", str(target), str(copy)],
                          cwd=base, env=child_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (f"pip could not install {src.name} offline (building without isolation needs "
                                  f"setuptools>=70.1 in the test environment):\n{proc.stdout}\n{proc.stderr}")
    return target

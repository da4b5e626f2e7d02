"""Shared fixtures. Store tests run on SQLite always, and on PostgreSQL and MariaDB when
KPI_TEST_POSTGRES_URL / KPI_TEST_MYSQL_URL name a server (.ci/run sets both); each test gets a
database of its own, dropped afterwards."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo"

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


@pytest.fixture(params=list(BACKENDS))
def store_url(request, tmp_path):
    """A URL of an empty store on each backend in turn."""
    env = BACKENDS[request.param]
    if env is None:
        yield f"sqlite:///{tmp_path / 'kpi.sqlite'}"
    else:
        yield from _server_database(env)


@pytest.fixture
def demo_site(tmp_path):
    """A copy of the demo site in a temporary folder (its store and outputs land there too).
    Returns the path of its site.toml."""
    site = tmp_path / "demo"
    shutil.copytree(DEMO, site, ignore=shutil.ignore_patterns("out", "*.sqlite*", "__pycache__"))
    return site / "site.toml"


def set_store(site_toml: Path, url: str) -> None:
    """Point a site's config at another store."""
    text = site_toml.read_text(encoding="utf-8")
    site_toml.write_text(text.replace("[identity]", f'[store]\nurl = "{url}"\n\n[identity]', 1), encoding="utf-8")

"""Shared fixtures. Store tests run on SQLite always, and on PostgreSQL and MariaDB when
KPI_TEST_POSTGRES_URL / KPI_TEST_MYSQL_URL name a server (.ci/run sets both); each test gets a
database of its own, dropped afterwards."""

from __future__ import annotations

import shutil

import pytest
from support import BACKENDS, DEMO, _server_database


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

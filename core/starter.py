"""The starter config `kpi init` writes: real TOML from tomli-w, with a comment over each section."""

from __future__ import annotations

import tomli_w

SECTIONS = [
    ("The site: its name (on reports) and the timezone its times are in.",
     {"site": {"name": "My service team", "timezone": "Asia/Shanghai"}}),
    ("Where results are kept. Default: kpi.sqlite next to this file. For PostgreSQL:\n"
     "# url = \"postgresql+psycopg://kpi@db-host/kpi\" (pip install 'kpi[postgres]')",
     {"store": {}}),
    ("How time is cut into periods: monthly (start_day = 26 for the 26th to the 25th), quarterly, annual.",
     {"period": {"cycle": "monthly", "start_day": 1}}),
    ("Records whose person is not in the roster: \"report\" them, or \"fail\" the run.",
     {"identity": {"unknown": "report"}}),
    ("The scheme that scores the site (`kpi scheme list`), and overrides of its parameters.",
     {"scheme": {"use": "recycling", "parameters": {"pay_base_specialist": "300"}}}),
    ("Where the data comes from. The roster ties each employee to their ids in other systems.",
     {"connector": [
         {"name": "roster", "use": "csv", "kind": "employee", "path": "data/roster.csv",
          "ids": {"helpdesk": "helpdesk_id", "attendance": "attendance_id"}},
         {"name": "tickets", "use": "csv", "kind": "ticket", "path": "data/tickets.csv"},
     ]}),
    ("Where results go. Credentials are never written here: use \"${ENV_NAME}\" references.",
     {"exporter": [{"name": "payroll", "use": "payroll_csv", "path": "payroll-{period}.csv"}]}),
    ("Files that exporters write go here, relative to this file.", {"output": {"dir": "out"}}),
]


def _toml(data: dict) -> str:
    """tomli-w writes a short list of tables inline (exporter = [{…}]), which after a table header
    would belong to that table: write flat lists of tables as [[name]] sections instead."""
    (key, value), = data.items()
    if isinstance(value, list) and all(isinstance(v, dict) and not any(isinstance(x, dict) for x in v.values())
                                       for v in value):
        return "\n".join(f"[[{key}]]\n{tomli_w.dumps(item)}" for item in value)
    return tomli_w.dumps(data)


def starter_config() -> str:
    parts = ["# kpi site config. Check it with: kpi validate --config site.toml\n"]
    for comment, data in SECTIONS:
        parts.append(f"# {comment}\n{_toml(data)}")
    return "\n".join(parts)

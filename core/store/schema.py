"""The store's tables, as SQLAlchemy Core metadata. Times are integer epoch seconds (cheap to bind
and portable); money, points and rates are exact decimals."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

from ..decimals import tidy
from ..records import RecordKind

# Bumped by every change to the tables below; core/store/migrations.py upgrades older stores.
SCHEMA_VERSION = 4

BINARY_COLLATION = "utf8mb4_bin"


def exact_string(length: int):
    """A string compared byte for byte on every backend: MariaDB/MySQL's default collation would
    make 'T1' and 't1' one key (SQLite and PostgreSQL already compare exactly)."""
    return String(length).with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation=BINARY_COLLATION),
                                       "mysql", "mariadb")


ID = exact_string(64)
SOURCE_ID = exact_string(191)  # 191 keeps a utf8mb4 unique key within MariaDB's 767-byte limit
# Columns holding ids from people's systems, made exact in schema 2 (see migrations.py).
EXACT_ID_COLUMNS = {"id": 64, "employee_id": 64, "external_id": 191, "source_id": 191}
DECIMAL_PLACES = 10


class ExactDecimal(TypeDecorator):
    """Decimal stored exactly: NUMERIC where the database has it, text on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(28, DECIMAL_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(28, DECIMAL_PLACES, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value).quantize(Decimal(1).scaleb(-DECIMAL_PLACES))
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return tidy(Decimal(value))


metadata = MetaData()

meta = Table("kpi_meta", metadata, Column("key", String(64), primary_key=True), Column("value", String(255)))

employees = Table(
    "employees",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(64), nullable=False),
    Column("team", String(100), nullable=False, default=""),
    Column("department", String(100), nullable=False, default=""),
    Column("hire_date", Date),
    Column("leave_date", Date),
    Column("probation_end", Date),
    Column("external_ids", Text, nullable=False, default="{}"),
    Column("source", String(64), nullable=False),
)

employee_ids = Table(
    "employee_ids",
    metadata,
    Column("system", String(64), primary_key=True),
    Column("external_id", SOURCE_ID, primary_key=True),
    Column("employee_id", ID, nullable=False),
)

periods = Table(
    "periods",
    metadata,
    Column("label", String(32), primary_key=True),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
    Column("cycle", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="draft"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # running, succeeded, failed
    Column("is_current", Boolean, nullable=False, default=False),
    Column("started_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("site", String(200), nullable=False, default=""),
    Column("config_hash", String(64), nullable=False, default=""),
    Column("scheme_id", String(64), nullable=False, default=""),
    Column("scheme_version", String(32), nullable=False, default=""),
    Column("plugins", Text, nullable=False, default="[]"),
    Column("report", Text, nullable=False, default="{}"),
    Column("error", Text),
    Index("ix_runs_period", "period", "is_current"),
)

connector_state = Table(
    "connector_state",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Per-employee values a connector supplies directly (a QC department's compliance rate, a rating).
input_metric_values = Table(
    "input_metric_values",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("employee_id", ID, primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", ExactDecimal, nullable=False),
    Column("source_ref", String(255), nullable=False, default=""),
)

metric_values = Table(
    "metric_values",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("employee_id", ID, primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", ExactDecimal),
    Column("source", String(64), nullable=False),
    Column("evidence", Text, nullable=False, default="{}"),
)

scorecards = Table(
    "scorecards",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("employee_id", ID, primary_key=True),
    Column("period", String(32), nullable=False),
    Column("eligible", Boolean, nullable=False),
    Column("total", ExactDecimal),
    Column("grade", String(32)),
    Column("pay_amount", ExactDecimal),
    Column("flags", Text, nullable=False, default="[]"),
    Column("breakdown", Text, nullable=False),
)

export_ledger = Table(
    "export_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("exporter", String(64), nullable=False),
    Column("period", String(32), nullable=False),
    Column("employee_id", ID, nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("destination", Text, nullable=False),
    Column("remote_id", String(255)),
    Column("status", String(16), nullable=False),  # sending (outcome unknown until delivered), delivered, failed
    Column("sent_at", BigInteger, nullable=False),
    # Added in schema 3: the key a receiver deduplicates by, a first delivery or a correction, why it failed.
    Column("idempotency_key", String(64)),
    Column("kind", String(16)),
    Column("error", Text),
    Index("ix_ledger_lookup", "exporter", "period", "employee_id"),
)

# Added in schema 4: the audit trail, adjustments and appeals (core/audit.py, adjustments.py, appeals.py).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("period", String(32), nullable=False),
    Column("employee_id", ID),
    Column("subject", Text, nullable=False),
    Column("details", Text, nullable=False, default="{}"),
    Index("ix_audit_period", "period"),
)

adjustments = Table(
    "adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period", String(32), nullable=False),
    Column("employee_id", ID, nullable=False),
    Column("target", String(16), nullable=False),  # metric, indicator, record
    Column("name", String(255), nullable=False),
    Column("value", ExactDecimal),
    Column("reason", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("appeal_id", Integer),
    Column("status", String(16), nullable=False),  # active, withdrawn
    Column("created_at", BigInteger, nullable=False),
    Index("ix_adjustments_period", "period", "status"),
)

appeals = Table(
    "appeals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("period", String(32), nullable=False),
    Column("employee_id", ID, nullable=False),
    Column("state", String(16), nullable=False),  # filed, under_review, upheld, rejected
    Column("grounds", Text, nullable=False),
    Column("evidence", Text, nullable=False, default=""),
    Column("filed_by", String(200), nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("file_deadline", Date, nullable=False),
    Column("review_due", Date, nullable=False),
    Column("decision_due", Date, nullable=False),
    Column("outcome", Text),
    Column("decided_by", String(200)),
    Column("decided_on", Date),
    Column("created_at", BigInteger, nullable=False),
)

_COLUMN_TYPES = {
    "text": lambda: Text,
    "int": lambda: BigInteger,
    "bool": lambda: Boolean,
    "decimal": lambda: ExactDecimal,
    "date": lambda: Date,
    "datetime": lambda: BigInteger,
}


def record_table(md: MetaData, kind: RecordKind) -> Table:
    """The table holding one record kind: the common columns, then the kind's own fields."""
    name = f"rec_{kind.name}"
    if name in md.tables:
        return md.tables[name]
    return Table(
        name,
        md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("source", String(64), nullable=False),
        Column("source_id", SOURCE_ID, nullable=False),
        Column("person_ref", String(128), nullable=False),
        Column("employee_id", ID),
        Column("at", BigInteger, nullable=False),
        *(Column(f.name, _COLUMN_TYPES[f.type]()) for f in kind.fields),
        UniqueConstraint("source", "source_id", name=f"uq_{name}_source"),
        Index(f"ix_{name}_at", "at"),
    )

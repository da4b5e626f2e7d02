"""Helpers for exporters that write files: where a file goes, atomic replacement with ordinary
permissions, and the payroll row shape."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Iterator

from kpi.core.decimals import tidy
from kpi.core.exporters import RunResult
from kpi.core.scoring import Scorecard


def output_path(pattern: str, period: str, site) -> Path:
    """An exporter's `path` option for a period: {period} replaced, relative to [output] dir."""
    path = Path(pattern.replace("{period}", period))
    return path if path.is_absolute() else site.output_dir / path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader sees the old
    file or the new one, never half of one, even if the process dies while writing. The file gets
    the permissions a newly created file would (mkstemp's are owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


FEN = Decimal("0.01")  # money to the fen, however the figure was computed or stored

COLUMNS = {
    # id: (Chinese header, English header)
    "employee_id": ("工号", "Employee ID"),
    "name": ("姓名", "Name"),
    "department": ("部门", "Department"),
    "team": ("组别", "Team"),
    "role": ("岗位", "Role"),
    "period": ("考核周期", "Period"),
    "total": ("考核总分", "Total score"),
    "grade": ("等级", "Grade"),
    "pay_percent": ("绩效系数(%)", "Pay percent"),
    "pay_base": ("绩效工资基数(元)", "Performance pay base (RMB)"),
    "performance_pay": ("绩效工资(元)", "Performance pay (RMB)"),
    "deductions": ("扣减(元)", "Deductions (RMB)"),
    "flags": ("备注", "Flags"),
}
NUMBER_COLUMNS = {"total", "pay_percent", "pay_base", "performance_pay", "deductions"}
MONEY_COLUMNS = {"pay_base", "performance_pay", "deductions"}
DEFAULT_COLUMNS = ["employee_id", "name", "department", "role", "period", "total", "grade", "pay_percent",
                   "pay_base", "performance_pay", "flags"]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def payroll_row(card: Scorecard, result: RunResult, columns: list[str]) -> list[str]:
    emp = result.employees.get(card.employee_id)
    values = {
        "employee_id": card.employee_id,
        "name": card.name,
        "department": emp.department if emp else "",
        "team": emp.team if emp else "",
        "role": emp.role if emp else card.role,
        "period": card.period,
        "total": tidy(card.total) if card.total is not None else None,
        "grade": card.grade,
        "pay_percent": tidy(card.pay.percent) if card.pay else None,
        "pay_base": card.pay.base.quantize(FEN) if card.pay else None,
        "performance_pay": card.pay.amount.quantize(FEN) if card.pay else None,
        # What the person did not get of their base: the regulation's deductions, in RMB.
        "deductions": max(card.pay.base - card.pay.amount, Decimal(0)).quantize(FEN) if card.pay else None,
        "flags": "; ".join(f.message for f in card.flags),
    }
    return [_text(values[c]) for c in columns]


def headers(columns: list[str], language: str) -> list[str]:
    index = {"zh": 0, "en": 1}
    if language == "both":
        return [f"{COLUMNS[c][0]} {COLUMNS[c][1]}" for c in columns]
    return [COLUMNS[c][index[language]] for c in columns]

"""Deterministic generator of the demo: a fictional recycling company's service team (绿源再生资源
客服部), 30 people in 3 roles, three months (2026-08 to 2026-10) of tickets, ratings, complaints,
attendance, and the departments' monthly figures.

    python config/demo/generate.py            # rewrites config/demo/data/
    python config/demo/generate.py --out DIR  # writes elsewhere (the tests compare the two)

The same seed always gives the same bytes."""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

SEED = 20261022
MONTHS = [(2026, 8), (2026, 9), (2026, 10)]
HOLIDAYS = {date(2026, 10, d) for d in range(1, 8)}  # National Day week, no scheduled work
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平",
         "刚", "桂英", "晨", "浩", "宇", "欣", "婷", "鹏", "琳", "凯"]
ROLES = [("客服专员", 14), ("大客户专员", 8), ("售后专员", 8)]
TEAMS = {"客服专员": "一组", "大客户专员": "大客户组", "售后专员": "售后组"}


def roster(rng: random.Random) -> list[dict]:
    people, n = [], 0
    for role, count in ROLES:
        for _ in range(count):
            n += 1
            hire = date(2024, 1, 8) + timedelta(days=rng.randrange(0, 700))
            people.append({
                "工号": f"E{n:03d}",
                "姓名": SURNAMES[n - 1] + GIVEN[n - 1],
                "岗位": role,
                "组别": TEAMS[role],
                "部门": "客户服务部",
                "入职日期": hire.isoformat(),
                "离职日期": "",
                "试用期至": "",
                "坐席ID": f"agent-{1000 + n}",
                "考勤号": f"{n:05d}",
                # hidden traits, not written
                "_skill": rng.uniform(0.0, 1.0),
            })
    # Someone still on probation (not appraised) and someone who joined in September.
    people[12]["入职日期"], people[12]["试用期至"] = "2026-09-01", "2026-11-30"
    people[25]["入职日期"] = "2026-09-14"
    return people


def workdays(year: int, month: int) -> list[date]:
    d, out = date(year, month, 1), []
    while d.month == month:
        if d.weekday() < 5 and d not in HOLIDAYS:
            out.append(d)
        d += timedelta(days=1)
    return out


def fmt(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def generate(out: Path) -> None:
    rng = random.Random(SEED)
    people = roster(rng)
    tickets, ratings, complaints, attendance, figures = [], [], [], [], []
    tid = rid = cid = 0
    for year, month in MONTHS:
        days = workdays(year, month)
        label = f"{year}-{month:02d}"
        for p in people:
            hired = date.fromisoformat(p["入职日期"])
            active = [d for d in days if d >= hired]
            if not active:
                continue
            skill = p["_skill"]
            # Attendance: mostly normal; the weakest few slip.
            for d in active:
                r = rng.random()
                result = "正常"
                if r < 0.02 + 0.05 * (1 - skill):
                    result = "迟到"
                elif r < 0.03 + 0.07 * (1 - skill):
                    result = "早退"
                elif r < 0.035 + 0.08 * (1 - skill) and skill < 0.2:
                    result = "旷工"
                if p["工号"] == "E011" and label == "2026-10" and d.day in (12, 13, 20):
                    result = "旷工"  # three unauthorised absences: the dismissal-review flag
                attendance.append({"考勤号": p["考勤号"], "日期": d.isoformat(), "结果": result,
                                   "迟到分钟": str(rng.randint(3, 40)) if result == "迟到" else ""})
            # Tickets on active days.
            for d in active:
                for _ in range(rng.randint(2, 5)):
                    tid += 1
                    created = datetime(d.year, d.month, d.day, rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59))
                    urgent = rng.random() < 0.12
                    limit = 12 if urgent else 24
                    late = rng.random() < 0.002 + 0.03 * (1 - skill) ** 2
                    hours = rng.uniform(limit + 1, limit * 3) if late else rng.uniform(0.3, limit * 0.8)
                    resolved = created + timedelta(hours=hours)
                    reply = created + timedelta(minutes=rng.uniform(2, 90))
                    tickets.append({"ticket_id": f"T{tid:06d}", "agent_id": p["坐席ID"], "created_at": fmt(created),
                                    "first_reply_at": fmt(reply), "resolved_at": fmt(resolved),
                                    "priority": "urgent" if urgent else "normal",
                                    "channel": rng.choice(["phone", "wechat", "web"]),
                                    "reopens": str(int(rng.random() < 0.04))})
                    if rng.random() < 0.45:
                        rid += 1
                        good = rng.random() < 0.86 + 0.135 * skill
                        ratings.append({"rating_id": f"R{rid:06d}", "agent_id": p["坐席ID"],
                                        "rated_at": fmt(resolved + timedelta(hours=rng.uniform(0.1, 20))),
                                        "result": "满意" if good else "不满意", "ticket_id": f"T{tid:06d}"})
                    if rng.random() < 0.0005 + 0.008 * (1 - skill) ** 2:
                        cid += 1
                        complaints.append({"complaint_id": f"C{cid:05d}", "agent_id": p["坐席ID"],
                                           "filed_at": fmt(resolved + timedelta(hours=rng.uniform(1, 30))),
                                           "valid": "是" if rng.random() < 0.7 else "否", "ticket_id": f"T{tid:06d}"})
            completion = min(100, round(88 + 14 * skill + rng.uniform(-3, 3)))
            compliance = min(100, round(86 + 16 * skill + rng.uniform(-3, 3), 1))
            figures.append({"工号": p["工号"], "周期": label, "任务完成率": f"{completion}%",
                            "流程合规率": f"{compliance}%", "违规次数": str(rng.choice([0, 0, 0, 0, 1, 1, 2, 3]) if skill < 0.3 else rng.choice([0, 0, 0, 1])),
                            "团队协作评分": str(rng.choice([3, 4, 4, 5]) if skill > 0.4 else rng.choice([2, 3, 3, 4]))})

    out.mkdir(parents=True, exist_ok=True)
    _write(out / "roster.csv", [{k: v for k, v in p.items() if not k.startswith("_")} for p in people])
    _write(out / "tickets.csv", tickets)
    _write(out / "ratings.csv", ratings)
    _write(out / "complaints.csv", complaints)
    _write(out / "attendance.csv", attendance)
    _write(out / "department_figures.csv", figures)


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    generate(parser.parse_args().out)

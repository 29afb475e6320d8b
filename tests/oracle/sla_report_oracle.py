#!/usr/bin/env python3
"""Independent recomputation of `supportd report sla --format json`.

Reads the tickets as `supportd tickets list --state all --json` prints them
and recomputes the report's figures apart from the Rust code: local dates
with zoneinfo, working time by sla_oracle.py's naive day walk, the median
as the lower middle and p90 by nearest rank. Standard library only.

Usage: sla_report_oracle.py TICKETS.json REPORT.json FROM TO NOW
  FROM, TO: local dates YYYY-MM-DD (inclusive); NOW: RFC 3339 UTC.
Exit 0 when every figure matches, 1 with the mismatches otherwise.
"""
import datetime as dt
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sla_oracle import UTC, WARSAW, working  # noqa: E402


def instant(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def outcome(t, now):
    deadline = instant(t["deadline"])
    if t["accepted_at"]:
        accepted = instant(t["accepted_at"])
        if accepted <= deadline:
            return "accepted_on_time", 0
        return "accepted_late", working(deadline, accepted)
    if now > deadline:
        return "breached_unaccepted", working(deadline, now)
    return "open_within_deadline", 0


KEYS = ["accepted_on_time", "accepted_late", "breached_unaccepted", "open_within_deadline"]


def empty():
    return dict({"tickets": 0}, **{k: 0 for k in KEYS})


def main():
    tickets_file, report_file, first, last, now = sys.argv[1:6]
    tickets = json.load(open(tickets_file))
    report = json.load(open(report_file))
    first = dt.date.fromisoformat(first)
    last = dt.date.fromisoformat(last)
    now = instant(now)
    overall = empty()
    by_sev = {s: empty() for s in range(1, 6)}
    to_accept = {s: [] for s in range(1, 6)}
    by_customer = {}
    breaches = []
    for t in tickets:
        received = instant(t["received_at"])
        if not first <= received.astimezone(WARSAW).date() <= last:
            continue
        sev = t["severity"]
        customer = t["requester"].rsplit("@", 1)[1].lower()
        what, late = outcome(t, now)
        for c in (overall, by_sev[sev], by_customer.setdefault(customer, empty())):
            c["tickets"] += 1
            c[what] += 1
        if t["accepted_at"]:
            to_accept[sev].append(working(received, instant(t["accepted_at"])))
        if what in ("accepted_late", "breached_unaccepted"):
            breaches.append({
                "ref": t["ref"],
                "severity": sev,
                "customer": customer,
                "deadline": t["deadline"],
                "accepted_at": t["accepted_at"],
                "late_working_seconds": late,
            })
    wrong = []

    def check(what, got, want):
        if got != want:
            wrong.append(f"{what}: report says {got!r}, oracle {want!r}")

    for k in ["tickets"] + KEYS:
        check(k, report[k], overall[k])
    for line in report["by_severity"]:
        s = line["severity"]
        for k in ["tickets"] + KEYS:
            check(f"severity {s} {k}", line[k], by_sev[s][k])
        values = sorted(to_accept[s])
        median = values[(len(values) - 1) // 2] if values else None
        p90 = values[math.ceil(len(values) * 0.9) - 1] if values else None
        check(f"severity {s} median", line["median_working_seconds_to_acceptance"], median)
        check(f"severity {s} p90", line["p90_working_seconds_to_acceptance"], p90)
    got_customers = {c["customer"]: {k: c[k] for k in ["tickets"] + KEYS} for c in report["by_customer"]}
    check("by_customer", got_customers, by_customer)
    key = lambda b: int(b["ref"].rsplit("-", 1)[1])  # noqa: E731
    check("breaches", sorted(report["breaches"], key=key), sorted(breaches, key=key))
    if wrong:
        print("\n".join(wrong[:20]))
        return 1
    print(f"{overall['tickets']} tickets: every figure matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent oracle for `supportd sla deadline|working-time --batch`.

Written apart from the Rust code on purpose: time zones come from Python's
zoneinfo (the host's tz database, read with its POSIX footer rule), Easter
from Oudin's algorithm (1940, as in Python's dateutil) rather than the
Meeus/Butcher one the Rust code uses, and working time by walking local days
naively. Standard library only.

Usage: sla_oracle.py SUPPORTD_BINARY [CASES] [SEED]
Exit 0 when every answer matches, 1 with the first mismatches otherwise.
"""
import datetime as dt
import random
import subprocess
import sys
from zoneinfo import ZoneInfo

WARSAW = ZoneInfo("Europe/Warsaw")
UTC = dt.timezone.utc
TARGET_HOURS = [16, 24, 32, 56, 112]


def easter(y):
    # Oudin's algorithm for the Gregorian Easter Sunday.
    g = y % 19
    c = y // 100
    h = (c - c // 4 - (8 * c + 13) // 25 + 19 * g + 15) % 30
    i = h - (h // 28) * (1 - (h // 28) * (29 // (h + 1)) * ((21 - g) // 11))
    j = (y + y // 4 + i + 2 - c + c // 4) % 7
    p = i - j
    d = 1 + (p + 27 + (p + 6) // 40) % 31
    m = 3 + (p + 26) // 30
    return dt.date(y, m, d)


_holidays = {}


def holidays(y):
    if y not in _holidays:
        e = easter(y)
        s = {dt.date(y, m, d) for m, d in [(1, 1), (5, 1), (5, 3), (8, 15), (11, 1), (11, 11), (12, 25), (12, 26)]}
        s |= {e, e + dt.timedelta(1), e + dt.timedelta(49), e + dt.timedelta(60)}
        if y >= 2011:
            s.add(dt.date(y, 1, 6))
        if y >= 2025:
            s.add(dt.date(y, 12, 24))
        if y == 2018:
            s.add(dt.date(2018, 11, 12))
        _holidays[y] = s
    return _holidays[y]


def window(d):
    if d.weekday() >= 5 or d in holidays(d.year):
        return None
    o = dt.datetime(d.year, d.month, d.day, 9, tzinfo=WARSAW).astimezone(UTC)
    c = dt.datetime(d.year, d.month, d.day, 17, tzinfo=WARSAW).astimezone(UTC)
    return o, c


def deadline(t, hours):
    left = hours * 3600
    d = t.astimezone(WARSAW).date()
    while True:
        w = window(d)
        if w:
            s = max(t, w[0])
            if s < w[1]:
                avail = int((w[1] - s).total_seconds())
                if left <= avail:
                    return s + dt.timedelta(seconds=left)
                left -= avail
        d += dt.timedelta(1)


def working(a, b):
    if b < a:
        return -working(b, a)
    total = 0
    d, last = a.astimezone(WARSAW).date(), b.astimezone(WARSAW).date()
    while d <= last:
        w = window(d)
        if w:
            total += max(0, int((min(b, w[1]) - max(a, w[0])).total_seconds()))
        d += dt.timedelta(1)
    return total


def fmt(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(rnd):
    # 1990-02-15 .. 2199-07-15 (spans reach 40 days back), a third of them on exact hours (the edges).
    t = dt.datetime(1990, 2, 15, tzinfo=UTC) + dt.timedelta(seconds=rnd.randrange(0, 209 * 365 * 86400))
    if rnd.random() < 0.33:
        t = t.replace(minute=0, second=0)
    return t


def run(binary, cmd, lines):
    p = subprocess.run([binary, "sla", cmd, "--batch"], input="".join(lines), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{cmd} --batch exited {p.returncode}: {p.stderr[:500]}")
    return p.stdout.splitlines()


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 2026)
    bad = []
    cases = [(instant(rnd), rnd.randint(1, 5)) for _ in range(n)]
    lines = [f"{fmt(t)},{s}\n" for t, s in cases]
    for (t, s), line, got in zip(cases, lines, run(binary, "deadline", lines)):
        want = fmt(deadline(t, TARGET_HOURS[s - 1]))
        if got != want:
            bad.append(f"deadline {line.strip()}: supportd {got}, oracle {want}")
    spans = []
    for _ in range(n):
        a = instant(rnd)
        spans.append((a, a + dt.timedelta(seconds=rnd.randrange(-40 * 86400, 80 * 86400))))
    lines = [f"{fmt(a)},{fmt(b)}\n" for a, b in spans]
    for (a, b), line, got in zip(spans, lines, run(binary, "working-time", lines)):
        want = str(working(a, b))
        if got != want:
            bad.append(f"working-time {line.strip()}: supportd {got}, oracle {want}")
    print(f"oracle: {2 * n} cases, {len(bad)} mismatches")
    for b in bad[:20]:
        print(b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Times `supportd sla deadline --batch` and `sla working-time --batch` on
# 1,000,000 lines (figure of the SLA issue: under 5 s).
# Usage: benches/sla_batch.sh [LINES]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$n" "$dir" <<'PY'
import sys, datetime as dt, random
n, d = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
base = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
offs = ["Z", "+01:00", "+02:00", "-05:00"]
with open(f"{d}/deadline.csv", "w") as f, open(f"{d}/span.csv", "w") as g:
    for i in range(n):
        t = base + dt.timedelta(seconds=rnd.randrange(0, 10 * 365 * 86400))
        s = t.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        f.write(f"{s},{rnd.randint(1, 5)}\n")
        u = t + dt.timedelta(seconds=rnd.randrange(-30 * 86400, 60 * 86400))
        g.write(f"{s},{u.strftime('%Y-%m-%dT%H:%M:%S')}Z\n")
PY
for cmd in "deadline" "working-time"; do
  input=$dir/deadline.csv; [ "$cmd" = working-time ] && input=$dir/span.csv
  TIMEFORMAT="sla $cmd --batch: $n lines in %R s (wall), %U s user"
  time ./target/release/supportd sla "$cmd" --batch < "$input" > "$dir/out.txt"
  [ "$(wc -l < "$dir/out.txt")" -eq "$n" ] || { echo "output is not aligned with input" >&2; exit 1; }
done

//! Scheduler figures (issue 6). A bench binary, not a test: it prints
//! figures.
//!
//!   cargo bench --bench scheduler
//!
//! A database with 100,000 open tickets made through the store's own write
//! path (90,000 new with their reminders and breach ahead, 10,000 waiting
//! whose follow-up 1 falls due at the same instant, each customer at a
//! domain of their own so that the per-domain rate limit does not apply);
//! then: a scheduler pass with nothing due (median and p99 of 2,000), the
//! pass that queues the 10,000 follow-ups, and the process's RSS after 100
//! and after 10,000 passes; then `report sla` over the 100,000 tickets
//! (the database stays in /tmp/sd-bench-scheduler for `/usr/bin/time -v
//! supportd --db /tmp/sd-bench-scheduler/s.db report sla ...`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use supportd::cli::Runtime;
use supportd::config::Config;
use supportd::lang::Lang;
use supportd::sla::Severity;
use supportd::store::{Change, Store};
use supportd::ticket::timer::{Step, TimerChange};
use supportd::ticket::{Event, Record};
use supportd::ticket::{State, Ticket};

const TICKETS: u64 = 100_000;
const WAITING: u64 = 10_000;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn ticket(n: u64, received: DateTime<Utc>) -> Ticket {
    let requester = format!("customer{n}@c{n}.example");
    Ticket {
        number: n,
        requester: requester.clone(),
        participants: BTreeSet::from([requester]),
        subject: format!("Stock report {n} shows zero"),
        severity: Severity::Minor,
        state: State::New,
        language: if n.is_multiple_of(2) {
            Lang::Pl
        } else {
            Lang::En
        },
        received_at: received,
        deadline_at: received + Duration::days(4),
        accepted_at: None,
        owner: None,
        fields_found: ["subject", "description"].map(String::from).into(),
        spam: false,
        unreachable: false,
        breached: false,
        followups_sent: 0,
        silence_since: None,
        closed_at: None,
        thread_root: None,
    }
}

fn populate(store: &mut Store, due: DateTime<Utc>) {
    let received = due - Duration::days(15);
    let t0 = Instant::now();
    for chunk in (1..=TICKETS).collect::<Vec<_>>().chunks(5_000) {
        store.begin_batch().unwrap();
        for &n in chunk {
            let mut t = ticket(n, received);
            let mut timers = TimerChange::default();
            if n <= WAITING {
                t.state = State::Waiting;
                t.owner = Some("anna@smartstock.cloud".into());
                t.accepted_at = Some(received + Duration::hours(1));
                t.silence_since = Some(due - Duration::days(14));
                timers.set.push((Step::FollowUp(1), due));
            } else {
                // New tickets received later: their timers are ahead.
                t.received_at = due + Duration::hours(1);
                t.deadline_at = due + Duration::days(5);
                timers.set = vec![
                    (Step::Reminder(1), due + Duration::days(2)),
                    (Step::Reminder(2), due + Duration::days(3)),
                    (Step::Breach, t.deadline_at),
                ];
            }
            store
                .commit_change(
                    &Change {
                        ticket: Some((&t, true)),
                        events: &[Record::ours(Event::Opened, None)],
                        at: t.received_at,
                        message: None,
                        mails: &[],
                        timers: &timers,
                    },
                    t.received_at,
                )
                .unwrap();
        }
        store.commit_batch().unwrap();
    }
    eprintln!(
        "created {TICKETS} tickets in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn main() {
    let dir = PathBuf::from("/tmp/sd-bench-scheduler");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config::from_toml(
        "[consultants]\naddresses = [\"anna@smartstock.cloud\", \"piotr@smartstock.cloud\"]\ndigest = false\n",
        &dir.join("config.toml"),
        Path::new(&dir),
    )
    .unwrap();
    let mut store = Store::open(&dir.join("s.db")).unwrap();
    let runtime = Runtime::load(config, &mut store).unwrap();
    let settings = runtime.scheduler();
    // Tuesday 8 Dec 2026, 10:00 Warsaw: a working instant.
    let due = at("2026-12-08T09:00:00Z");
    populate(&mut store, due);

    // Nothing due.
    let before = due - Duration::seconds(1);
    let mut times: Vec<f64> = (0..2_000)
        .map(|_| {
            let t = Instant::now();
            let s = supportd::scheduler::pass(&mut store, &settings, before).unwrap();
            assert_eq!(s.fired, 0);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "pass with nothing due, {TICKETS} open tickets: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1]
    );

    // Memory: 100 passes, then 10,000.
    for _ in 0..100 {
        supportd::scheduler::pass(&mut store, &settings, before).unwrap();
    }
    let rss_100 = rss_kb();
    for _ in 100..10_000 {
        supportd::scheduler::pass(&mut store, &settings, before).unwrap();
    }
    let rss_10k = rss_kb();
    println!(
        "RSS after 100 passes {rss_100} kB, after 10,000 passes {rss_10k} kB (+{} kB)",
        rss_10k as i64 - rss_100 as i64
    );

    // 10,000 follow-ups due at once.
    let t = Instant::now();
    let s = supportd::scheduler::pass(&mut store, &settings, due).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} follow-ups due at once: queued {} mails in {secs:.2} s ({:.0} tickets/s); {s}",
        WAITING,
        s.mails,
        s.fired as f64 / secs
    );
    assert_eq!(s.mails, WAITING);

    // The SLA report over all of them (issue 18): ≤ 1 s.
    let policy = supportd::cli::Policy::from_config(&runtime.config);
    let from = "2026-11-01".parse().unwrap();
    let to = "2026-12-31".parse().unwrap();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let r =
                supportd::cli::report::build(&store, &policy, "SS", from, to, None, due).unwrap();
            let mut json = Vec::new();
            let json_format = supportd::cli::report::Format::Json;
            supportd::cli::report::write(&r, json_format, Lang::En, &mut json).unwrap();
            assert_eq!(r.counts.tickets, TICKETS);
            std::hint::black_box(json);
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "report sla over {TICKETS} tickets (JSON): median {:.3} s, max {:.3} s of 5; RSS now {} kB",
        times[2],
        times[4],
        rss_kb()
    );
}

//! `supportd report sla`: figures computed by hand over Easter and
//! Christmas (a severity change, a breach, a late acceptance, two
//! customers); agreement with an independent recomputation
//! (`tests/oracle/sla_report_oracle.py`) on a generated month; the HTML
//! page rendered by headless Chromium.

use serde_json::Value;

use crate::scheduler::{Desk, sent_to_only};

/// A customer's request with an explicit severity.
fn request(d: &Desk, received: &str, from: &str, subject: &str, severity: u8) {
    d.customer(
        received,
        from,
        subject,
        &format!("Severity: {severity}\nSince this morning {subject} fails for every user."),
    );
}

fn report(d: &Desk, args: &[&str]) -> String {
    let mut all = vec!["report", "sla"];
    all.extend_from_slice(args);
    let r = d.supportd(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
}

/// April 2026 (CEST, UTC+2): Easter Monday 6 April is a holiday.
fn april(d: &Desk) {
    // SS-1, acme, severity 2 (24 h), Wed 1 Apr 09:00: deadline Fri 3 Apr
    // 17:00; accepted Wed 11:00: on time after 2 h (7200 s).
    request(
        d,
        "Wed, 01 Apr 2026 09:00:00 +0200",
        "jan@acme.example",
        "Invoice export",
        2,
    );
    d.run("2026-04-01T07:00:30Z");
    d.consultant(
        "Wed, 01 Apr 2026 11:00:00 +0200",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept",
    );
    d.run("2026-04-01T09:00:30Z");
    // SS-2, beta, severity 3 (32 h), Thu 2 Apr 09:00; changed to severity 1
    // at 10:00: 16 h from receipt is Fri 3 Apr 17:00 (15:00Z). Never
    // accepted: on Thu 9 Apr 12:00 it is late by Tue 8 h + Wed 8 h + Thu
    // 3 h = 19 h (68400 s), Easter Monday not counted.
    request(
        d,
        "Thu, 02 Apr 2026 09:00:00 +0200",
        "ewa@beta.example",
        "Scanner sync",
        3,
    );
    d.run("2026-04-02T07:00:30Z");
    d.consultant(
        "Thu, 02 Apr 2026 10:00:00 +0200",
        "anna@smartstock.cloud",
        "SS-2",
        "#severity 1",
    );
    d.run("2026-04-02T08:00:30Z");
    // SS-3, acme, severity 1 (16 h), Thu 2 Apr 15:00: Thu 2 h, Fri 8 h,
    // (Easter Monday), Tue 6 h: deadline Tue 7 Apr 15:00 (13:00Z); accepted
    // Tue 16:00: 1 h late (3600 s), 17 h to acceptance (61200 s).
    request(
        d,
        "Thu, 02 Apr 2026 15:00:00 +0200",
        "jan@acme.example",
        "Login page",
        1,
    );
    d.run("2026-04-02T13:00:30Z");
    // SS-4, beta, severity 4 (56 h), Tue 7 Apr 09:00: deadline Wed 15 Apr
    // 17:00; not accepted, still within it on Thu 9 Apr.
    request(
        d,
        "Tue, 07 Apr 2026 09:00:00 +0200",
        "ewa@beta.example",
        "Label layout",
        4,
    );
    d.run("2026-04-07T07:00:30Z");
    d.consultant(
        "Tue, 07 Apr 2026 16:00:00 +0200",
        "piotr@smartstock.cloud",
        "SS-3",
        "#accept",
    );
    d.run("2026-04-07T14:00:30Z");
}

#[test]
fn the_report_of_a_month_counts_as_the_contract_does() {
    let d = Desk::new("report-hand");
    april(&d);
    let json = report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--format",
            "json",
            "--now",
            "2026-04-09T10:00:00Z",
        ],
    );
    let r: Value = serde_json::from_str(&json).unwrap();
    let four = |v: &Value| {
        (
            v["tickets"].as_u64().unwrap(),
            v["accepted_on_time"].as_u64().unwrap(),
            v["accepted_late"].as_u64().unwrap(),
            v["breached_unaccepted"].as_u64().unwrap(),
            v["open_within_deadline"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("2026-04-01"), Some("2026-04-30"))
    );
    assert_eq!(four(&r), (4, 1, 1, 1, 1), "{json}");
    let sev = |n: usize| &r["by_severity"][n - 1];
    // Severity 1: SS-2 (after its change) and SS-3.
    assert_eq!(four(sev(1)), (2, 0, 1, 1, 0));
    assert_eq!(sev(1)["median_working_seconds_to_acceptance"], 61200);
    assert_eq!(sev(1)["p90_working_seconds_to_acceptance"], 61200);
    assert_eq!(four(sev(2)), (1, 1, 0, 0, 0));
    assert_eq!(sev(2)["median_working_seconds_to_acceptance"], 7200);
    assert_eq!(four(sev(3)), (0, 0, 0, 0, 0));
    assert_eq!(four(sev(4)), (1, 0, 0, 0, 1));
    type Five = (u64, u64, u64, u64, u64);
    let customers: Vec<(String, Five)> = r["by_customer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["customer"].as_str().unwrap().to_string(), four(c)))
        .collect();
    assert_eq!(
        customers,
        [
            ("acme.example".to_string(), (2, 1, 1, 0, 0)),
            ("beta.example".to_string(), (2, 0, 0, 1, 1))
        ]
    );
    let breaches: Vec<(String, Option<String>, i64)> = r["breaches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["ref"].as_str().unwrap().to_string(),
                b["accepted_at"].as_str().map(str::to_string),
                b["late_working_seconds"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        breaches,
        [
            ("SS-2".to_string(), None, 68400),
            (
                "SS-3".to_string(),
                Some("2026-04-07T14:00:00Z".to_string()),
                3600
            )
        ]
    );
    assert_eq!(r["breaches"][0]["deadline"], "2026-04-03T15:00:00Z");

    // The same in text and CSV, as people read them.
    let text = report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--now",
            "2026-04-09T10:00:00Z",
        ],
    );
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    assert!(text.contains("SS-3       1 acme.example"), "{text}");
    assert!(text.contains("2026-04-07 15:00"), "local deadline: {text}");
    let pl = report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--lang",
            "pl",
            "--now",
            "2026-04-09T10:00:00Z",
        ],
    );
    assert!(
        pl.contains("Przekroczenia") && pl.contains("nieprzyjęte"),
        "{pl}"
    );
    let csv = report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--format",
            "csv",
            "--now",
            "2026-04-09T10:00:00Z",
        ],
    );
    assert!(csv.starts_with("scope,severity,customer,tickets,"), "{csv}");
    assert!(
        csv.contains("\r\nseverity,1,,2,0,1,1,0,0.0000,61200,61200,61200,57600\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\r\nSS-2,1,beta.example,2026-04-03T15:00:00Z,,68400\r\n"),
        "{csv}"
    );

    // One customer: its own figures, no per-customer table.
    let acme = report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--customer",
            "acme.example",
            "--format",
            "json",
            "--now",
            "2026-04-09T10:00:00Z",
        ],
    );
    let a: Value = serde_json::from_str(&acme).unwrap();
    assert_eq!(four(&a), (2, 1, 1, 0, 0));
    assert_eq!(a["by_customer"], serde_json::json!([]));

    // A bad range says so.
    let r = d.supportd(&[
        "report",
        "sla",
        "--from",
        "2026-04-30",
        "--to",
        "2026-04-01",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is after --to"), "{}", r.stderr);
}

#[test]
fn christmas_is_not_working_time() {
    let d = Desk::new("report-christmas");
    // Severity 2 (24 h), Wed 23 Dec 2026 13:00 CET: Wed 4 h; Christmas Eve,
    // Christmas Day, the weekend; Mon 28 8 h, Tue 29 8 h, Wed 30 4 h:
    // deadline Wed 30 Dec 13:00 (12:00Z). Accepted Wed 30 12:00: on time,
    // 23 h (82800 s) after receipt.
    request(
        &d,
        "Wed, 23 Dec 2026 13:00:00 +0100",
        "zofia@gamma.example",
        "Stock sync",
        2,
    );
    d.run("2026-12-23T12:00:30Z");
    d.consultant(
        "Wed, 30 Dec 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept",
    );
    d.run("2026-12-30T11:00:30Z");
    let json = report(
        &d,
        &[
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-31",
            "--customer",
            "gamma.example",
            "--format",
            "json",
            "--now",
            "2027-01-04T10:00:00Z",
        ],
    );
    let r: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["accepted_on_time"], 1, "{json}");
    assert_eq!(
        r["by_severity"][1]["median_working_seconds_to_acceptance"],
        82800
    );
    assert_eq!(d.ticket("SS-1")["deadline"], "2026-12-30T12:00:00Z");
    assert_eq!(r["breaches"], serde_json::json!([]));
}

/// The mails of a template queued since the last look.
fn new_of(d: &Desk, template: &str) -> Vec<crate::scheduler::Out> {
    d.new_mails()
        .into_iter()
        .filter(|m| m.template == template)
        .collect()
}

/// A small seeded generator (SplitMix64), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn the_report_agrees_with_an_independent_recomputation() {
    let seed = std::env::var("SUPPORTD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    eprintln!("report oracle: seed {seed} (replay with SUPPORTD_TEST_SEED={seed})");
    let mut rng = Rng(seed);
    let d = Desk::new("report-oracle");
    let domains = [
        "acme.example",
        "beta.example",
        "gamma.example",
        "delta.example",
    ];
    // 60 requests over November 2026 and its edges, any hour of any day.
    let start = chrono::DateTime::parse_from_rfc3339("2026-10-30T00:00:00+00:00").unwrap();
    let mut received = Vec::new();
    for i in 0..60 {
        let at = start + chrono::Duration::minutes(rng.below(34 * 24 * 60) as i64);
        received.push(at);
        request(
            &d,
            &at.to_rfc2822(),
            &format!("c{i}@{}", domains[rng.below(4) as usize]),
            &format!("Problem {i}"),
            rng.below(5) as u8 + 1,
        );
    }
    d.run("2026-12-03T08:00:00Z");
    let list = |d: &Desk| -> Value {
        let r = d.supportd(&["tickets", "list", "--state", "all", "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    // Two in three are accepted, at any time up to five days after receipt.
    for t in list(&d).as_array().unwrap() {
        if rng.below(3) == 0 {
            continue;
        }
        let at = chrono::DateTime::parse_from_rfc3339(t["received_at"].as_str().unwrap()).unwrap()
            + chrono::Duration::minutes(rng.below(5 * 24 * 60) as i64 + 1);
        d.consultant(
            &at.to_rfc2822(),
            "anna@smartstock.cloud",
            t["ref"].as_str().unwrap(),
            "#accept",
        );
    }
    d.run("2026-12-08T08:00:00Z");
    let dir = &d.dir.0;
    let tickets = dir.join("tickets.json");
    std::fs::write(&tickets, list(&d).to_string()).unwrap();
    let out = dir.join("report.json");
    let now = "2026-12-02T12:00:00Z";
    report(
        &d,
        &[
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
            "--format",
            "json",
            "--now",
            now,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracle/sla_report_oracle.py"
    );
    let o = std::process::Command::new("python3")
        .args([
            script,
            tickets.to_str().unwrap(),
            out.to_str().unwrap(),
            "2026-11-01",
            "2026-11-30",
            now,
        ])
        .output()
        .expect("python3 runs (scripts/dev-setup installs it)");
    assert!(
        o.status.success(),
        "seed {seed}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        r["tickets"].as_u64().unwrap() > 40,
        "most of the 60 fall in November"
    );
    assert!(
        r["accepted_late"].as_u64().unwrap() > 0 && r["accepted_on_time"].as_u64().unwrap() > 0
    );
}

/// The HTML page opened in headless Chromium: it renders (a screenshot
/// far from blank, the charts in the DOM) and prints (a PDF).
#[test]
fn the_html_report_renders_and_prints_in_headless_chromium() {
    let d = Desk::new("report-html");
    april(&d);
    let dir = &d.dir.0;
    let page = dir.join("report.html");
    report(
        &d,
        &[
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--format",
            "html",
            "--lang",
            "pl",
            "--now",
            "2026-04-09T10:00:00Z",
            "--out",
            page.to_str().unwrap(),
        ],
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let chromium = |args: &[&str]| {
        let o = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(args)
            .output()
            .expect("chromium runs (scripts/dev-setup installs it)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let shot = |file: &std::path::Path, png: &std::path::Path| {
        chromium(&[
            "--window-size=1000,1400",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", file.display()),
        ]);
        std::fs::read(png).unwrap()
    };
    let page_png = shot(&page, &dir.join("report.png"));
    let blank_png = shot(&blank, &dir.join("blank.png"));
    assert!(page_png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        page_png.len() > 5 * blank_png.len(),
        "the page draws far more than a blank one: {} vs {} bytes",
        page_png.len(),
        blank_png.len()
    );
    let dom = chromium(&["--dump-dom", &format!("file://{}", page.display())]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), 2, "two charts");
    assert!(
        dom.contains("Raport dotrzymania czasu reakcji"),
        "in Polish"
    );
    assert!(dom.contains("class=\"bar\""));
    let pdf = dir.join("report.pdf");
    chromium(&[
        &format!("--print-to-pdf={}", pdf.display()),
        "--no-pdf-header-footer",
        &format!("file://{}", page.display()),
    ]);
    assert!(
        std::fs::read(&pdf).unwrap().starts_with(b"%PDF"),
        "printable"
    );
}

/// The consultants' morning digest on Monday 7 Dec 2026 (CET), the
/// figures by hand in the comments.
#[test]
fn the_morning_digest_lists_what_is_on_the_desk() {
    let d = Desk::with_config("digest", "digest = true\n");
    // SS-1, severity 1, Wed 2 Dec 10:00: Wed 7 h, Thu 8 h, Fri 1 h: deadline
    // Fri 4 Dec 10:00; on Monday at opening 7 h past it (Fri 10-17).
    request(
        &d,
        "Wed, 02 Dec 2026 10:00:00 +0100",
        "ewa@beta.example",
        "Scanner sync",
        1,
    );
    d.run("2026-12-02T09:00:30Z");
    // SS-2, severity 1, Thu 3 Dec 10:00: Thu 7 h, Fri 8 h, Mon 1 h: deadline
    // Mon 7 Dec 10:00; at Monday's opening 1 h left, past the first
    // reminder (8 h, Fri 11:00): at risk.
    request(
        &d,
        "Thu, 03 Dec 2026 10:00:00 +0100",
        "jan@acme.example",
        "Login page",
        1,
    );
    // SS-3 accepted by Anna; SS-4 waiting on its customer since Thu 12:00:
    // the first follow-up 14 days later, Thu 17 Dec 12:00.
    request(
        &d,
        "Thu, 03 Dec 2026 10:05:00 +0100",
        "zofia@gamma.example",
        "Label layout",
        3,
    );
    request(
        &d,
        "Thu, 03 Dec 2026 10:10:00 +0100",
        "piotr@delta.example",
        "Stock sync",
        3,
    );
    d.run("2026-12-03T09:10:30Z");
    d.consultant(
        "Thu, 03 Dec 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-3",
        "#accept",
    );
    d.consultant(
        "Thu, 03 Dec 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-4",
        "#waiting\nPlease send the export log.",
    );
    d.run("2026-12-03T11:00:30Z");
    let _ = d.new_mails();
    // Saturday: nothing.
    d.run("2026-12-05T09:00:00Z");
    assert!(new_of(&d, "digest").is_empty());
    // Monday before opening: nothing; at opening: one per consultant.
    d.run("2026-12-07T07:59:00Z");
    assert!(new_of(&d, "digest").is_empty());
    d.run("2026-12-07T08:00:00Z");
    let digests = new_of(&d, "digest");
    assert_eq!(digests.len(), 2, "{digests:?}");
    let anna = sent_to_only(&digests, "anna@smartstock.cloud").unwrap();
    let piotr = sent_to_only(&digests, "piotr@smartstock.cloud").unwrap();
    let text = &anna.text;
    let breached = text.find("SS-1 [1] Scanner sync").expect(text);
    let at_risk = text.find("SS-2 [1] Login page").expect(text);
    assert!(breached < at_risk, "by deadline: {text}");
    assert!(text.contains("BREACHED 7 h 00 min ago"), "{text}");
    assert!(text.contains("AT RISK, 1 h 00 min left"), "{text}");
    assert!(
        text.replace("\r\n", "\n")
            .contains("Yours, open:\n- SS-3 [3] Label layout"),
        "{text}"
    );
    assert!(
        text.contains("SS-4 Stock sync (piotr@delta.example): first follow-up Thu 17 Dec 2026, 12:00 Warsaw time"),
        "{text}"
    );
    assert!(!piotr.text.contains("Yours, open"), "{}", piotr.text);
    // Once a day.
    d.run("2026-12-07T10:00:00Z");
    assert!(new_of(&d, "digest").is_empty());
    let raw = std::fs::read_dir(d.dir.0.join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|t| t.contains("Subject: Desk on Mon 7 Dec 2026"))
        .expect("the digest's file");
    assert!(
        raw.contains("Subject: Desk on Mon 7 Dec 2026: 2 to accept, 1 past the deadline"),
        "{raw}"
    );
}

/// The monthly reports go out once, at the first working day's opening,
/// across a restart and a two-day outage; each customer gets its own.
#[test]
fn monthly_reports_go_once_with_the_page_attached() {
    let d = Desk::with_config(
        "monthly",
        "[reports]\nmonthly-to = [\"boss@smartstock.cloud\"]\n\
         [[reports.customer]]\ndomain = \"acme.example\"\nto = [\"it@acme.example\"]\nlanguage = \"pl\"\n",
    );
    request(
        &d,
        "Mon, 02 Nov 2026 10:00:00 +0100",
        "jan@acme.example",
        "Invoice export",
        2,
    );
    request(
        &d,
        "Mon, 02 Nov 2026 11:00:00 +0100",
        "ewa@beta.example",
        "Scanner sync",
        3,
    );
    d.run("2026-11-02T10:00:30Z");
    d.consultant(
        "Mon, 02 Nov 2026 12:00:00 +0100",
        "anna@smartstock.cloud",
        "SS-1",
        "#accept",
    );
    d.run("2026-11-02T11:00:30Z");
    let _ = d.new_mails();
    // Tuesday 1 Dec opens at 09:00 (08:00Z): down until Thursday 3 Dec.
    d.run("2026-12-01T07:59:00Z");
    assert!(new_of(&d, "sla-report").is_empty());
    d.run("2026-12-03T09:00:00Z");
    let reports = new_of(&d, "sla-report");
    assert_eq!(reports.len(), 2, "{reports:?}");
    let boss = sent_to_only(&reports, "boss@smartstock.cloud").unwrap();
    assert!(
        boss.text.contains("acme.example") && boss.text.contains("beta.example"),
        "{}",
        boss.text
    );
    let acme = sent_to_only(&reports, "it@acme.example").unwrap();
    assert!(acme.text.contains("Raport"), "in Polish: {}", acme.text);
    assert!(
        !acme.text.contains("beta.example"),
        "only its own tickets: {}",
        acme.text
    );
    // A restart and later passes send nothing again.
    d.run("2026-12-03T09:05:00Z");
    d.run("2026-12-04T09:00:00Z");
    assert!(new_of(&d, "sla-report").is_empty());
    // The page goes along as an HTML attachment.
    let file = std::fs::read_dir(d.dir.0.join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .find(|raw| String::from_utf8_lossy(raw).contains("sla-2026-11-acme.example.html"))
        .expect("the customer's report file");
    let m = mail_parser::MessageParser::default().parse(&file).unwrap();
    let page = m.attachment(0).expect("the page");
    assert!(String::from_utf8_lossy(page.contents()).contains("<svg"));
}

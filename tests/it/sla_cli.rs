//! `supportd sla …` and `check-config`, as a user runs them.

use crate::util::{TempDir, run, run_env};

#[test]
fn deadline_prints_rfc3339_utc() {
    let r = run(
        &[
            "sla",
            "deadline",
            "--severity",
            "1",
            "--received",
            "2026-04-03T16:30:00+02:00",
        ],
        "",
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "2026-04-08T14:30:00Z\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_shows_local_deadline_and_intervals() {
    let r = run(
        &[
            "sla",
            "deadline",
            "--severity",
            "1",
            "--received",
            "2026-04-03T16:30:00+02:00",
            "--explain",
        ],
        "",
    );
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "2026-04-08T14:30:00Z");
    assert!(
        r.stdout
            .contains("deadline: Wed 8 Apr 2026, 16:30 Warsaw time"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Mon 6 Apr 2026  closed: Easter Monday"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Tue 7 Apr 2026  09:00:00–17:00:00  8 h 00 min  (total 8 h 30 min)"),
        "{}",
        r.stdout
    );
    let pl = run(
        &[
            "sla",
            "deadline",
            "--severity",
            "1",
            "--received",
            "2026-04-03T16:30:00+02:00",
            "--explain",
            "--lang",
            "pl",
        ],
        "",
    );
    assert!(
        pl.stdout
            .contains("termin: śr., 8 kwietnia 2026 r., godz. 16:30 czasu warszawskiego"),
        "{}",
        pl.stdout
    );
}

#[test]
fn bad_values_name_themselves_and_fail() {
    let table: &[(&[&str], &str)] = &[
        (
            &[
                "sla",
                "deadline",
                "--severity",
                "0",
                "--received",
                "2026-04-03T16:30:00Z",
            ],
            "\"0\"",
        ),
        (
            &[
                "sla",
                "deadline",
                "--severity",
                "6",
                "--received",
                "2026-04-03T16:30:00Z",
            ],
            "\"6\"",
        ),
        (
            &[
                "sla",
                "deadline",
                "--severity",
                "1",
                "--received",
                "2026-04-03 noon",
            ],
            "2026-04-03 noon",
        ),
        (
            &[
                "sla",
                "working-time",
                "--from",
                "x",
                "--to",
                "2026-04-03T16:30:00Z",
            ],
            "\"x\"",
        ),
        (&["sla", "holidays", "--year", "1989"], "1989"),
        (
            &[
                "sla",
                "deadline",
                "--severity",
                "1",
                "--received",
                "2300-01-01T00:00:00Z",
            ],
            "2300-01-01",
        ),
    ];
    for (args, needle) in table {
        let r = run(args, "");
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}

#[test]
fn working_time_is_signed() {
    let r = run(
        &[
            "sla",
            "working-time",
            "--from",
            "2026-11-24T17:00:00+01:00",
            "--to",
            "2026-11-23T09:00:00+01:00",
        ],
        "",
    );
    assert_eq!(r.stdout, "-57600\n");
}

#[test]
fn batch_keeps_going_and_exits_1_on_bad_lines() {
    let input = "2026-11-20T16:30:00+01:00,1\nnot-a-time,1\n2026-11-20T16:30:00+01:00\n2026-11-23T09:00:00+01:00,3\n";
    let r = run(&["sla", "deadline", "--batch"], input);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "2026-11-24T15:30:00Z\n\n\n2026-11-26T16:00:00Z\n");
    let errs: Vec<&str> = r.stderr.lines().collect();
    assert!(
        errs[0].starts_with("line 2: ") && errs[0].contains("not-a-time"),
        "{}",
        r.stderr
    );
    assert!(errs[1].starts_with("line 3: "), "{}", r.stderr);

    let ok = run(
        &["sla", "working-time", "--batch"],
        "2026-11-24T09:00:00+01:00,2026-11-24T10:00:00+01:00\n",
    );
    assert_eq!(
        (ok.code, ok.stdout.as_str(), ok.stderr.as_str()),
        (0, "3600\n", "")
    );
}

#[test]
fn config_calendar_is_used_and_listed() {
    let dir = TempDir::new("sla-config");
    let cfg = dir.write(
        "config.toml",
        "[calendar]\nclosed-days = [\"2026-11-23\"]\nspecial-hours = { \"2026-11-24\" = \"09:00-13:00\" }\n",
    );
    let cfg = cfg.to_str().unwrap();
    // Friday 16:30 + 16 h: 0.5 h Fri, Mon closed, 4 h Tue, 8 h Wed, 3.5 h Thu.
    let r = run(
        &[
            "--config",
            cfg,
            "sla",
            "deadline",
            "--severity",
            "1",
            "--received",
            "2026-11-20T16:30:00+01:00",
        ],
        "",
    );
    assert_eq!(r.stdout, "2026-11-26T11:30:00Z\n", "{}", r.stderr);
    let h = run(&["--config", cfg, "sla", "holidays", "--year", "2026"], "");
    assert!(
        h.stdout.contains("2026-11-23\tclosed day (config)\n"),
        "{}",
        h.stdout
    );
    assert!(
        h.stdout
            .contains("2026-11-24\tspecial hours (config) 09:00-13:00\n"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("2026-11-11\tIndependence Day\n"));
    // Without the config: statutory days only.
    let plain = run(&["sla", "holidays", "--year", "2026"], "");
    assert_eq!(plain.stdout.lines().count(), 14);
    assert!(!plain.stdout.contains("config"));
    // SUPPORTD_CONFIG is the same as --config.
    let env = run_env(
        &[
            "sla",
            "deadline",
            "--severity",
            "1",
            "--received",
            "2026-11-20T16:30:00+01:00",
        ],
        "",
        &[("SUPPORTD_CONFIG", std::path::Path::new(cfg))],
    );
    assert_eq!(env.stdout, r.stdout);
}

#[test]
fn broken_configs_name_file_line_and_column() {
    let dir = TempDir::new("sla-bad-config");
    let table: &[(&str, &str)] = &[
        (
            "[calendar]\nhours = \"18:00-09:00\"\n",
            "config.toml:2:9: calendar.hours",
        ),
        ("[calendar]\nhours = 9\n", "config.toml:2:9: invalid type"),
        (
            "[sla]\ntarget-hours = [16, 24, 32, 56]\n",
            "config.toml:2:16: sla.target-hours",
        ),
        ("[calendr]\n", "config.toml:1:2: unknown field `calendr`"),
    ];
    for (text, needle) in table {
        let cfg = dir.write("config.toml", text);
        let r = run(
            &[
                "--config",
                cfg.to_str().unwrap(),
                "sla",
                "deadline",
                "--batch",
            ],
            "",
        );
        assert_eq!(r.code, 78, "{text:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{text:?}: {}", r.stderr);
        let c = run(&["--config", cfg.to_str().unwrap(), "check-config"], "");
        assert_eq!(c.code, 78);
        assert!(c.stderr.contains(needle), "{text:?}: {}", c.stderr);
    }
    let missing = run(
        &[
            "--config",
            "/nonexistent/supportd.toml",
            "sla",
            "holidays",
            "--year",
            "2026",
        ],
        "",
    );
    assert_eq!(missing.code, 78);
    assert!(
        missing
            .stderr
            .contains("cannot read config file /nonexistent/supportd.toml"),
        "{}",
        missing.stderr
    );
}

#[test]
fn example_config_alone_in_an_empty_folder_passes_check_config() {
    let dir = TempDir::new("example-config");
    let cfg = dir.write("config.toml", include_str!("../../config.example.toml"));
    let r = run(&["--config", cfg.to_str().unwrap(), "check-config"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.ends_with(": ok\n"), "{}", r.stdout);
}

#[test]
fn help_teaches() {
    let r = run(&["sla", "deadline", "--help"], "");
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("--batch") && r.stdout.contains("supportd sla deadline --severity 1"),
        "{}",
        r.stdout
    );
}

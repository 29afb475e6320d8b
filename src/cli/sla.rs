//! `supportd sla …`: deadlines, working time and holidays from the command
//! line, one at a time or in batches of millions.
//!
//! Batch contract (design.md): one output line per input line, so output stays
//! aligned with input; a bad line prints an empty line, its message goes to
//! the error writer with its line number, the good lines still print, and the
//! caller exits 1.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, Datelike, Utc};

use super::Policy;
use crate::lang::Lang;
use crate::sla::holidays::{self, FIRST_YEAR, LAST_YEAR};
use crate::sla::{self as core, Severity};

/// Outcome of a batch: how many lines were read and how many were bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Lines read.
    pub lines: u64,
    /// Lines that printed an empty line and an error.
    pub bad: u64,
}

/// Prints the deadline of one request; with `explain`, also the local-time
/// deadline and the working intervals counted.
pub fn deadline(
    policy: &Policy,
    severity: Severity,
    received_at: DateTime<Utc>,
    explain: Option<Lang>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let cal = &policy.calendar;
    match explain {
        None => {
            let d = policy.sla.deadline(cal, received_at, severity)?;
            writeln!(out, "{}", core::format_utc(d))?;
        }
        Some(lang) => {
            let e = policy.sla.explain(cal, received_at, severity)?;
            writeln!(out, "{}", core::format_utc(e.deadline))?;
            write!(out, "{}", e.render(cal, lang))?;
        }
    }
    Ok(())
}

/// Prints the working seconds between two instants (negative when `to` is
/// before `from`).
pub fn working_time(
    policy: &Policy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    writeln!(out, "{}", policy.calendar.working_seconds(from, to)?)?;
    Ok(())
}

/// `received,severity` lines in, one deadline per line out.
pub fn deadline_batch(
    policy: &Policy,
    input: impl BufRead,
    out: impl Write,
    err: impl Write,
) -> io::Result<BatchOutcome> {
    batch(input, out, err, "received,severity", |a, b, buf| {
        let received = core::parse_instant(a)?;
        let severity: Severity = b.parse()?;
        let d = policy
            .sla
            .deadline(&policy.calendar, received, severity)
            .map_err(|e| e.to_string())?;
        core::write_utc(buf, d);
        Ok(())
    })
}

/// `from,to` lines in, one count of working seconds per line out.
pub fn working_time_batch(
    policy: &Policy,
    input: impl BufRead,
    out: impl Write,
    err: impl Write,
) -> io::Result<BatchOutcome> {
    batch(input, out, err, "from,to", |a, b, buf| {
        let from = core::parse_instant(a)?;
        let to = core::parse_instant(b)?;
        let secs = policy
            .calendar
            .working_seconds(from, to)
            .map_err(|e| e.to_string())?;
        use std::fmt::Write as _;
        let _ = write!(buf, "{secs}");
        Ok(())
    })
}

/// The shared batch loop: splits each line into two comma-separated fields,
/// lets `each` append the answer, keeps output aligned on bad lines.
fn batch(
    mut input: impl BufRead,
    out: impl Write,
    err: impl Write,
    shape: &str,
    mut each: impl FnMut(&str, &str, &mut String) -> Result<(), String>,
) -> io::Result<BatchOutcome> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut err = io::BufWriter::new(err);
    let mut line = String::new();
    let mut answer = String::with_capacity(32);
    let mut outcome = BatchOutcome::default();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        outcome.lines += 1;
        answer.clear();
        let text = line.trim_end_matches(['\n', '\r']);
        let result = match text.split_once(',') {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() && !b.contains(',') => {
                each(a, b, &mut answer)
            }
            _ => Err(format!(
                "{text:?} does not have the two fields {shape}; write e.g. {}",
                if shape.starts_with("received") {
                    "2026-11-24T15:00:00+01:00,3"
                } else {
                    "2026-11-24T15:00:00+01:00,2026-11-25T10:00:00+01:00"
                }
            )),
        };
        match result {
            Ok(()) => {
                answer.push('\n');
                out.write_all(answer.as_bytes())?;
            }
            Err(message) => {
                outcome.bad += 1;
                out.write_all(b"\n")?;
                writeln!(err, "line {}: {message}", outcome.lines)?;
            }
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(outcome)
}

/// Prints `YYYY-MM-DD<TAB>name` for each statutory holiday of `year`; with a
/// config, also its closed days and special hours in that year, marked so.
pub fn holidays(
    policy: &Policy,
    year: i32,
    lang: Lang,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        anyhow::bail!("year {year} is outside the supported years {FIRST_YEAR}-{LAST_YEAR}");
    }
    let mut lines: Vec<(chrono::NaiveDate, String)> = holidays::holidays_in_year(year)
        .into_iter()
        .map(|h| (h.date, h.name(lang).to_string()))
        .collect();
    if policy.from_config {
        let spec = policy.calendar.spec();
        let (closed, special) = match lang {
            Lang::En => ("closed day (config)", "special hours (config)"),
            Lang::Pl => (
                "dzień wolny (konfiguracja)",
                "godziny szczególne (konfiguracja)",
            ),
        };
        lines.extend(
            spec.closed_days
                .iter()
                .filter(|d| d.year() == year)
                .map(|d| (*d, closed.to_string())),
        );
        lines.extend(
            spec.special_hours
                .iter()
                .filter(|(d, _)| d.year() == year)
                .map(|(d, h)| (*d, format!("{special} {h}"))),
        );
    }
    lines.sort_by_key(|(d, _)| *d);
    for (date, name) in lines {
        writeln!(out, "{}\t{name}", date.format("%Y-%m-%d"))?;
    }
    Ok(())
}

/// Working time and SLA deadlines (contract clause 5).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the acceptance deadline of a request, RFC 3339 UTC.
    ///
    /// The response time counts only working time from the received instant:
    /// severity 1: 16 h, 2: 24 h, 3: 4 days, 4: 7 days, 5: 14 days (working
    /// days of 8 h). Example:
    ///   supportd sla deadline --severity 1 --received 2026-11-20T16:30:00+01:00 --explain
    #[command(verbatim_doc_comment)]
    Deadline {
        /// Severity 1 (product down) to 5 (suggestion).
        #[arg(long, value_name = "1-5", required_unless_present = "batch")]
        severity: Option<Severity>,
        /// When our mail server received the request (RFC 3339, any offset).
        #[arg(long, value_name = "RFC3339", value_parser = core::parse_instant, required_unless_present = "batch")]
        received: Option<DateTime<Utc>>,
        /// Also print the local deadline and each working interval counted.
        #[arg(long, conflicts_with = "batch")]
        explain: bool,
        /// Language of the explanation: en or pl.
        #[arg(long, value_name = "LANG", default_value = "en")]
        lang: Lang,
        /// Read `received,severity` lines on stdin; print one deadline per line
        /// (an empty line for a bad one, with its message on stderr).
        #[arg(long, conflicts_with_all = ["severity", "received"])]
        batch: bool,
    },
    /// Print the working seconds between two instants (negative when --to is
    /// before --from).
    WorkingTime {
        /// Start of the span (RFC 3339).
        #[arg(long, value_name = "RFC3339", value_parser = core::parse_instant, required_unless_present = "batch")]
        from: Option<DateTime<Utc>>,
        /// End of the span (RFC 3339).
        #[arg(long, value_name = "RFC3339", value_parser = core::parse_instant, required_unless_present = "batch")]
        to: Option<DateTime<Utc>>,
        /// Read `from,to` lines on stdin; print one count per line.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        batch: bool,
    },
    /// Print the Polish public holidays of a year as `YYYY-MM-DD<TAB>name`;
    /// with a config, also its closed days and special hours, marked so.
    Holidays {
        /// The year, 1990-2200.
        #[arg(long)]
        year: i32,
        /// Language of the names: en or pl.
        #[arg(long, value_name = "LANG", default_value = "en")]
        lang: Lang,
    },
}

/// Runs an `sla` command on the config's policy (or the contract's).
pub fn run(g: &super::Global, cmd: &Command) -> super::Outcome {
    let policy = g.policy()?;
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let batch = |o: BatchOutcome| super::exit(o.bad == 0);
    match cmd {
        Command::Deadline { batch: true, .. } => Ok(batch(deadline_batch(
            &policy,
            stdin.lock(),
            stdout.lock(),
            stderr.lock(),
        )?)),
        Command::Deadline {
            severity: Some(severity),
            received: Some(received),
            explain,
            lang,
            ..
        } => {
            deadline(
                &policy,
                *severity,
                *received,
                explain.then_some(*lang),
                &mut stdout.lock(),
            )?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::WorkingTime { batch: true, .. } => Ok(batch(working_time_batch(
            &policy,
            stdin.lock(),
            stdout.lock(),
            stderr.lock(),
        )?)),
        Command::WorkingTime {
            from: Some(from),
            to: Some(to),
            ..
        } => {
            working_time(&policy, *from, *to, &mut stdout.lock())?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Holidays { year, lang } => {
            holidays(&policy, *year, *lang, &mut stdout.lock())?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        // clap's required_unless_present rules make these unreachable.
        Command::Deadline { .. } | Command::WorkingTime { .. } => {
            Err(anyhow::anyhow!("missing arguments; see supportd sla --help").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type BatchFn = fn(&Policy, &[u8], &mut Vec<u8>, &mut Vec<u8>) -> io::Result<BatchOutcome>;

    fn run_batch(f: BatchFn, input: &str) -> (String, String, BatchOutcome) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = f(&Policy::contract(), input.as_bytes(), &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            outcome,
        )
    }

    #[test]
    fn deadline_batch_keeps_lines_aligned() {
        let input = "2026-11-20T16:30:00+01:00,1\n\
                     2026-11-20T16:30:00+01:00\n\
                     2026-13-20T16:30:00+01:00,1\n\
                     2026-11-20T16:30:00+01:00,6\r\n\
                     \n\
                     2026-11-23T09:00:00+01:00,3\r\n";
        let (out, err, outcome) = run_batch(|p, i, o, e| deadline_batch(p, i, o, e), input);
        assert_eq!(out, "2026-11-24T15:30:00Z\n\n\n\n\n2026-11-26T16:00:00Z\n");
        assert_eq!(outcome, BatchOutcome { lines: 6, bad: 4 });
        let errs: Vec<&str> = err.lines().collect();
        assert_eq!(errs.len(), 4, "{err}");
        assert!(
            errs[0].starts_with("line 2: ") && errs[0].contains("received,severity"),
            "{err}"
        );
        assert!(
            errs[1].starts_with("line 3: ") && errs[1].contains("2026-13-20"),
            "{err}"
        );
        assert!(
            errs[2].starts_with("line 4: ") && errs[2].contains("\"6\""),
            "{err}"
        );
        assert!(errs[3].starts_with("line 5: "), "{err}");
    }

    #[test]
    fn working_time_batch_signs_and_errors() {
        let input = "2026-11-24T09:00:00+01:00,2026-11-24T17:00:00+01:00\n\
                     2026-11-24T17:00:00+01:00,2026-11-24T09:00:00+01:00\n\
                     2026-11-24T09:00:00+01:00,1800-01-01T00:00:00Z\n";
        let (out, err, outcome) = run_batch(|p, i, o, e| working_time_batch(p, i, o, e), input);
        assert_eq!(out, "28800\n-28800\n\n");
        assert_eq!(outcome.bad, 1);
        assert!(err.starts_with("line 3: ") && err.contains("1990"), "{err}");
    }

    #[test]
    fn explain_prints_the_deadline_first() {
        let mut out = Vec::new();
        let received = core::parse_instant("2026-11-20T16:30:00+01:00").unwrap();
        deadline(
            &Policy::contract(),
            Severity::Critical,
            received,
            Some(Lang::En),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("2026-11-24T15:30:00Z"));
        assert!(
            text.contains("deadline: Tue 24 Nov 2026, 16:30 Warsaw time"),
            "{text}"
        );
        assert!(text.contains("Sat 21 Nov 2026  closed: weekend"), "{text}");
    }

    #[test]
    fn holidays_list_in_both_languages() {
        let mut out = Vec::new();
        holidays(&Policy::contract(), 2025, Lang::En, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 14);
        assert!(text.contains("2025-12-24\tChristmas Eve\n"), "{text}");
        let mut out = Vec::new();
        holidays(&Policy::contract(), 2025, Lang::Pl, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("2025-06-19\tdzień Bożego Ciała\n")
        );
        assert!(holidays(&Policy::contract(), 1989, Lang::En, &mut Vec::new()).is_err());
    }
}

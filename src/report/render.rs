//! The report as people read it: text that fits a terminal, CSV for a
//! spreadsheet, and one self-contained, printable HTML page with two inline
//! SVG charts (on-time share per severity; median and p90 working time to
//! acceptance against the target), in English or Polish. Pure.

use std::fmt::Write as _;

use super::{Counts, Report};
use crate::lang::Lang;
use crate::mail::clean::one_line;

/// Words of the report, by language.
struct Words {
    title: &'static str,
    customer: &'static str,
    all_customers: &'static str,
    as_of: &'static str,
    severity: &'static str,
    tickets: &'static str,
    on_time: &'static str,
    late: &'static str,
    breached: &'static str,
    within: &'static str,
    share: &'static str,
    median: &'static str,
    p90: &'static str,
    max: &'static str,
    target: &'static str,
    by_customer: &'static str,
    breaches: &'static str,
    no_breaches: &'static str,
    deadline: &'static str,
    accepted: &'static str,
    not_accepted: &'static str,
    late_by: &'static str,
    overall: &'static str,
    chart_share: &'static str,
    chart_time: &'static str,
    note: &'static str,
    /// Column heads of the text table.
    columns: [&'static str; 10],
    /// The total line.
    total: &'static str,
}

const EN: Words = Words {
    title: "SLA compliance report",
    customer: "Customer",
    all_customers: "all customers",
    as_of: "open tickets judged as of",
    severity: "Severity",
    tickets: "Tickets",
    on_time: "Accepted on time",
    late: "Accepted late",
    breached: "Breached, not accepted",
    within: "Within deadline",
    share: "On-time share",
    median: "Median to acceptance",
    p90: "p90",
    max: "Max",
    target: "Target",
    by_customer: "By customer",
    breaches: "Breaches",
    no_breaches: "No breaches.",
    deadline: "Deadline",
    accepted: "Accepted",
    not_accepted: "not accepted",
    late_by: "Late by (working time)",
    overall: "All severities",
    chart_share: "On-time share per severity",
    chart_time: "Working time to acceptance against the target (median, p90)",
    columns: [
        "sev", "n", "on time", "late", "breached", "within", "share", "median", "p90", "target",
    ],
    total: "all",
    note: "Times are working time (Mon-Fri 09:00-17:00 Warsaw time, except Polish public holidays). On time: accepted by the deadline in force; the share counts tickets accepted or past their deadline.",
};

const PL: Words = Words {
    title: "Raport dotrzymania czasu reakcji (SLA)",
    customer: "Klient",
    all_customers: "wszyscy klienci",
    as_of: "otwarte zgłoszenia ocenione na",
    severity: "Priorytet",
    tickets: "Zgłoszenia",
    on_time: "Przyjęte w terminie",
    late: "Przyjęte po terminie",
    breached: "Po terminie, nieprzyjęte",
    within: "W terminie, nieprzyjęte",
    share: "Odsetek w terminie",
    median: "Mediana do przyjęcia",
    p90: "p90",
    max: "Maks.",
    target: "Cel",
    by_customer: "Według klientów",
    breaches: "Przekroczenia",
    no_breaches: "Brak przekroczeń.",
    deadline: "Termin",
    accepted: "Przyjęte",
    not_accepted: "nieprzyjęte",
    late_by: "Opóźnienie (czas pracy)",
    overall: "Wszystkie priorytety",
    chart_share: "Odsetek przyjętych w terminie według priorytetu",
    chart_time: "Czas pracy do przyjęcia wobec celu (mediana, p90)",
    columns: [
        "prior.", "n", "w term.", "po term.", "przekr.", "otwarte", "odsetek", "mediana", "p90",
        "cel",
    ],
    total: "razem",
    note: "Czas liczony w godzinach pracy (pon.-pt. 9:00-17:00 czasu warszawskiego, bez świąt ustawowych). W terminie: przyjęte do obowiązującego terminu; odsetek liczony wśród przyjętych lub po terminie.",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Pl => &PL,
    }
}

/// A working-time span in hours for the text table: "12.5 h" ("12,5 h"
/// in Polish), "-" for none.
fn hours(secs: Option<i64>, lang: Lang) -> String {
    secs.map_or("-".into(), |s| {
        let h = format!("{:.1} h", s.max(0) as f64 / 3600.0);
        match lang {
            Lang::En => h,
            Lang::Pl => h.replace('.', ","),
        }
    })
}

/// A working-time span as "12 h 30 min", "-" for none.
fn span(secs: Option<i64>, lang: Lang) -> String {
    secs.map_or("-".into(), |s| {
        crate::sla::local::render_duration(s.max(0) as u64, lang)
    })
}

fn share(c: &Counts) -> String {
    c.on_time_share()
        .map_or("-".into(), |s| format!("{:.0}%", s * 100.0))
}

fn scope_line(r: &Report, w: &Words) -> String {
    format!(
        "{} – {} ({}), {}: {}; {} {}",
        r.from,
        r.to,
        r.zone,
        w.customer,
        r.customer.as_deref().unwrap_or(w.all_customers),
        w.as_of,
        r.as_of
    )
}

/// The six count columns of a text line.
fn count_columns(c: &Counts) -> String {
    const WIDTHS: [usize; 5] = [7, 8, 8, 8, 7];
    let mut cells: Vec<String> = c
        .numbers()
        .iter()
        .zip(WIDTHS)
        .map(|(n, w)| format!("{n:>w$}"))
        .collect();
    cells.push(format!("{:>7}", share(c)));
    cells.join(" ")
}

/// Text for a terminal (at most 100 columns).
pub fn text(r: &Report, lang: Lang) -> String {
    let w = words(lang);
    let mut o = String::new();
    // The scope on two lines, so the text fits 100 columns.
    let scope = scope_line(r, w);
    let (dates, rest) = scope.split_once(", ").unwrap_or((&scope, ""));
    let _ = writeln!(o, "{}\n{dates}\n{rest}\n", w.title);
    let c = &w.columns;
    let _ = writeln!(
        o,
        "{:<8} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}  {:>8} {:>8} {:>8}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
    );
    for s in &r.by_severity {
        let _ = writeln!(
            o,
            "{:<8} {}  {:>8} {:>8} {:>8}",
            s.severity,
            count_columns(&s.counts),
            hours(s.median_working_seconds_to_acceptance, lang),
            hours(s.p90_working_seconds_to_acceptance, lang),
            hours(Some(s.target_working_seconds as i64), lang),
        );
    }
    let _ = writeln!(o, "{:<8} {}", w.total, count_columns(&r.counts));
    if !r.by_customer.is_empty() {
        let _ = writeln!(
            o,
            "\n{}:\n{:<24} {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}",
            w.by_customer,
            w.customer.to_lowercase(),
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6]
        );
        for l in &r.by_customer {
            let _ = writeln!(
                o,
                "{:<24} {}",
                one_line(&l.customer, 24),
                count_columns(&l.counts)
            );
        }
    }
    text_breaches(&mut o, r, w, lang);
    o
}

fn text_breaches(o: &mut String, r: &Report, w: &Words, lang: Lang) {
    let _ = writeln!(
        o,
        "\n{}:\n{:<10} {} {:<24} {:<16}  {:<16}  {}",
        w.breaches,
        "#",
        w.columns[0].chars().next().unwrap_or('s'),
        w.customer.to_lowercase(),
        w.deadline.to_lowercase(),
        w.accepted.to_lowercase(),
        w.late_by.to_lowercase()
    );
    if r.breaches.is_empty() {
        let _ = writeln!(o, "  {}", w.no_breaches);
    }
    for b in &r.breaches {
        let _ = writeln!(
            o,
            "{:<10} {} {:<24} {:<16}  {:<16}  {}",
            b.reference,
            b.severity,
            one_line(&b.customer, 24),
            b.deadline_local,
            b.accepted_local.as_deref().unwrap_or(w.not_accepted),
            span(Some(b.late_working_seconds), lang)
        );
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV: the summary rows (all, each severity, each customer), a blank
/// line, then the breaches. Working times in seconds.
pub fn csv(r: &Report) -> String {
    let mut o = String::from(
        "scope,severity,customer,tickets,accepted_on_time,accepted_late,breached_unaccepted,\
         open_within_deadline,on_time_share,median_working_seconds_to_acceptance,\
         p90_working_seconds_to_acceptance,max_working_seconds_to_acceptance,target_working_seconds\r\n",
    );
    let counts = |c: &Counts| {
        let share = c
            .on_time_share()
            .map_or(String::new(), |s| format!("{s:.4}"));
        let numbers: Vec<String> = c.numbers().iter().map(u64::to_string).collect();
        format!("{},{share}", numbers.join(","))
    };
    let opt = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    let all = r.customer.as_deref().unwrap_or("");
    let _ = write!(o, "all,,{},{},,,,\r\n", field(all), counts(&r.counts));
    for s in &r.by_severity {
        let _ = write!(
            o,
            "severity,{},{},{},{},{},{},{}\r\n",
            s.severity,
            field(all),
            counts(&s.counts),
            opt(s.median_working_seconds_to_acceptance),
            opt(s.p90_working_seconds_to_acceptance),
            opt(s.max_working_seconds_to_acceptance),
            s.target_working_seconds
        );
    }
    for l in &r.by_customer {
        let _ = write!(
            o,
            "customer,,{},{},,,,\r\n",
            field(&l.customer),
            counts(&l.counts)
        );
    }
    o.push_str("\r\nref,severity,customer,deadline,accepted_at,late_working_seconds\r\n");
    for b in &r.breaches {
        let _ = write!(
            o,
            "{},{},{},{},{},{}\r\n",
            field(&b.reference),
            b.severity,
            field(&b.customer),
            b.deadline,
            b.accepted_at.as_deref().unwrap_or(""),
            b.late_working_seconds
        );
    }
    o
}

/// Text made safe for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The on-time share per severity as horizontal bars.
fn share_chart(r: &Report, w: &Words) -> String {
    let (bar_w, row_h, left) = (400.0, 28.0, 110.0);
    let height = row_h * 5.0 + 20.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        esc(w.chart_share),
        left + bar_w + 60.0,
        left + bar_w + 60.0
    );
    for (i, l) in r.by_severity.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        let share = l.counts.on_time_share();
        let width = share.unwrap_or(0.0) * bar_w;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{} {}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{bar_w}\" height=\"18\" fill=\"#eee\"/>\
             <rect class=\"bar\" x=\"{left}\" y=\"{y}\" width=\"{width:.1}\" height=\"18\" fill=\"#2e7d32\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"13\">{}</text>",
            y + 14.0,
            esc(w.severity),
            l.severity,
            left + bar_w + 6.0,
            y + 14.0,
            share.map_or("-".into(), |s| format!("{:.0}%", s * 100.0)),
        );
    }
    s.push_str("</svg>");
    s
}

/// Median and p90 working time to acceptance per severity, as a share of
/// the target (the target is the line at 100%).
fn time_chart(r: &Report, w: &Words) -> String {
    let (bar_w, row_h, left) = (400.0, 34.0, 110.0);
    let height = row_h * 5.0 + 30.0;
    // The scale reaches 150% of the target, so lateness shows.
    let scale =
        |secs: i64, target: u64| (secs as f64 / target.max(1) as f64).min(1.5) / 1.5 * bar_w;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        esc(w.chart_time),
        left + bar_w + 20.0,
        left + bar_w + 20.0
    );
    let target_x = left + bar_w / 1.5;
    for (i, l) in r.by_severity.iter().enumerate() {
        let y = 10.0 + row_h * i as f64;
        let t = l.target_working_seconds;
        let median = l
            .median_working_seconds_to_acceptance
            .map_or(0.0, |v| scale(v, t));
        let p90 = l
            .p90_working_seconds_to_acceptance
            .map_or(0.0, |v| scale(v, t));
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{} {}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{p90:.1}\" height=\"12\" fill=\"#90caf9\"/>\
             <rect x=\"{left}\" y=\"{}\" width=\"{median:.1}\" height=\"12\" fill=\"#1565c0\"/>",
            y + 16.0,
            esc(w.severity),
            l.severity,
            y + 13.0,
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{target_x}\" y1=\"4\" x2=\"{target_x}\" y2=\"{}\" stroke=\"#c62828\" stroke-width=\"2\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#c62828\">{}</text>",
        height - 18.0,
        target_x - 14.0,
        height - 4.0,
        esc(w.target)
    );
    s.push_str("</svg>");
    s
}

fn counts_cells(c: &Counts) -> String {
    let mut cells: String = c
        .numbers()
        .iter()
        .map(|n| format!("<td>{n}</td>"))
        .collect();
    cells.push_str(&format!("<td>{}</td>", share(c)));
    cells
}

/// One self-contained, printable HTML page.
pub fn html(r: &Report, lang: Lang) -> String {
    let w = words(lang);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{} {} – {}</title>\
         <style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         table{{font-size:13px}}th,td{{border:1px solid #bbb;padding:3px 6px;text-align:right;vertical-align:bottom}}td{{white-space:nowrap}}\
         .legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}}th:first-child,td:first-child{{text-align:left}}\
         .note{{color:#555;font-size:90%}}@media print{{body{{margin:0}}section{{break-inside:avoid}}}}</style></head><body>\
         <h1>{}</h1><p>{}</p>",
        lang.as_str(),
        esc(w.title),
        r.from,
        r.to,
        esc(w.title),
        esc(&scope_line(r, w))
    );
    let head = format!(
        "<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        esc(w.tickets),
        esc(w.on_time),
        esc(w.late),
        esc(w.breached),
        esc(w.within),
        esc(w.share)
    );
    let _ = write!(
        o,
        "<section><table><tr><th>{}</th>{head}<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(w.severity),
        esc(w.median),
        esc(w.p90),
        esc(w.max),
        esc(w.target)
    );
    for s in &r.by_severity {
        let _ = write!(
            o,
            "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.severity,
            counts_cells(&s.counts),
            esc(&hours(s.median_working_seconds_to_acceptance, lang)),
            esc(&hours(s.p90_working_seconds_to_acceptance, lang)),
            esc(&hours(s.max_working_seconds_to_acceptance, lang)),
            esc(&hours(Some(s.target_working_seconds as i64), lang))
        );
    }
    let _ = write!(
        o,
        "<tr><th>{}</th>{}<td></td><td></td><td></td><td></td></tr></table></section>",
        esc(w.overall),
        counts_cells(&r.counts)
    );
    let _ = write!(
        o,
        "<section><h2>{}</h2>{}</section><section><h2>{}</h2>{}\
         <p class=\"legend\"><span style=\"background:#1565c0\"></span>{}<span style=\"background:#90caf9\"></span>{}\
         <span style=\"background:#c62828;width:3px\"></span>{}</p></section>",
        esc(w.chart_share),
        share_chart(r, w),
        esc(w.chart_time),
        time_chart(r, w),
        esc(w.median),
        esc(w.p90),
        esc(w.target)
    );
    html_customers(&mut o, r, w, &head);
    html_breaches(&mut o, r, w, lang);
    let _ = writeln!(
        o,
        "</section><p class=\"note\">{}</p></body></html>",
        esc(w.note)
    );
    o
}

fn html_customers(o: &mut String, r: &Report, w: &Words, head: &str) {
    if r.by_customer.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<section><h2>{}</h2><table><tr><th>{}</th>{head}</tr>",
        esc(w.by_customer),
        esc(w.customer)
    );
    for l in &r.by_customer {
        let _ = write!(
            o,
            "<tr><td>{}</td>{}</tr>",
            esc(&l.customer),
            counts_cells(&l.counts)
        );
    }
    o.push_str("</table></section>");
}

fn html_breaches(o: &mut String, r: &Report, w: &Words, lang: Lang) {
    let _ = write!(o, "<section><h2>{}</h2>", esc(w.breaches));
    if r.breaches.is_empty() {
        let _ = write!(o, "<p>{}</p>", esc(w.no_breaches));
        return;
    }
    let _ = write!(
        o,
        "<table><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(w.severity),
        esc(w.customer),
        esc(w.deadline),
        esc(w.accepted),
        esc(w.late_by)
    );
    for b in &r.breaches {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&b.reference),
            b.severity,
            esc(&b.customer),
            esc(&b.deadline_local),
            esc(b.accepted_local.as_deref().unwrap_or(w.not_accepted)),
            esc(&span(Some(b.late_working_seconds), lang))
        );
    }
    o.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_it_must() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain"), "plain");
    }

    #[test]
    fn html_escapes_customer_text() {
        assert_eq!(esc("<b>&\"</b>"), "&lt;b&gt;&amp;&quot;&lt;/b&gt;");
    }
}

//! Does a problem report contain what the contract asks (clause 2.1–2.6)?
//! For each field: present or missing, with the evidence (a text span or an
//! attachment). Definitions are design.md's "Required report fields":
//!
//! | field | present when |
//! | --- | --- |
//! | subject | it names a problem: not empty, not only "help"/"pytanie"/"Re:" |
//! | occurrence_time | a clock time or "N hours ago" ([`super::occurrence`]) |
//! | diagnosis_steps | the customer says what they already tried or checked |
//! | description | enough prose that is not greetings, logs or the other fields |
//! | screenshots | an image attachment, inline `cid:` image or pasted image, not a signature logo |
//! | messages | quoted error text, a stack trace or an attached log |
//! | expectations | what the customer expects ("expected", "should", "oczekuję") |
//!
//! Required: subject, occurrence time, diagnosis steps, description and
//! screenshots; for severity 4–5 (questions, suggestions) only subject and
//! description. Expectations are asked for but optional. Pure.

use std::sync::LazyLock;

use regex::Regex;

use super::occurrence::Occurrence;
use super::parse::{Attachment, Parsed};
use crate::sla::Severity;

/// The report fields, in the contract's order; names are the JSON keys.
pub const FIELDS: [&str; 7] = [
    "subject",
    "occurrence_time",
    "diagnosis_steps",
    "description",
    "screenshots",
    "messages",
    "expectations",
];

/// One field's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Field {
    /// Whether the field is present.
    pub present: bool,
    /// What showed it (or, for a day without a time, what was found).
    pub evidence: Option<String>,
}

/// All fields of one message.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Report {
    /// 2.1 subject line naming the problem.
    pub subject: Field,
    /// 2.2 time of occurrence.
    pub occurrence_time: Field,
    /// 2.3 diagnosis steps taken.
    pub diagnosis_steps: Field,
    /// 2.4 description with circumstances and place.
    pub description: Field,
    /// 2.5 screenshots.
    pub screenshots: Field,
    /// 2.5 messages (error texts, logs).
    pub messages: Field,
    /// 2.6 expectations.
    pub expectations: Field,
}

impl Report {
    /// The field by its JSON name.
    pub fn get(&self, name: &str) -> Option<&Field> {
        Some(match name {
            "subject" => &self.subject,
            "occurrence_time" => &self.occurrence_time,
            "diagnosis_steps" => &self.diagnosis_steps,
            "description" => &self.description,
            "screenshots" => &self.screenshots,
            "messages" => &self.messages,
            "expectations" => &self.expectations,
            _ => return None,
        })
    }

    /// Required fields that are missing, in the contract's order.
    pub fn missing(&self, severity: Severity) -> Vec<&'static str> {
        required(severity)
            .iter()
            .copied()
            .filter(|f| self.get(f).is_some_and(|x| !x.present))
            .collect()
    }
}

/// The required fields for a severity.
pub fn required(severity: Severity) -> &'static [&'static str] {
    if severity.is_enquiry() {
        &["subject", "description"]
    } else {
        &[
            "subject",
            "occurrence_time",
            "diagnosis_steps",
            "description",
            "screenshots",
        ]
    }
}

static GENERIC_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(help|help me|help needed|please help|question|questions|problem|issue|issues|urgent|support|request|",
        r"hi|hello|hey|info|information|error|bug|(no subject)|no subject|test|fw|fwd|re|",
        r"pomoc|pomocy|prośba|prosba|pytanie|pytania|problem|problemy|pilne|zgłoszenie|zgloszenie|błąd|blad|",
        r"witam|dzień dobry|dzien dobry|bez tematu|\(bez tematu\)|sprawa|uwaga)\s*[!?.:]*\s*$"
    ))
});

/// The three patterns below look for what a report says, and only the line
/// of their first match is used ([`first_line_matching`]). So a word stem
/// stands for its word (`sprawdzi[łl]` for sprawdziłem, sprawdziliśmy...):
/// a word's ending never reaches past its line, and a pattern without it
/// matches where it did. Stems ending in a Unicode `\w*` made `DIAGNOSIS`
/// the slowest of the analysis's patterns to compile (18 ms of about 40 at
/// start-up, 5 ms without them).
static DIAGNOSIS: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(\b(i|we)\s+(have\s+|already\s+|also\s+|then\s+)*(tried|restarted|rebooted|checked|cleared|reinstalled|re-installed|",
        r"verified|tested|updated|upgraded|disabled|enabled|looked|logged out|switched|changed|compared|deleted|removed|",
        r"reset|ran|run|asked|contacted|confirmed|made sure|double-checked|reproduced|retried|re-tried|repeated)\b|",
        r"\btried (again|it again|once more|with)\b|",
        r"\b(what (we|i) (have )?(checked|tried|done)|steps (taken|tried|so far)|steps to reproduce|troubleshooting|",
        r"diagnos|already (tried|checked|restarted|cleared)|tried to|have tried|restarting|clearing the cache|",
        r"after (a )?(restart|reboot|reinstall))|",
        r"\b(sprawdzi[łl]|sprawdzali|spróbowa|sprobowa|próbowa|probowa|restartowa|zrestartowa|",
        r"uruchomi[łl]\w* ponownie|ponowne uruchomienie|ponownym uruchomieniu|po restarcie|wyczyści[łl]|wyczysci[łl]|",
        r"przeinstalowa|zainstalowa\w* ponownie|zaktualizowa|wylogowa|zweryfikowa|przetestowa|testowali|",
        r"zrobi[łl](em|am|iśmy|ismy)|kroki|diagnostyk|co (już )?sprawdzi|upewni[łl]|porówna[łl]|skontaktowa|",
        r"zapisa[łl](em|am|iśmy|ismy) plik|wgra[łl](em|am|iśmy|ismy)|odinstalowa))"
    ))
});

static MESSAGE_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r#"(?i)("[^"\n]*(error|exception|failed|fail|denied|invalid|timeout|timed out|not found|błąd|blad|nie można|nie mozna|odmowa)[^"\n]*"|"#,
        r#"„[^”\n]{3,}”|'[^'\n]*(error|exception|failed)[^'\n]*'|"#,
        r#""[^"\n]{3,}"[^\n]{0,20}\b(error|message|exception|błąd|blad|komunikat|warning)|"#,
        r#"\b(error|message|komunikat|błąd|blad)\w*[^\n]{0,30}"[^"\n]{3,}"|"#,
        r"\b(traceback \(most recent call last\)|exception in thread|stack ?trace|stacktrace|\w+(exception|error):\s|",
        r"^\s+at\s+[\w.$<>]+\(|\b(error|err|fatal|failed|failure)\b\s*(code|message)?\s*[:#]\s*(?-i:[A-Z0-9_\-]{3,})\b|\b(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]{3,})\b|",
        r"\b(error|warn|fatal)\s*[\[:]|\bhttp (status )?[45]\d\d\b|\berror \d{3,}\b|\b[45]\d\d (internal server error|bad gateway|service unavailable|not found|forbidden)|",
        r"komunikat|treść błędu|tresc bledu|error message|the message (says|reads|is)|wyświetla się|pojawia się błąd|shows? (the )?(error|message)))"
    ))
});

static EXPECTATION: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(\b(expected|we expect|i expect|expectation|should (be|show|work|display|return|have|allow)|",
        r"supposed to|(we|i) would like (it|this|that|the \w+|you) to|(we|i)'d like (it|this|the \w+) to|we need (it|this|the \w+) to|please (fix|restore|make)|",
        r"it would be (good|great)|ought to)\b|",
        r"\b(oczekuj|oczekiwan|powin(ien|na|no|ny|ni)|chcielibyśmy|chcielibysmy|chciałbym|chciałabym|chcialbym|",
        r"prosimy o (naprawę|naprawe|przywrócenie|przywrocenie|poprawienie)|proszę o (naprawę|naprawe|przywrócenie|poprawienie)|",
        r"liczymy na|zależy nam na|zalezy nam na))"
    ))
});

static NOT_PROSE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)^\s*(hi|hello|hey|dear|good (morning|afternoon)|thanks|thank you|kind regards|best regards|regards|best|cheers|",
        r"dzień dobry|dzien dobry|witam|witajcie|szanowni państwo|szanowni panstwo|pozdrawiam|z poważaniem|z powazaniem|",
        r"dziękuję|dziekuje|dzięki|serdecznie|mvg|mfg)([^\p{L}].{0,40})?$|^\s*[-=_*#]{3,}\s*$|^\s*(phone|tel|mobile|e-?mail|www|fax)\b"
    ))
});

static LOGO_NAME: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(logo|signature|sig[_\-.]|podpis|banner|icon|facebook|linkedin|twitter|instagram|spacer|pixel)",
    )
});
static DATA_IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r#"(?i)<img[^>]+src\s*=\s*["']?data:image/[a-z+]+;base64,([A-Za-z0-9+/=\s]{2000,})"#,
    )
});
static CID_IMAGE: LazyLock<Regex> =
    LazyLock::new(|| super::text_regex(r#"(?i)<img[^>]+src\s*=\s*["']?cid:([^"'>\s]+)"#));

/// Smallest inline image inside the signature block whose pixel size is
/// unknown that is taken for a screenshot rather than a logo: signature
/// logos are a few kilobytes.
pub const MIN_INLINE_SCREENSHOT_BYTES: usize = 12 * 1024;

/// The same for an inline image placed in the body, above any sign-off:
/// only icons and spacers are smaller.
pub const MIN_BODY_SCREENSHOT_BYTES: usize = 4 * 1024;

/// Largest image inside the signature block still taken for a logo (a
/// 500 x 240 banner): what sits below "Regards" is a logo unless it is
/// clearly a picture of a screen.
pub const SIGNATURE_IMAGE_PIXELS: u64 = 120_000;

static SCREENSHOT_NAME: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(
        r"(?i)(screen ?shot|screen[_ -]?capture|zrzut|bildschirmfoto|capture d.?écran|captura de pantalla|schermata|snímek|^capture\b|^snip|pasted ?graphic|pasted image|clipboard|schowek)",
    )
});

/// Where a signature starts in an HTML part: the sign-offs a desk's
/// customers write (EN, PL, DE, FR) and the signature blocks mail clients
/// mark (Thunderbird `moz-signature`, Gmail `gmail_signature`, Outlook
/// `Signature` divs and Apple Mail's `AppleMailSignature`).
static SIGNOFF_HTML: LazyLock<Regex> = LazyLock::new(|| {
    super::text_regex(concat!(
        r"(?i)(\b(kind regards|best regards|regards,|best wishes|yours sincerely|pozdrawiam|z poważaniem|z powazaniem|",
        r"łączę pozdrowienia|mit freundlichen grüßen|cordialement)\b|",
        r#"class\s*=\s*["']?[^"'>]*(moz-signature|gmail_signature|signature)|id\s*=\s*["']?(signature|AppleMailSignature))"#
    ))
});

/// Whether an inline image of this pixel size is a signature logo or an
/// icon rather than a screenshot: small (at most 45,000 pixels, e.g.
/// 300 x 150), or a short wide banner (at most 110 pixels high and at least
/// twice as wide). Pasted screenshots, even of one dialog, are larger: a
/// JPEG screenshot Outlook pastes can weigh under 10 KB, so bytes alone do
/// not tell.
pub fn logo_sized(width: u32, height: u32) -> bool {
    u64::from(width) * u64::from(height) <= 45_000 || (height <= 110 && width >= 2 * height)
}

fn first_line_matching(text: &str, re: &Regex) -> Option<String> {
    super::line_of_first_match(text, re).map(|line| clip(line, 200))
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        format!("{}…", &s[..s.floor_char_boundary(max)])
    }
}

/// Where the HTML part places its inline images and its signature: which
/// `cid:` references it makes, and where the sign-off starts. Read once per
/// message, and bounded: a hostile HTML part cannot make the per-image
/// lookups quadratic.
struct InlineLayout<'a> {
    /// `(content id, byte offset)` of the first `MAX_REFS` `<img src="cid:">`.
    refs: Vec<(&'a str, usize)>,
    /// Offset of the first sign-off or signature block, if any.
    signoff: Option<usize>,
}

const MAX_REFS: usize = 200;

impl<'a> InlineLayout<'a> {
    fn of(html: Option<&'a str>) -> Self {
        let Some(h) = html else {
            return InlineLayout {
                refs: Vec::new(),
                signoff: None,
            };
        };
        let refs = CID_IMAGE
            .captures_iter(h)
            .take(MAX_REFS)
            .filter_map(|c| c.get(1).map(|m| (m.as_str(), m.start())))
            .collect();
        InlineLayout {
            refs,
            signoff: SIGNOFF_HTML.find(h).map(|m| m.start()),
        }
    }

    /// `None` when the HTML does not reference `cid`; else whether the
    /// reference comes after the sign-off (inside the signature).
    fn in_signature(&self, cid: &str) -> Option<bool> {
        let (_, at) = self
            .refs
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(cid))?;
        Some(self.signoff.is_some_and(|s| s < *at))
    }
}

/// Whether an image attachment is a screenshot the customer sent rather
/// than a signature logo or icon. In order: a logo-like name says logo; a
/// screenshot-like name (what Windows, macOS, GNOME and the Snipping Tool
/// call their files, Apple Mail's `Pasted Graphic`) says screenshot; an
/// image attached by hand is one; an inline image is one by its pixel size
/// and shape ([`logo_sized`]), with a larger allowance inside the signature
/// block, and by its byte size only when its pixels are unknown.
fn is_screenshot(a: &Attachment, layout: &InlineLayout<'_>) -> bool {
    if !a.is_image() {
        return false;
    }
    let name = a.filename.as_deref().unwrap_or("");
    let cid = a.content_id.as_deref();
    if LOGO_NAME.is_match(name) || cid.is_some_and(|c| LOGO_NAME.is_match(c)) {
        return false;
    }
    if SCREENSHOT_NAME.is_match(name) {
        return true;
    }
    let in_signature = cid.and_then(|c| layout.in_signature(c));
    if !a.inline && in_signature.is_none() {
        return true;
    }
    let in_signature = in_signature.unwrap_or(false);
    match a.pixels {
        Some((w, h)) if in_signature => u64::from(w) * u64::from(h) > SIGNATURE_IMAGE_PIXELS,
        Some((w, h)) => !logo_sized(w, h),
        None if in_signature => a.size >= MIN_INLINE_SCREENSHOT_BYTES,
        None => a.size >= MIN_BODY_SCREENSHOT_BYTES,
    }
}

fn is_log(a: &Attachment) -> bool {
    let name = a.filename.as_deref().unwrap_or("").to_ascii_lowercase();
    name.ends_with(".log")
        || name.ends_with(".txt")
            && (name.contains("log") || name.contains("error") || name.contains("trace"))
        || name.ends_with(".har")
        || name.contains("stacktrace")
        || (a.content_type == "text/plain" && !name.is_empty() && !a.inline)
}

/// Checks a request's text (trimmed) and attachments.
pub fn check(p: &Parsed, text: &str, occurrence: &Occurrence) -> Report {
    let found = |line: Option<String>| match line {
        Some(line) => Field {
            present: true,
            evidence: Some(line),
        },
        None => Field::default(),
    };
    Report {
        subject: subject(&p.subject),
        occurrence_time: Field {
            present: occurrence.pinned,
            evidence: occurrence.evidence.clone(),
        },
        diagnosis_steps: found(first_line_matching(text, &DIAGNOSIS)),
        description: description(text),
        screenshots: screenshots(p),
        messages: match first_line_matching(text, &MESSAGE_TEXT) {
            Some(line) => found(Some(line)),
            None => match p.attachments.iter().find(|a| is_log(a)) {
                Some(a) => Field {
                    present: true,
                    evidence: a.filename.clone(),
                },
                None => Field::default(),
            },
        },
        expectations: found(first_line_matching(text, &EXPECTATION)),
    }
}

/// A subject that names a problem: not generic, two words or eight
/// characters at least.
fn subject(subject: &str) -> Field {
    let subject = super::thread::strip_reply_prefixes(subject);
    let subject_words = subject
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    Field {
        present: !GENERIC_SUBJECT.is_match(subject)
            && (subject_words >= 2 || subject.chars().count() >= 8),
        evidence: (!subject.is_empty()).then(|| clip(subject, 200)),
    }
}

/// Description: prose lines that are not greetings, signatures, logs or
/// short field labels, twelve words of them at least.
fn description(text: &str) -> Field {
    // Read only until twelve words are found: most reports get there in
    // their first lines, and a long paste below would be read for nothing.
    let (mut evidence, mut words) = (None, 0);
    for l in text.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('>') {
            continue;
        }
        let n = l.split_whitespace().take(12).count();
        if n < 4 || NOT_PROSE.is_match(l) {
            continue;
        }
        evidence.get_or_insert(l);
        words += n;
        if words >= 12 {
            break;
        }
    }
    Field {
        present: words >= 12,
        evidence: evidence.map(|l| clip(l, 200)),
    }
}

/// A screenshot: an image attachment or inline image that is not a logo,
/// or an image pasted into the HTML as a `data:` URL.
fn screenshots(p: &Parsed) -> Field {
    let html = p.html.as_deref();
    // Only an image with a Content-ID is looked up in the layout: without
    // one, the HTML (often most of a message) is not read for it.
    let referenced = p
        .attachments
        .iter()
        .any(|a| a.is_image() && a.content_id.is_some());
    let layout = InlineLayout::of(html.filter(|_| referenced));
    if let Some(a) = p.attachments.iter().find(|a| is_screenshot(a, &layout)) {
        Field {
            present: true,
            evidence: Some(
                a.filename
                    .clone()
                    .or_else(|| a.content_id.as_ref().map(|c| format!("cid:{c}")))
                    .unwrap_or_else(|| a.content_type.clone()),
            ),
        }
    } else if html.is_some_and(|h| DATA_IMAGE.is_match(h)) {
        Field {
            present: true,
            evidence: Some("pasted image (data: URL)".into()),
        }
    } else {
        Field::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        let table = [
            ("Export to Excel fails with error 500", true),
            ("Błąd przy logowaniu", true),
            ("Re: help", false),
            ("Pytanie", false),
            ("", false),
            ("Problem!", false),
            ("Odp: Re:", false),
            ("Login", false),
            ("Invoices missing", true),
        ];
        for (subject, present) in table {
            let p = Parsed {
                subject: subject.into(),
                ..Parsed::default()
            };
            let r = check(&p, "", &Occurrence::default());
            assert_eq!(r.subject.present, present, "{subject:?}");
        }
    }

    #[test]
    fn text_fields() {
        // (text, diagnosis, messages, expectations)
        let table = [
            ("I restarted the server twice.", true, false, false),
            (
                "Sprawdziłem logi i zrestartowałem usługę.",
                true,
                false,
                false,
            ),
            ("We get \"Connection refused\" error.", false, true, false),
            (
                "java.lang.NullPointerException: x\n    at com.acme.Foo.bar(Foo.java:10)",
                false,
                true,
                false,
            ),
            ("Pojawia się błąd „Brak uprawnień”.", false, true, false),
            ("The report should show all invoices.", false, false, true),
            ("Oczekujemy przywrócenia działania.", false, false, true),
            ("It is broken.", false, false, false),
        ];
        for (text, diagnosis, messages, expectations) in table {
            let r = check(&Parsed::default(), text, &Occurrence::default());
            assert_eq!(
                (
                    r.diagnosis_steps.present,
                    r.messages.present,
                    r.expectations.present
                ),
                (diagnosis, messages, expectations),
                "{text}"
            );
        }
    }

    #[test]
    fn screenshots_not_logos() {
        let img = |name: &str, size, inline, cid: Option<&str>, pixels| Attachment {
            content_type: "image/png".into(),
            filename: Some(name.into()),
            size,
            inline,
            content_id: cid.map(Into::into),
            pixels,
        };
        let cid = Some("image001.png@01D");
        // Outlook's shape: the image referenced above or below the sign-off.
        let above = r#"<p>Po kliknięciu Zapisz widzę to:</p><img src="cid:image001.png@01D"><p>Pozdrawiam,<br>Jan</p>"#;
        let below = r#"<p>Nie działa eksport.</p><p>Pozdrawiam,<br>Jan</p><img src="cid:image001.png@01D">"#;
        let in_block = r#"<p>Export fails.</p><div class="gmail_signature"><img src='cid:image001.png@01D'></div>"#;
        let table = [
            (img("screenshot.png", 50_000, false, None, None), None, true),
            (img("image001.png", 3_000, true, cid, None), None, false),
            (img("image002.png", 80_000, true, cid, None), None, true),
            (
                img("company-logo.png", 90_000, false, None, None),
                None,
                false,
            ),
            // By pixels: a small pasted JPEG screenshot, a logo, a banner.
            (
                img("image001.jpg", 9_000, true, cid, Some((1280, 720))),
                None,
                true,
            ),
            (
                img("image002.png", 3_000, true, cid, Some((640, 200))),
                None,
                true,
            ),
            (
                img("image001.png", 14_000, true, cid, Some((180, 60))),
                None,
                false,
            ),
            (
                img("image003.png", 20_000, true, cid, Some((600, 90))),
                None,
                false,
            ),
            (
                img("image004.gif", 900, true, cid, Some((32, 32))),
                None,
                false,
            ),
            // Attached by hand: a screenshot whatever its size.
            (
                img("error.png", 2_000, false, None, Some((250, 100))),
                None,
                true,
            ),
            // By name, even when small and inline.
            (
                img(
                    "Zrzut ekranu 2026-12-02 101500.png",
                    3_000,
                    true,
                    cid,
                    Some((300, 120)),
                ),
                None,
                true,
            ),
            (
                img(
                    "Screenshot 2026-12-02 at 10.15.00.png",
                    3_000,
                    true,
                    None,
                    None,
                ),
                None,
                true,
            ),
            (
                img("Pasted Graphic.tiff", 3_000, true, cid, None),
                None,
                true,
            ),
            (img("Capture.PNG", 2_500, true, cid, None), None, true),
            // By where it is referenced: a 400 x 150 image is a screenshot in
            // the body, a logo in the signature.
            (
                img("image001.png", 9_000, false, cid, Some((400, 150))),
                Some(above),
                true,
            ),
            (
                img("image001.png", 9_000, false, cid, Some((400, 150))),
                Some(below),
                false,
            ),
            (
                img("image001.png", 9_000, false, cid, Some((400, 150))),
                Some(in_block),
                false,
            ),
            (
                img("image001.png", 90_000, false, cid, Some((1280, 800))),
                Some(below),
                true,
            ),
            // Pixels unknown: 6 KB is a screenshot in the body only.
            (
                img("image001.png", 6_000, false, cid, None),
                Some(above),
                true,
            ),
            (
                img("image001.png", 6_000, false, cid, None),
                Some(below),
                false,
            ),
        ];
        for (a, html, expected) in table {
            let p = Parsed {
                attachments: vec![a.clone()],
                html: html.map(Into::into),
                ..Parsed::default()
            };
            assert_eq!(
                check(&p, "", &Occurrence::default()).screenshots.present,
                expected,
                "{a:?} in {html:?}"
            );
        }
    }

    #[test]
    fn required_by_severity() {
        let r = Report::default();
        assert_eq!(r.missing(Severity::Critical).len(), 5);
        assert_eq!(
            r.missing(Severity::Question),
            vec!["subject", "description"]
        );
    }
}

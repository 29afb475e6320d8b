//! `Authentication-Results` (RFC 8601): the parser, and which results we
//! believe. Pure.
//!
//! Parsing follows RFC 8601 §2.2: `authserv-id [version] ; resinfo ; ...`
//! or `authserv-id ; none`, where each resinfo is `method[/version] =
//! result [reason=value] [ptype.property=value ...]`; comments in
//! parentheses (nested) and whitespace may appear between any two tokens,
//! values may be quoted strings, and a `;` inside a quoted string or a
//! comment separates nothing.
//!
//! Trust: a header counts only when its authserv-id is one of the
//! configured `[consultants] trusted-authserv-ids`, and only when it sits
//! above the first `Received:` our own server added (the topmost `Received:`
//! whose `by` host is one of those ids; without one, above every
//! `Received:`). What a sender wrote into their message lies below that
//! line, however it is dressed. The MTA must also remove incoming headers
//! that carry our id (OpenDKIM and rspamd do; see the README).

/// One `Authentication-Results` header, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    /// Who wrote it (lower-cased).
    pub authserv_id: String,
    /// The results (none for `; none`).
    pub results: Vec<MethodResult>,
}

/// One method's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    /// `dkim`, `spf`, `dmarc`, ... (lower-cased, without version).
    pub method: String,
    /// `pass`, `fail`, ... (lower-cased).
    pub result: String,
    /// `reason=`, if given.
    pub reason: Option<String>,
    /// `ptype.property` (lower-cased) and value, in order.
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of a property, e.g. `header.d`.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A token of the header's value once comments are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Semi,
    Eq,
    Slash,
    /// A run of other characters, or a quoted string (unescaped).
    Text(String),
}

/// At most this many tokens are read of one header: what our servers
/// write is far shorter; a longer value is a sender's, and is cut.
const MAX_TOKENS: usize = 2_000;

fn tokens(value: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<Token>| {
        if !text.is_empty() {
            out.push(Token::Text(std::mem::take(text)));
        }
    };
    while let Some(c) = chars.next() {
        if out.len() >= MAX_TOKENS {
            break;
        }
        match c {
            '(' => {
                flush(&mut text, &mut out);
                skip_comment(&mut chars);
            }
            '"' => {
                flush(&mut text, &mut out);
                let mut q = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => q.extend(chars.next()),
                        '"' => break,
                        c => q.push(c),
                    }
                }
                out.push(Token::Text(q));
            }
            ';' | '=' | '/' => {
                flush(&mut text, &mut out);
                out.push(match c {
                    ';' => Token::Semi,
                    '=' => Token::Eq,
                    _ => Token::Slash,
                });
            }
            c if c.is_whitespace() => flush(&mut text, &mut out),
            c => text.push(c),
        }
    }
    flush(&mut text, &mut out);
    out
}

/// Skips a comment whose `(` was read: nested comments and quoted pairs
/// included (RFC 5322 §3.2.2).
fn skip_comment(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let mut depth = 1usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Parses one header value; `None` when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let toks = tokens(value);
    let mut groups = toks.split(|t| *t == Token::Semi);
    let head = groups.next()?;
    let authserv_id = match head.first() {
        Some(Token::Text(id)) => id.to_ascii_lowercase(),
        _ => return None,
    };
    let results = groups.filter_map(resinfo).collect();
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// The text of consecutive `Text` tokens joined without spaces (`header .
/// d` is `header.d`); the index after them.
fn joined(toks: &[Token], mut i: usize) -> (String, usize) {
    let mut s = String::new();
    while let Some(Token::Text(t)) = toks.get(i) {
        s.push_str(t);
        i += 1;
    }
    (s, i)
}

/// One `method[/version] = result [props]` group.
fn resinfo(toks: &[Token]) -> Option<MethodResult> {
    let (method, mut i) = joined(toks, 0);
    if method.is_empty() || method.eq_ignore_ascii_case("none") && toks.len() == 1 {
        return None;
    }
    if toks.get(i) == Some(&Token::Slash) {
        i = joined(toks, i + 1).1;
    }
    if toks.get(i) != Some(&Token::Eq) {
        return None;
    }
    let Some(Token::Text(result)) = toks.get(i + 1) else {
        return None;
    };
    let mut r = MethodResult {
        method: method.to_ascii_lowercase(),
        result: result.to_ascii_lowercase(),
        reason: None,
        props: Vec::new(),
    };
    i += 2;
    // `key = value` pairs; a key may be split by whitespace around its dot.
    while i < toks.len() {
        let (key, next) = joined(toks, i);
        match (toks.get(next), toks.get(next + 1)) {
            (Some(Token::Eq), Some(Token::Text(value))) if !key.is_empty() => {
                let key = key.to_ascii_lowercase();
                if key == "reason" {
                    r.reason = Some(value.clone());
                } else {
                    r.props.push((key, value.clone()));
                }
                i = next + 2;
            }
            _ => i = next.max(i + 1),
        }
    }
    Some(r)
}

/// The `by` host of a `Received:` value, lower-cased.
fn received_by(value: &str) -> Option<String> {
    let mut words = value.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("by") {
            return words
                .next()
                .map(|h| h.trim_end_matches(';').to_ascii_lowercase());
        }
    }
    None
}

/// The results we believe, from a message's headers (lower-case names, in
/// order from the top) and our authserv-ids.
pub fn trusted(headers: &[(String, String)], ids: &[String]) -> Vec<AuthResults> {
    if ids.is_empty() {
        return Vec::new();
    }
    let ours = |id: &str| ids.iter().any(|t| t.eq_ignore_ascii_case(id));
    let boundary = headers
        .iter()
        .position(|(n, v)| n == "received" && received_by(v).is_some_and(|by| ours(&by)))
        .or_else(|| headers.iter().position(|(n, _)| n == "received"))
        .unwrap_or(headers.len());
    headers[..boundary]
        .iter()
        .filter(|(n, _)| n == "authentication-results")
        .filter_map(|(_, v)| parse(v))
        .filter(|a| ours(&a.authserv_id))
        .collect()
}

/// Whether `host` is `domain` or one of its subdomains (never a suffix
/// string: `smartstock.cloud.attacker.example` and `evilsmartstock.cloud`
/// are not `smartstock.cloud`).
pub fn within(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.trim_end_matches('.'), domain.trim_end_matches('.'));
    !domain.is_empty()
        && (host.eq_ignore_ascii_case(domain)
            || host.len() > domain.len()
                && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// The domain a result speaks for: DKIM's signing domain (`header.d`, else
/// the domain of `header.i`), DMARC's and SPF's checked domains.
fn domain_of(r: &MethodResult) -> Option<&str> {
    let after_at = |v: &'static str| r.prop(v).map(|v| v.rsplit_once('@').map_or(v, |(_, d)| d));
    match r.method.as_str() {
        "dkim" => r.prop("header.d").or_else(|| after_at("header.i")),
        "dmarc" => r.prop("header.from"),
        "spf" => after_at("smtp.mailfrom"),
        _ => None,
    }
}

/// What trusted results say of mail from `domain`: `Some(true)` when DKIM
/// passed for exactly it (or a subdomain) or DMARC passed for it, and no
/// trusted DKIM or DMARC result for it failed; `Some(false)` when one
/// failed; `None` when they say nothing of it.
pub fn verdict(results: &[AuthResults], domain: &str) -> Option<bool> {
    let mut pass = false;
    for r in results.iter().flat_map(|a| &a.results) {
        if !matches!(r.method.as_str(), "dkim" | "dmarc") {
            continue;
        }
        let Some(d) = domain_of(r) else { continue };
        let relevant = match r.method.as_str() {
            "dmarc" => d.eq_ignore_ascii_case(domain),
            _ => within(d, domain),
        };
        if !relevant {
            continue;
        }
        match r.result.as_str() {
            "pass" => pass = true,
            "fail" | "permerror" | "policy" => return Some(false),
            _ => {}
        }
    }
    pass.then_some(true)
}

/// Whether trusted results record a DMARC failure for the author's domain
/// (a result without `header.from` counts: our server checked the From).
pub fn dmarc_fail(results: &[AuthResults], from_domain: &str) -> bool {
    results.iter().flat_map(|a| &a.results).any(|r| {
        r.method == "dmarc"
            && r.result == "fail"
            && r.prop("header.from")
                .is_none_or(|d| d.eq_ignore_ascii_case(from_domain))
    })
}

#[cfg(test)]
mod tests;

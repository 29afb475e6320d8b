//! `Authentication-Results` tables: the header shapes of RFC 8601's
//! Appendix B (our own renderings of its examples: no result, one method,
//! comments, several methods, a reason, a version, comments between every
//! token), and the forgeries an attacker tries.

use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}

#[test]
fn rfc_8601_shapes_parse() {
    // (value, authserv-id, [(method, result, [(prop, value)])])
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str, &'a [(&'a str, &'a str)])],
    );
    let table: &[Row<'_>] = &[
        // B.2: nothing was done.
        ("example.org 1; none", "example.org", &[]),
        // B.3: SPF.
        (
            "example.com; spf=pass smtp.mailfrom=example.net",
            "example.com",
            &[("spf", "pass", &[("smtp.mailfrom", "example.net")])],
        ),
        // B.4: a comment inside a result.
        (
            "example.com;\r\n\tauth=pass (cram-md5) smtp.auth=sender@example.net;\r\n\tspf=pass smtp.mailfrom=example.net",
            "example.com",
            &[
                ("auth", "pass", &[("smtp.auth", "sender@example.net")]),
                ("spf", "pass", &[("smtp.mailfrom", "example.net")]),
            ],
        ),
        // B.5: several methods.
        (
            "example.com; sender-id=fail header.from=example.com; dkim=pass (good signature) header.d=example.com",
            "example.com",
            &[
                ("sender-id", "fail", &[("header.from", "example.com")]),
                ("dkim", "pass", &[("header.d", "example.com")]),
            ],
        ),
        // B.6: reasons, quoted, with a ; inside the quotes.
        (
            "example.com; dkim=pass reason=\"good; signature\" header.i=@mail-router.example.net; dkim=fail reason=\"bad signature\" header.i=@newyork.example.com",
            "example.com",
            &[
                ("dkim", "pass", &[("header.i", "@mail-router.example.net")]),
                ("dkim", "fail", &[("header.i", "@newyork.example.com")]),
            ],
        ),
        // B.7: comments between every token, a method version, a split key.
        (
            "foo.example.net (foobar) 1 (baz); dkim (Because I like it) / 1 (One yay) = (wait for it) fail policy (A dot can go here) . (like that) expired (this surprised me) = (as I wasn't expecting it) 1362471462",
            "foo.example.net",
            &[("dkim", "fail", &[("policy.expired", "1362471462")])],
        ),
        // A ; inside a comment separates nothing; nested comments.
        (
            "mx.example (a; (nested; too) b); dmarc=pass header.from=example.com",
            "mx.example",
            &[("dmarc", "pass", &[("header.from", "example.com")])],
        ),
    ];
    for (value, id, results) in table {
        let a = parse(value).unwrap_or_else(|| panic!("{value}"));
        assert_eq!(a.authserv_id, *id, "{value}");
        let got: Vec<Flat> = a
            .results
            .iter()
            .map(|r| (r.method.clone(), r.result.clone(), r.props.clone()))
            .collect();
        let want: Vec<Flat> = results
            .iter()
            .map(|(m, r, p)| {
                (
                    m.to_string(),
                    r.to_string(),
                    p.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{value}");
    }
    assert_eq!(parse("").map(|a| a.results.len()), None);
    assert_eq!(
        parse("example.com; dkim=pass reason=\"a\\\"b\" header.d=x")
            .unwrap()
            .results[0]
            .reason,
        Some("a\"b".into())
    );
}

const ID: &str = "mx.smartstock.cloud";

/// A header list, as the message gives it.
type Headers = Vec<(String, String)>;
/// One result: method, result, properties.
type Flat = (String, String, Headers);

/// The headers of a consultant mail as our MX delivers it: the LMTP hop,
/// our A-R, the hop from outside, then whatever the sender wrote.
fn delivered(ours: &str, sender_wrote: &[(&str, &str)]) -> Headers {
    let mut v = vec![
        (
            "Received",
            "from mx.smartstock.cloud by imap.smartstock.cloud (Dovecot) with LMTP; Wed, 25 Nov 2026 10:00:00 +0100",
        ),
        ("Authentication-Results", ours),
        (
            "Received",
            "from mail.smartstock.cloud (mail.smartstock.cloud [192.0.2.1]) by mx.smartstock.cloud (Postfix) with ESMTPS; Wed, 25 Nov 2026 10:00:00 +0100",
        ),
    ];
    v.extend_from_slice(sender_wrote);
    v.push(("From", "Anna <anna@smartstock.cloud>"));
    h(&v)
}

#[test]
fn verdicts_on_consultant_mail() {
    let ids = [ID.to_string()];
    let pass = "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; spf=pass smtp.mailfrom=smartstock.cloud";
    // (what, headers, verdict for smartstock.cloud)
    let table: Vec<(&str, Headers, Option<bool>)> = vec![
        ("our server says pass", delivered(pass, &[]), Some(true)),
        (
            "a subdomain signs",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.d=mail.smartstock.cloud",
                &[],
            ),
            Some(true),
        ),
        (
            "DMARC pass for the domain",
            delivered(
                "mx.smartstock.cloud; dmarc=pass header.from=smartstock.cloud",
                &[],
            ),
            Some(true),
        ),
        (
            "a suffix string is not the domain",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud.attacker.example",
                &[],
            ),
            None,
        ),
        (
            "a look-alike domain",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.d=evilsmartstock.cloud",
                &[],
            ),
            None,
        ),
        (
            "DMARC of a subdomain is not the domain's",
            delivered(
                "mx.smartstock.cloud; dmarc=pass header.from=x.smartstock.cloud",
                &[],
            ),
            None,
        ),
        (
            "a DMARC fail in the same header wins over a DKIM pass",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; dmarc=fail header.from=smartstock.cloud",
                &[],
            ),
            Some(false),
        ),
        (
            "a second signature that fails for the domain",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.d=smartstock.cloud; dkim=fail header.d=smartstock.cloud",
                &[],
            ),
            Some(false),
        ),
        (
            "the sender's own A-R with our id, below our line, is not believed",
            delivered(
                "mx.smartstock.cloud; dkim=fail header.d=smartstock.cloud",
                &[("Authentication-Results", pass)],
            ),
            Some(false),
        ),
        (
            "a forged pass below a genuine neutral result",
            delivered(
                "mx.smartstock.cloud; none",
                &[("Authentication-Results", pass)],
            ),
            None,
        ),
        (
            "a forged Received by our server below the real one moves nothing",
            delivered(
                "mx.smartstock.cloud; none",
                &[
                    ("Authentication-Results", pass),
                    (
                        "Received",
                        "from x by mx.smartstock.cloud; Wed, 25 Nov 2026 09:00:00 +0100",
                    ),
                ],
            ),
            None,
        ),
        (
            "another server's id",
            delivered("evil.example; dkim=pass header.d=smartstock.cloud", &[]),
            None,
        ),
        (
            "our id quoted in a comment does not make it ours",
            delivered(
                "(mx.smartstock.cloud) evil.example; dkim=pass header.d=smartstock.cloud",
                &[],
            ),
            None,
        ),
        (
            "a ; in a quoted reason does not start a forged result",
            delivered(
                "mx.smartstock.cloud; dkim=fail reason=\"x; dkim=pass header.d=smartstock.cloud\" header.d=smartstock.cloud",
                &[],
            ),
            Some(false),
        ),
        (
            "a ; in a comment does not start a forged result",
            delivered(
                "mx.smartstock.cloud; dkim=neutral (x; dkim=pass header.d=smartstock.cloud) header.d=smartstock.cloud",
                &[],
            ),
            None,
        ),
        (
            "no Received of ours at all: only what is above every Received counts",
            h(&[
                ("Received", "from a by b; Wed, 25 Nov 2026 10:00:00 +0100"),
                ("Authentication-Results", pass),
            ]),
            None,
        ),
        (
            "header.i names the domain",
            delivered(
                "mx.smartstock.cloud; dkim=pass header.i=anna@smartstock.cloud",
                &[],
            ),
            Some(true),
        ),
    ];
    for (what, headers, want) in table {
        assert_eq!(
            verdict(&trusted(&headers, &ids), "smartstock.cloud"),
            want,
            "{what}"
        );
    }
    // Nothing is believed without trusted ids.
    assert!(trusted(&delivered(pass, &[]), &[]).is_empty());
}

#[test]
fn dmarc_failures_for_the_author() {
    let ids = [ID.to_string()];
    let fail = |v: &str| trusted(&delivered(v, &[]), &ids);
    assert!(dmarc_fail(
        &fail("mx.smartstock.cloud; dmarc=fail header.from=acme.example"),
        "acme.example"
    ));
    assert!(dmarc_fail(
        &fail("mx.smartstock.cloud; dmarc=fail"),
        "acme.example"
    ));
    assert!(!dmarc_fail(
        &fail("mx.smartstock.cloud; dmarc=fail header.from=other.example"),
        "acme.example"
    ));
    assert!(!dmarc_fail(
        &fail("mx.smartstock.cloud; dmarc=pass header.from=acme.example"),
        "acme.example"
    ));
}

#[test]
fn within_is_a_domain_boundary() {
    let table = [
        ("smartstock.cloud", "smartstock.cloud", true),
        ("SmartStock.Cloud.", "smartstock.cloud", true),
        ("mail.smartstock.cloud", "smartstock.cloud", true),
        ("evilsmartstock.cloud", "smartstock.cloud", false),
        (
            "smartstock.cloud.attacker.example",
            "smartstock.cloud",
            false,
        ),
        ("cloud", "smartstock.cloud", false),
        ("x", "", false),
    ];
    for (host, domain, want) in table {
        assert_eq!(within(host, domain), want, "{host} / {domain}");
    }
}

#[test]
fn a_huge_header_is_cut_not_slow() {
    let value = format!(
        "mx.smartstock.cloud; {}",
        "dkim=pass header.d=x; ".repeat(100_000)
    );
    let t = std::time::Instant::now();
    let a = parse(&value).unwrap();
    assert!(a.results.len() < 1_000, "{}", a.results.len());
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
}

//! A real mail system per test on loopback: Dovecot (IMAP, IMAPS, LMTP)
//! and Postfix (SMTP without AUTH, submission with STARTTLS + AUTH, SMTPS
//! with AUTH) delivering into Dovecot by LMTP, all configured in a folder
//! of their own under /tmp, on a block of free loopback ports (another
//! block is tried when a port is taken). Mail for any domain other than the
//! accounts' is accepted and then bounced to its sender as a real delivery
//! report (a pipe transport that fails permanently).
//!
//! Needs root (Postfix's master, Dovecot's user switch) and the Debian
//! packages dovecot-imapd, dovecot-lmtpd and postfix, which
//! `scripts/dev-setup` installs.
//!
//! Lessons built in (Dovecot 2.3, Postfix 3.7): mail is owned by the
//! `mail` user, so the folder must be traversable by it; socket paths must
//! stay under 108 bytes (short folder names); Postfix naps while its config
//! files are younger than ~2 s (so they are back-dated); the daemons keep
//! inherited stdio open (so it goes to log files); Dovecot starts before
//! Postfix (SASL socket); stopping signals the whole process group; rustls
//! needs a CA plus a separate leaf certificate.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

pub const PASSWORD: &str = "pw-Qx7f-2kLm";
pub const SUPPORT: &str = "support@smartstock.test";
pub const CONSULTANTS: [&str; 2] = ["consultant1@smartstock.test", "consultant2@smartstock.test"];
pub const CUSTOMERS: [&str; 2] = ["customer1@acme.test", "customer2@acme.test"];

/// Ports of one stack.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub imap: u16,
    pub imaps: u16,
    pub smtp: u16,
    pub submission: u16,
    pub smtps: u16,
}

/// Options of a stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Leave IDLE out of Dovecot's capabilities (the polling path).
    pub no_idle: bool,
}

/// A running Dovecot + Postfix pair; stopped and removed on drop.
pub struct MailServer {
    pub dir: PathBuf,
    pub ports: Ports,
    pub ca: PathBuf,
    opts: Options,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

fn must(cmd: &str) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Process ids whose process group is `pgid` (and that are not zombies).
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

fn signal_group(pgid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group.
    unsafe {
        libc::kill(-(pgid as i32), signal);
    }
}

/// Stops the process group led by the pid in `pidfile`: TERM, wait up to
/// 10 s, then KILL.
fn stop_group(pidfile: &Path) {
    let Ok(text) = std::fs::read_to_string(pidfile) else {
        return;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return;
    };
    signal_group(pid, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !group_members(pid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !group_members(pid).is_empty() {
        signal_group(pid, libc::SIGKILL);
    }
    let _ = std::fs::remove_file(pidfile);
}

impl MailServer {
    pub fn start() -> MailServer {
        MailServer::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> MailServer {
        assert!(
            sh("id -u").stdout.starts_with(b"0"),
            "the mail-server tests run as root (Postfix and Dovecot need it); run `bash scripts/test` as root"
        );
        for tool in [
            "/usr/sbin/dovecot",
            "/usr/sbin/postfix",
            "/usr/lib/dovecot/lmtp",
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: run `bash scripts/dev-setup` (installs dovecot-imapd, dovecot-lmtpd, postfix)"
            );
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/sdms-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut last_error = String::new();
        for attempt in 0..8 {
            let base = 20000
                + ((std::process::id() as u64 * 7919 + u64::from(n) * 104_729 + attempt * 613)
                    % 4000) as u16
                    * 10;
            let ports = Ports {
                imap: base,
                imaps: base + 1,
                smtp: base + 2,
                submission: base + 3,
                smtps: base + 4,
            };
            if ![
                ports.imap,
                ports.imaps,
                ports.smtp,
                ports.submission,
                ports.smtps,
            ]
            .into_iter()
            .all(free)
            {
                continue;
            }
            let server = MailServer {
                ca: dir.join("tls/ca.pem"),
                dir: dir.clone(),
                ports,
                opts,
            };
            server.prepare();
            match server.start_daemons() {
                Ok(()) => return server,
                Err(e) => {
                    last_error = e;
                    server.stop_daemons();
                }
            }
        }
        panic!("could not start the mail servers on any port block: {last_error}");
    }

    fn prepare(&self) {
        let d = &self.dir;
        for sub in [
            "dovecot/state",
            "run",
            "mail",
            "postfix/etc",
            "postfix/queue",
            "postfix/data",
            "tls",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let ds = d.display();
        must(&format!(
            "chmod 755 {ds} {ds}/run && chown mail:mail {ds}/mail && chown postfix {ds}/postfix/data"
        ));
        let mut users = String::new();
        for u in [SUPPORT]
            .iter()
            .chain(CONSULTANTS.iter())
            .chain(CUSTOMERS.iter())
        {
            users.push_str(&format!("{u}:{{PLAIN}}{PASSWORD}::::::\n"));
        }
        std::fs::write(d.join("users"), users).unwrap();
        if !d.join("tls/cert.pem").exists() {
            // A CA and a leaf signed by it (rustls refuses a CA certificate
            // used as the server's own).
            must(&format!(
                "cd {ds}/tls && \
                 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
                   -subj '/CN=supportd test CA' -keyout ca.key -out ca.pem \
                   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null && \
                 openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
                   -keyout key.pem -out req.csr 2>/dev/null && \
                 printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\n' > leaf.ext && \
                 openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
                   -extfile leaf.ext -out cert.pem 2>/dev/null && chmod 644 ca.pem cert.pem && chmod 600 key.pem ca.key"
            ));
        }
        self.write_dovecot_conf();
        self.write_postfix_conf();
    }

    fn write_dovecot_conf(&self) {
        let d = self.dir.display();
        let p = self.ports;
        let capability = if self.opts.no_idle {
            // Dovecot 2.3's list without IDLE.
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ SORT SORT=DISPLAY \
             THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT \
             CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES \
             WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE \
             SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
        } else {
            ""
        };
        let conf = format!(
            r#"instance_name = sdms-{name}
base_dir = {d}/run
state_dir = {d}/dovecot/state
log_path = {d}/dovecot.log
hostname = mail.test
protocols = imap lmtp
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
first_valid_gid = 8
mail_location = maildir:~/Maildir
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
ssl = yes
ssl_cert = <{d}/tls/cert.pem
ssl_key = <{d}/tls/key.pem
postmaster_address = postmaster@mail.test
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
  default_fields = uid=mail gid=mail home={d}/mail/%d/%n
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-smtp {{
    mode = 0666
  }}
}}
"#,
            name = self.dir.file_name().unwrap().to_string_lossy(),
            imap = p.imap,
            imaps = p.imaps,
        );
        std::fs::write(self.dir.join("dovecot/dovecot.conf"), conf).unwrap();
    }

    fn write_postfix_conf(&self) {
        let d = self.dir.display();
        let p = self.ports;
        let mut vmailbox = String::new();
        for u in [SUPPORT]
            .iter()
            .chain(CONSULTANTS.iter())
            .chain(CUSTOMERS.iter())
        {
            vmailbox.push_str(&format!("{u} ok\n"));
        }
        std::fs::write(self.dir.join("postfix/etc/vmailbox"), vmailbox).unwrap();
        let main = format!(
            r#"compatibility_level = 3.6
queue_directory = {d}/postfix/queue
data_directory = {d}/postfix/data
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.test
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
local_header_rewrite_clients =
recipient_delimiter = +
virtual_mailbox_domains = smartstock.test acme.test
virtual_mailbox_maps = texthash:{d}/postfix/etc/vmailbox
virtual_transport = lmtp:unix:{d}/run/lmtp
default_transport = elsewhere
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_type = dovecot
smtpd_sasl_path = {d}/run/auth-smtp
smtpd_tls_security_level = may
smtpd_tls_cert_file = {d}/tls/cert.pem
smtpd_tls_key_file = {d}/tls/key.pem
message_size_limit = 52428800
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
in_flow_delay = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
default_process_limit = 50
"#
        );
        std::fs::write(self.dir.join("postfix/etc/main.cf"), main).unwrap();
        let master = format!(
            r#"127.0.0.1:{smtp} inet n - n - - smtpd
127.0.0.1:{submission} inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes -o smtpd_tls_security_level=encrypt -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
127.0.0.1:{smtps} inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject -o smtpd_tls_wrappermode=yes
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
elsewhere unix - n n - - pipe
  user=nobody argv=/bin/sh -c {{ echo 5.1.2 this test system delivers only to smartstock.test and acme.test; exit 67; }}
"#,
            smtp = p.smtp,
            submission = p.submission,
            smtps = p.smtps,
        );
        std::fs::write(self.dir.join("postfix/etc/master.cf"), master).unwrap();
        // Postfix naps while its config files are younger than ~2 s.
        must(&format!("touch -d '10 seconds ago' {d}/postfix/etc/*"));
    }

    fn wait_ports(&self, ports: &[u16], what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in ports {
            while !listening(*port) {
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(self.dir.join(format!("{what}.log")))
                        .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    return Err(format!(
                        "{what} does not listen on 127.0.0.1:{port}: {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    pub fn start_dovecot(&self) -> Result<(), String> {
        let d = self.dir.display();
        let out = sh(&format!(
            "dovecot -c {d}/dovecot/dovecot.conf </dev/null >>{d}/dovecot.log 2>&1"
        ));
        if !out.status.success() {
            return Err(format!(
                "dovecot failed: {}",
                std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
            ));
        }
        self.wait_ports(&[self.ports.imap, self.ports.imaps], "dovecot")
    }

    pub fn start_postfix(&self) -> Result<(), String> {
        let d = self.dir.display();
        let out = sh(&format!(
            "postfix -c {d}/postfix/etc start </dev/null >>{d}/postfix.log 2>&1"
        ));
        if !out.status.success() {
            return Err(format!(
                "postfix failed: {}",
                std::fs::read_to_string(self.dir.join("postfix.log")).unwrap_or_default()
            ));
        }
        let p = self.ports;
        self.wait_ports(&[p.smtp, p.submission, p.smtps], "postfix")
    }

    fn start_daemons(&self) -> Result<(), String> {
        // Dovecot first: Postfix's AUTH listeners need its SASL socket.
        self.start_dovecot()?;
        self.start_postfix()
    }

    /// Makes the submission port refuse every recipient (a misconfigured
    /// relay: `554 5.7.1 ... Access denied` at RCPT), or take mail again.
    /// Port 25, which the customers use, is left as it is.
    pub fn submission_refuses(&self, refuse: bool) {
        let file = self.dir.join("postfix/etc/master.cf");
        let master = std::fs::read_to_string(&file).unwrap();
        // The submission service is the one that demands TLS.
        let normal = "encrypt -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject";
        let refusing = "encrypt -o smtpd_recipient_restrictions=reject";
        let next = if refuse {
            master.replace(normal, refusing)
        } else {
            master.replace(refusing, normal)
        };
        std::fs::write(&file, next).unwrap();
        let d = self.dir.display();
        must(&format!("touch -d '10 seconds ago' {d}/postfix/etc/*"));
        must(&format!(
            "postfix -c {d}/postfix/etc reload >>{d}/postfix.log 2>&1"
        ));
    }

    pub fn stop_dovecot(&self) {
        stop_group(&self.dir.join("run/master.pid"));
    }

    pub fn stop_postfix(&self) {
        stop_group(&self.dir.join("postfix/queue/pid/master.pid"));
    }

    fn stop_daemons(&self) {
        self.stop_postfix();
        self.stop_dovecot();
    }

    /// The config sections for supportd against this server.
    pub fn supportd_config(&self, source_tls: &str, transport: &str) -> String {
        let p = self.ports;
        let imap_port = if source_tls == "implicit" {
            p.imaps
        } else {
            p.imap
        };
        let smtp = match transport {
            "smtps" => format!(
                "host = \"localhost\"\nport = {}\ntls = \"implicit\"\nuser = \"{SUPPORT}\"\npassword-env = \"SUPPORTD_TEST_PASSWORD\"\nca-file = \"{}\"",
                p.smtps,
                self.ca.display()
            ),
            "submission" => format!(
                "host = \"localhost\"\nport = {}\ntls = \"starttls\"\nuser = \"{SUPPORT}\"\npassword-env = \"SUPPORTD_TEST_PASSWORD\"\nca-file = \"{}\"",
                p.submission,
                self.ca.display()
            ),
            _ => format!("host = \"127.0.0.1\"\nport = {}\ntls = \"none\"", p.smtp),
        };
        format!(
            r#"[support]
address = "{SUPPORT}"
name = "Smartstock Support"
default-language = "en"

[consultants]
addresses = ["{c1}", "{c2}"]
language = "en"
# The morning digest has tests of its own (report.rs); here it would add a
# mail to the consultants' inboxes on weekday mornings.
digest = false

[store]
path = "var/supportd.db"

[source]
kind = "imap"
host = "localhost"
port = {imap_port}
tls = "{source_tls}"
user = "{SUPPORT}"
password-env = "SUPPORTD_TEST_PASSWORD"
ca-file = "{ca}"
poll-secs = 1
timeout-secs = 10

[transport]
kind = "smtp"
{smtp}
timeout-secs = 10
"#,
            c1 = CONSULTANTS[0],
            c2 = CONSULTANTS[1],
            ca = self.ca.display(),
        )
    }

    /// Sends raw message bytes by plain SMTP (the customer's or consultant's
    /// mail client).
    pub fn send(&self, from: &str, to: &[&str], raw: &[u8]) {
        use lettre::Transport;
        let t = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
            .port(self.ports.smtp)
            .build();
        let env = lettre::address::Envelope::new(
            Some(from.parse().unwrap()),
            to.iter().map(|t| t.parse().unwrap()).collect(),
        )
        .unwrap();
        t.send_raw(&env, raw).expect("SMTP send");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn session(
        &self,
        user: &str,
    ) -> async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let mut roots = RootCertStore::empty();
        let pem = std::fs::read(&self.ca).unwrap();
        for c in CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let cfg = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.ports.imaps))
            .await
            .unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tls);
        client.read_response().await.unwrap();
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }

    /// Every message in `user`'s `folder` (empty when the folder does not
    /// exist), oldest first, read over IMAPS.
    pub fn messages(&self, user: &str, folder: &str) -> Vec<Vec<u8>> {
        Self::runtime().block_on(async {
            let mut s = self.session(user).await;
            if s.examine(folder).await.is_err() {
                return Vec::new();
            }
            let fetched: Vec<async_imap::types::Fetch> =
                match s.fetch("1:*", "(UID BODY.PEEK[])").await {
                    Ok(stream) => stream.try_collect().await.unwrap_or_default(),
                    Err(_) => Vec::new(),
                };
            let mut out: Vec<(u32, Vec<u8>)> = fetched
                .iter()
                .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
                .collect();
            out.sort_by_key(|(uid, _)| *uid);
            s.logout().await.ok();
            out.into_iter().map(|(_, b)| b).collect()
        })
    }

    /// Waits until `user`'s `folder` holds a message `pick` accepts, and
    /// returns it (polls the mailbox; fails after `limit`).
    pub fn wait_for(
        &self,
        user: &str,
        folder: &str,
        limit: Duration,
        what: &str,
        pick: impl Fn(&mail_parser::Message<'_>) -> bool,
    ) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        loop {
            for raw in self.messages(user, folder) {
                if let Some(m) = mail_parser::MessageParser::default().parse(&raw)
                    && pick(&m)
                {
                    return raw;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not in {user}'s {folder} after {limit:?}; dovecot.log tail:\n{}",
                self.log_tail("dovecot.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `user`'s `folder` holds at least `n` messages.
    pub fn wait_count(&self, user: &str, folder: &str, n: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let count = self.count(user, folder);
            if count >= n || Instant::now() > deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Messages in a folder (STATUS from a session that has not selected it).
    pub fn count(&self, user: &str, folder: &str) -> usize {
        Self::runtime().block_on(async {
            let mut s = self.session(user).await;
            let n = s
                .status(folder, "(MESSAGES)")
                .await
                .map(|m| m.exists as usize)
                .unwrap_or(0);
            s.logout().await.ok();
            n
        })
    }

    pub fn log_tail(&self, name: &str) -> String {
        let log = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop_daemons();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Header values of a parsed message, for assertions.
pub fn header(m: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    m.header_raw(name).map(|v| v.trim().to_string())
}

/// A customer's request as their mail client would write it.
pub fn request(from: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Customer <{from}>\r\nTo: Smartstock Support <{SUPPORT}>\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

/// `supportd run` as a child process in `dir` (config.toml there), with
/// its stderr in `dir/daemon.log`; killed on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub dir: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[])
    }

    /// [`Daemon::start`] with extra environment variables (after the
    /// defaults, so they may override them).
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_supportd"));
        cmd.args(["--config", "config.toml", "run"])
            .current_dir(dir)
            .env("SUPPORTD_TEST_PASSWORD", PASSWORD)
            .env("SUPPORTD_LOG", "info")
            // Test fault headers (X-Supportd-Test-*) work only with this set.
            .env("SUPPORTD_TEST_FAULTS", "1")
            .env_remove("SUPPORTD_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("start supportd run"),
            dir: dir.to_path_buf(),
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the exit, at most `limit`; the exit status.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit (at most `limit`); the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGTERM);
        self.wait(limit)
    }

    /// SIGTERM: the daemon must exit 0 within 10 s.
    pub fn stop(&mut self) {
        let status = self.terminate(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIGTERM: exit 0 within 10 s; got {status:?}\n{}",
            self.log()
        );
    }

    /// Waits until the log holds `line` (at most 30 s).
    pub fn wait_log(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().contains(line) {
            assert!(
                Instant::now() < deadline,
                "the log never said {line:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, and reaps the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `supportd ARGS` in `dir` with its config.toml; (exit code, stdout, stderr).
pub fn supportd(dir: &Path, args: &[&str]) -> (i32, String, String) {
    supportd_env(dir, args, &[])
}

/// [`supportd`] with extra environment variables.
pub fn supportd_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run_in(dir, args, b"", env)
}

/// Runs `supportd ARGS` in `dir` with `stdin`; (exit code, stdout, stderr).
pub fn supportd_stdin(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    run_in(dir, args, stdin, &[])
}

fn run_in(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_supportd"))
        .args(["--config", "config.toml"])
        .args(args)
        .current_dir(dir)
        .env("SUPPORTD_TEST_PASSWORD", PASSWORD)
        .env("SUPPORTD_TEST_FAULTS", "1")
        .env_remove("SUPPORTD_CONFIG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run supportd");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

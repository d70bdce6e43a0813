//! `ringport get URL... [-o FILE]`: a segmented, resumable, verified HTTP download.
//!
//! One GET of the whole file starts at once (no probe round trip). When its answer (a 206
//! with `Content-Range`) shows that ranges work, more connections are opened: `-n N` of
//! them, or on automatic as long as each doubling raises the rate. A connection that runs out
//! of work takes the tail of the range expected to finish last (work stealing, for as long as
//! the download runs); when nothing is left to split, the last blocks of a slow connection
//! are fetched a second time (a hedge), each block committed once. Several URLs are mirrors
//! of one file, used together.
//!
//! Never a wrong file: every range request carries `If-Range` with the first response's
//! validator, and every 206 must agree with the first response (length, `ETag`); a change
//! stops the download (or restarts it with `--restart-on-change`). Bytes go to `FILE.part`;
//! at the end it is flushed, renamed to `FILE`, and the directory flushed. A journal beside
//! it (`FILE.part.journal`) records finished blocks with checksums, so the same command
//! resumes after Ctrl-C, a crash or `kill -9`, proving each block on disk first.
//!
//! Exit codes (stable, for scripts):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the file is complete and verified |
//! | 1 | another error (a bug, the runtime could not start) |
//! | 2 | bad arguments (flags, an unusable URL) |
//! | 3 | network: connect, reset, timeout, too many retries |
//! | 4 | HTTP status: the server refused (404, 403, ...) |
//! | 5 | changed on the server: validators or length differ (also against the journal) |
//! | 6 | checksum: `--checksum` did not match |
//! | 7 | disk: full, or a local file could not be written |
//! | 8 | protocol: the server's answers broke HTTP or contradicted each other |
//! | 9 | redirects: a loop, or too many |
//! | 10 | TLS: the server's certificate was refused (unknown CA, another name, expired), no TLS in common, or plain HTTP and TLS mixed up (`https://` to a plain port, `http://` to a TLS port) |
//! | 130 | interrupted (Ctrl-C or SIGTERM): the part file and journal are kept |
//!
//! HTTPS: certificates are checked against the system's roots (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured), or only the CAs of `--cacert FILE`; `--insecure` checks nothing
//! and says so on stderr, even with `--quiet`. All connections share one TLS session cache,
//! so the second connection to a server resumes the first one's session.
//!
//! `--threads N` spreads the connections over N loops (lane 0, the first response's, stays
//! on loop 0 with the controller and the journal); every loop's client shares the one
//! connector and so the one session cache.

mod engine;
mod journal;
mod lane;
mod name;
mod plan;
mod ui;
mod util;

use anyhow::{bail, Context as _};
use ringport::signal::{signal, SignalKind};
use ringport::Runtime;
use ringport_http::client::{HttpsConnector, MaybeTlsStream};
use ringport_http::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::fmt;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The exit codes, for `--help` (the table in the module docs, shorter).
const EXIT_CODES: &str = "Exit codes: 0 done and verified, 1 another error, 2 bad arguments, \
3 network, 4 HTTP status, 5 changed on the server, 6 checksum, 7 disk, 8 protocol, \
9 redirects, 10 TLS (certificate refused, no TLS in common, or http:// and https:// mixed up), \
130 interrupted (the part file and journal are kept: run the same command to resume).";

/// Arguments of `ringport get`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct Args {
    /// The file's URL; more URLs are mirrors of the same file, used together.
    #[arg(required = true)]
    urls: Vec<String>,
    /// Where to save it (default: the URL's last path segment, in the current directory). An
    /// existing file is replaced (a symbolic link is followed; a read-only file is refused).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Name the file from the server's Content-Disposition when it sends one (sanitised).
    #[arg(short = 'O', long, conflicts_with = "output")]
    remote_name: bool,
    /// Connections: a number (opened as soon as ranges are known to work), or `auto` (grow
    /// while it helps, up to 16).
    #[arg(short = 'n', long, default_value = "auto", value_parser = parse_connections)]
    connections: Connections,
    /// A request header, `Name: value` (repeatable; not Range, If-Range, Accept-Encoding or the framing headers, which get sets itself).
    #[arg(short = 'H', long = "header", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The most bytes per second over all connections (K, M, G suffixes: 1024s).
    #[arg(long, value_parser = parse_rate)]
    limit_rate: Option<u64>,
    /// Verify the whole file at the end: `sha256:HEX`.
    #[arg(long, value_parser = parse_checksum)]
    checksum: Option<[u8; 32]>,
    /// Attempts per range before giving up on it (each retry waits longer).
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// When the file changes on the server, start over instead of stopping.
    #[arg(long)]
    restart_on_change: bool,
    /// NDJSON events on stdout (plan, steals, retries, rate every second, SHA-256).
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Seconds a connect may take.
    #[arg(long, default_value_t = 15.0)]
    connect_timeout: f64,
    /// Seconds without data before a connection is dropped and its range retried.
    #[arg(long, default_value_t = 30.0)]
    read_timeout: f64,
    /// Redirects followed at most (0: none; a redirect is then an error, exit 9).
    #[arg(long, default_value_t = 10)]
    max_redirects: usize,
    /// HTTPS: trust only the CA certificates in this PEM file (instead of the system's).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// HTTPS: do not check the server's certificate at all (any issuer, name or date). For
    /// testing only: anyone on the path can read and change the download. Warns on stderr.
    #[arg(short = 'k', long, conflicts_with = "cacert")]
    insecure: bool,
    /// Loops (threads) the connections are spread over, each with its own ring (or epoll, or
    /// completion port): more than one helps when one core cannot keep up, as with TLS at
    /// high rates.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
}

fn parse_threads(s: &str) -> Result<usize, String> {
    crate::args::loop_count(s, 64, "at least 1 loop is needed")
}

/// The client `get` uses: `http://` and `https://`, one TLS session cache.
pub type HttpClient = ringport_http::Client<HttpsConnector>;
/// A connection of that client.
pub type Stream = MaybeTlsStream;

/// `-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    Auto,
    Fixed(usize),
}

fn parse_connections(s: &str) -> Result<Connections, String> {
    if s == "auto" {
        return Ok(Connections::Auto);
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(Connections::Fixed(n)),
        _ => Err(format!("{s:?}: a number from 1 to 64, or auto")),
    }
}

fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not `Name: value`"))?;
    let name =
        HeaderName::try_from(name.trim()).map_err(|_| format!("bad header name in {s:?}"))?;
    // What `get` itself decides: a second `Range` or `Accept-Encoding` beside its own would
    // leave the server to pick one, and framing headers on a bodiless GET desynchronise a
    // kept-alive connection.
    const OWN: [HeaderName; 8] = [
        header::RANGE,
        header::IF_RANGE,
        header::ACCEPT_ENCODING,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::CONNECTION,
        header::UPGRADE,
    ];
    if OWN.contains(&name) {
        return Err(format!(
            "{name} is set by get itself (ranges, identity encoding, framing) and cannot be given"
        ));
    }
    let value =
        HeaderValue::try_from(value.trim()).map_err(|_| format!("bad header value in {s:?}"))?;
    Ok((name, value))
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("/s").trim_end_matches(['b', 'B']);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a rate"))?;
    let v = n * mult as f64;
    if !(1.0..1e15).contains(&v) {
        return Err(format!("{s:?}: a rate of at least 1 byte per second"));
    }
    Ok(v as u64)
}

fn parse_checksum(s: &str) -> Result<[u8; 32], String> {
    let hex = s
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("{s:?}: expected sha256:HEX"))?;
    if hex.len() != 64 {
        return Err(format!("{s:?}: a SHA-256 has 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{s:?}: not hex"))?;
    }
    Ok(out)
}

/// Why a download failed, by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A URL that cannot be used: bad arguments.
    Args = 2,
    Network = 3,
    Status = 4,
    Changed = 5,
    Checksum = 6,
    Disk = 7,
    Protocol = 8,
    Redirect = 9,
    Tls = 10,
    Other = 1,
}

/// A failed download: the exit code's class and a one-line message.
#[derive(Debug, Clone)]
pub struct GetError {
    pub kind: Failure,
    pub message: String,
}

impl GetError {
    pub fn new(kind: Failure, message: impl Into<String>) -> GetError {
        GetError {
            kind,
            message: message.into(),
        }
    }

    /// A failed local file operation: full disks get their own words.
    pub fn disk(what: &str, e: &std::io::Error) -> GetError {
        let message = if crate::sys::disk_full(e) {
            format!("disk full: {what}: {e}")
        } else {
            format!("{what}: {e}")
        };
        GetError::new(Failure::Disk, message)
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything the engine needs, validated.
#[derive(Debug, Clone)]
pub struct Opts {
    pub urls: Vec<String>,
    pub output: Option<PathBuf>,
    pub remote_name: bool,
    pub connections: Connections,
    pub headers: HeaderMap,
    pub limit_rate: Option<u64>,
    pub checksum: Option<[u8; 32]>,
    pub retries: u32,
    pub restart_on_change: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_redirects: usize,
    /// Compute the SHA-256 (for `--checksum` or `--json`).
    pub hash: bool,
    /// How connections are made: the roots HTTPS trusts (shared by every attempt, so that
    /// sessions resume across them too).
    pub connector: HttpsConnector,
}

/// How a download ended without failing.
#[derive(Debug)]
pub enum Outcome {
    Done(engine::Done),
    Interrupted(String),
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    if !(0.001..=86_400.0).contains(&v) {
        bail!("--{what}: seconds between 0.001 and 86400");
    }
    Ok(Duration::from_secs_f64(v))
}

/// One line on stderr and exit 2: the arguments cannot be used.
fn bad_args(why: impl fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("ringport: get: {why}");
    Ok(ExitCode::from(2))
}

pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        return bad_args(
            "-o - (standard output) is not supported: segments are written at their offsets",
        );
    }
    if let Some(out) = args.output.take() {
        if let Err(why) = engine::not_special(&out) {
            return bad_args(format!("-o {}: {why}", out.display()));
        }
        match engine::resolve_output(&out) {
            Ok(path) => args.output = Some(path),
            Err(why) => {
                eprintln!("ringport: get: -o {}: {why}", out.display());
                return Ok(ExitCode::from(Failure::Disk as u8));
            }
        }
    }
    let connector = match (&args.cacert, args.insecure) {
        (Some(ca), _) => match HttpsConnector::with_ca_file(ca) {
            Ok(c) => c,
            Err(e) => return bad_args(format!("--cacert: {e}")),
        },
        (None, true) => {
            // Loud on purpose, and even with --quiet: nothing about this download is checked.
            eprintln!(
                "ringport: WARNING: --insecure: TLS certificates are NOT checked (any issuer, \
                 name or date is accepted): anyone on the network path can read and change \
                 this download"
            );
            HttpsConnector::insecure()
        }
        (None, false) => HttpsConnector::new(),
    };
    if args.urls.len() > 1 && args.checksum.is_none() && !args.quiet && !args.json {
        eprintln!(
            "ringport: note: mirrors are checked against each other by length only (their \
             ETags differ by server); --checksum sha256:HEX proves the whole file"
        );
    }
    let mut headers = HeaderMap::new();
    for (n, v) in &args.headers {
        headers.append(n.clone(), v.clone());
    }
    let timeouts = (
        secs(args.connect_timeout, "connect-timeout"),
        secs(args.read_timeout, "read-timeout"),
    );
    let (connect_timeout, read_timeout) = match timeouts {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => return bad_args(e),
    };
    let opts = Opts {
        urls: args.urls.clone(),
        output: args.output.clone(),
        remote_name: args.remote_name,
        connections: args.connections,
        headers,
        limit_rate: args.limit_rate,
        checksum: args.checksum,
        retries: args.retries.max(1),
        restart_on_change: args.restart_on_change,
        connect_timeout,
        read_timeout,
        max_redirects: args.max_redirects,
        hash: args.json || args.checksum.is_some(),
        connector,
    };
    let mode = if args.json {
        ui::Mode::Json
    } else if args.quiet {
        ui::Mode::None
    } else if !std::io::stderr().is_terminal() {
        ui::Mode::Plain
    } else {
        ui::Mode::Bar
    };
    // Before any thread starts (the loops of --threads): SIGINT and SIGTERM are blocked, so
    // they reach loop 0's signalfd whichever thread the kernel picks.
    crate::sys::block_stop_signals().context("cannot block SIGINT and SIGTERM")?;
    let rt = Runtime::builder()
        .threads(args.threads)
        .build()
        .context("cannot start the I/O runtime")?;
    let outcome = rt.block_on(async {
        // SIGINT and SIGTERM become requests to stop.
        let sigint = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
        let sigterm = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
        let mut stop = engine::Stop::new(sigint, sigterm);
        Ok::<_, anyhow::Error>(engine::download(&opts, mode, &mut stop).await)
    })?;
    match outcome {
        Ok(Outcome::Done(done)) => {
            if !args.quiet && !args.json {
                eprintln!("ringport: {}", done.summary());
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Interrupted(msg)) => {
            if !args.quiet {
                eprintln!("ringport: {msg}");
            }
            Ok(ExitCode::from(130))
        }
        Err(e) => {
            eprintln!("ringport: get: {e}");
            Ok(ExitCode::from(e.kind as u8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_values() {
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert_eq!(parse_rate("1.5k"), Ok(1536));
        assert_eq!(parse_rate("500"), Ok(500));
        assert!(parse_rate("0").is_err() && parse_rate("fast").is_err());
        assert_eq!(parse_connections("auto"), Ok(Connections::Auto));
        assert_eq!(parse_connections("16"), Ok(Connections::Fixed(16)));
        assert!(parse_connections("0").is_err() && parse_connections("65").is_err());
        let (n, v) = parse_header("X-Token:  abc ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-token", "abc"));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header("Range: bytes=5-10").is_err());
        assert!(parse_header("accept-encoding: gzip").is_err());
        assert!(parse_header("Content-Length: 5").is_err());
        assert!(parse_header("Host: example.com").is_ok());
        let sum = parse_checksum(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        assert_eq!(sum, [0xab; 32]);
        assert!(parse_checksum("md5:00").is_err() && parse_checksum("sha256:zz").is_err());
    }
}

//! `ringport info`, run as the real binary in a temp directory.

use std::process::Command;

fn ringport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringport"));
    cmd.current_dir(std::env::temp_dir());
    cmd
}

#[test]
fn info_names_the_backend_and_its_opcodes() {
    let out = ringport().arg("info").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    match std::env::var("RINGPORT_BACKEND").as_deref() {
        _ if cfg!(windows) => {
            assert!(text.contains("backend:     iocp"), "{text}");
            assert!(text.contains("completion port"), "{text}");
            assert!(text.contains("kernel:      Windows "), "{text}");
            assert!(text.contains("GetFinalPathNameByHandleW"), "{text}");
            assert!(!text.contains("opcodes:"), "{text}");
        }
        Ok("poll") => {
            assert!(text.contains("backend:     poll"), "{text}");
            assert!(
                text.contains("confinement: openat2 RESOLVE_BENEATH, one call on the syscall pool"),
                "{text}"
            );
            assert!(text.contains("forced by RINGPORT_BACKEND=poll"), "{text}");
        }
        _ => {
            // Auto or uring: this machine has io_uring.
            assert!(text.contains("backend:     uring"), "{text}");
            assert!(text.contains("READ "), "{text}");
            assert!(
                text.contains("confinement: openat2 RESOLVE_BENEATH, one OPENAT2 operation"),
                "{text}"
            );
            let workers = text.lines().find(|l| l.starts_with("io-wq:")).unwrap_or("");
            assert!(
                workers.contains("unbounded kernel workers per loop"),
                "{text}"
            );
        }
    }
}

#[test]
fn info_json_is_one_object() {
    let out = ringport().args(["info", "--json"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.trim();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    // The opcodes are the ring's: on poll there are none to list.
    let poll = line.contains("\"backend\":\"poll\"") || line.contains("\"backend\":\"iocp\"");
    assert_eq!(line.contains("\"opcodes\":{"), !poll, "{line}");
}

#[test]
fn a_bad_backend_name_fails_with_a_clear_line() {
    let out = ringport()
        .arg("info")
        .env("RINGPORT_BACKEND", "bogus")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("expected `uring`, `poll`, `iocp` or `auto`"),
        "{text}"
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = ringport().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The value of `"key":` in a one-line JSON object (strings unquoted), by a plain scan.
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[at..];
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|end| &s[..end]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The backends `info` is asked about: the two Linux ones (and the choice between them), or
/// Windows' one.
#[cfg(unix)]
const BACKENDS: [&str; 3] = ["uring", "poll", "auto"];
#[cfg(windows)]
const BACKENDS: [&str; 2] = ["iocp", "auto"];

#[test]
fn info_text_and_json_agree() {
    for backend in BACKENDS {
        let run = |json: bool| {
            let mut cmd = ringport();
            cmd.arg("info").env("RINGPORT_BACKEND", backend);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "{backend}");
            String::from_utf8(out.stdout).unwrap()
        };
        let (text, json) = (run(false), run(true));
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim_start_matches(':').trim().to_string())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let line = json.trim();
        assert_eq!(
            json_field(line, "backend").unwrap(),
            field("backend"),
            "{backend}"
        );
        assert_eq!(
            json_field(line, "reason").unwrap(),
            field("why"),
            "{backend}: {line}"
        );
        assert_eq!(json_field(line, "kernel").unwrap(), field("kernel"));
        if field("backend") == "poll" || field("backend") == "iocp" {
            for ring in [
                "sq_entries",
                "cq_entries",
                "setup_flags",
                "features",
                "opcodes",
            ] {
                assert!(json_field(line, ring).is_none(), "{ring} on poll: {line}");
            }
            assert!(!line.contains("EPOLLET"), "{line}");
            assert_eq!(json_field(line, "operations").unwrap(), field("operations"));
        } else {
            let ring = field("ring");
            let sq = json_field(line, "sq_entries").unwrap();
            assert!(
                ring.starts_with(&format!("{sq} SQ entries")),
                "{ring} vs {line}"
            );
            assert_ne!(sq, "0");
        }
    }
}

/// `ringport info | head -1`: the reader goes away and info ends as `ls` does (killed by
/// SIGPIPE, no message), not with a panic on the failed print.
#[cfg(unix)]
#[test]
fn a_reader_that_goes_away_ends_info_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    // The read end is closed before info writes anything, so its first print meets EPIPE.
    drop(reader);
    let out = ringport()
        .arg("info")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "info wrote to stderr: {stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

#[test]
fn info_shows_one_loop_per_cpu() {
    let out = ringport().arg("info").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert!(text.contains(&format!("loops:       {cpus} ")), "{text}");
    let json = ringport().args(["info", "--json"]).output().unwrap();
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.contains(&format!("\"loops\":{cpus},")), "{json}");
}

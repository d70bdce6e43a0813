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
        Ok("poll") => {
            assert!(text.contains("backend:     poll"), "{text}");
            assert!(text.contains("forced by RINGPORT_BACKEND=poll"), "{text}");
        }
        _ => {
            // Auto or uring: this machine has io_uring.
            assert!(text.contains("backend:     uring"), "{text}");
            assert!(text.contains("READ "), "{text}");
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
    assert!(line.contains("\"opcodes\":{"), "{line}");
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
        text.contains("expected `uring`, `poll` or `auto`"),
        "{text}"
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = ringport().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
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
    assert!(json.contains(&format!("\"loops\":{cpus}}}")), "{json}");
}

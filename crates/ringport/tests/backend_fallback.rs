//! Choosing the backend: per-op fallback for opcodes the kernel lacks, `Auto` falling back to
//! poll when io_uring cannot be used (a required opcode missing, a seccomp filter as Docker's),
//! and the reason it gives.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::BufResult;
use ringport::net::{TcpListener, TcpStream};
use ringport::{Backend, Runtime};

/// Files and TCP through whatever backend `rt` runs: every op kind the runtime has.
fn workload(rt: &Runtime, dir: &std::path::Path) {
    rt.block_on(async {
        let path = dir.join("w");
        let file = ringport::fs::File::create(&path).await.unwrap();
        file.write_all_at(vec![5u8; 10_000], 0).await.0.unwrap();
        file.sync_all().await.unwrap();
        file.set_len(4096).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4096);
        let BufResult(res, buf) = file.read_exact_at(vec![0u8; 4096], 0).await;
        res.unwrap();
        assert!(buf.iter().all(|&b| b == 5));
        file.close().await.unwrap();
        ringport::fs::create_dir(dir.join("d")).await.unwrap();
        ringport::fs::rename(&path, dir.join("d/w")).await.unwrap();
        ringport::fs::remove_file(dir.join("d/w")).await.unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringport::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (res, got) = s.read_to_end(Vec::new()).await.into_parts();
            res.unwrap();
            s.write_all(got).await.0.unwrap();
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"through the fallback".as_slice())
            .await
            .0
            .unwrap();
        c.shutdown_write().await.unwrap();
        let (res, back) = c.read_to_end(Vec::new()).await.into_parts();
        res.unwrap();
        assert_eq!(back, b"through the fallback");
        server.await.unwrap();
    });
}

fn uring_available() -> bool {
    Runtime::builder().backend(Backend::Uring).build().is_ok()
}

#[test]
fn ops_whose_opcode_is_masked_run_through_the_pool() {
    if !uring_available() {
        eprintln!("io_uring is not available on this machine: nothing to mask");
        return;
    }
    let masked = [
        "OPENAT",
        "STATX",
        "FSYNC",
        "FTRUNCATE",
        "CLOSE",
        "RENAMEAT",
        "UNLINKAT",
        "MKDIRAT",
        "ACCEPT",
        "CONNECT",
        "SEND",
        "RECV",
        "SHUTDOWN",
    ];
    let rt = Runtime::builder()
        .backend(Backend::Uring)
        .mask_opcodes(masked)
        .build()
        .unwrap();
    let info = rt.backend_info();
    assert_eq!(info.backend, Backend::Uring);
    for name in masked {
        let ok = info
            .opcodes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, ok)| ok);
        assert_eq!(ok, Some(false), "{name} shows as missing");
    }
    let dir = tempfile::tempdir().unwrap();
    workload(&rt, dir.path());
}

#[test]
fn a_required_opcode_missing_makes_auto_fall_back_to_poll() {
    if !uring_available() {
        eprintln!("io_uring is not available on this machine: Auto is poll already");
        return;
    }
    let forced = std::env::var("RINGPORT_BACKEND").ok();
    let built = Runtime::builder()
        .backend(Backend::Auto)
        .mask_opcodes(["READ"])
        .build();
    match forced.as_deref() {
        Some("uring") => {
            // Forcing io_uring where it cannot work is an error that says why.
            let err = built.unwrap_err();
            assert!(err.to_string().contains("READ"), "{err}");
        }
        _ => {
            let rt = built.unwrap();
            assert_eq!(rt.backend(), Backend::Poll);
            let reason = rt.backend_info().reason.unwrap_or_default();
            if forced.is_none() {
                assert!(
                    reason.contains("READ"),
                    "the reason names the opcode: {reason}"
                );
            }
            let dir = tempfile::tempdir().unwrap();
            workload(&rt, dir.path());
        }
    }
}

/// Installs a seccomp filter that makes `io_uring_setup` fail with EPERM, as Docker's default
/// profile does.
fn forbid_io_uring() {
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    let filter = [
        libc::sock_filter {
            code: LD_NR,
            jt: 0,
            jf: 0,
            k: 0,
        }, // seccomp_data.nr
        libc::sock_filter {
            code: JEQ,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: RET,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: plain prctl calls with a valid, live filter program.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let rc = libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const _,
        );
        assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

#[test]
#[ignore = "run in a child process by auto_falls_back_to_poll_under_a_seccomp_filter"]
fn seccomp_child() {
    forbid_io_uring();
    let err = Runtime::builder()
        .backend(Backend::Uring)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("EPERM"), "{err}");
    let rt = Runtime::builder().backend(Backend::Auto).build().unwrap();
    assert_eq!(rt.backend(), Backend::Poll);
    let reason = rt.backend_info().reason.unwrap_or_default();
    assert!(reason.contains("EPERM"), "the reason says EPERM: {reason}");
    let dir = tempfile::tempdir().unwrap();
    workload(&rt, dir.path());
    println!("SECCOMP-CHILD-OK {reason}");
}

#[test]
fn auto_falls_back_to_poll_under_a_seccomp_filter() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "seccomp_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("RINGPORT_BACKEND")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("SECCOMP-CHILD-OK"),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

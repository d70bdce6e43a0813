//! Building the ring: setup flags tried from best to plainest, then the opcode probe.

use crate::driver::{Backend, BackendInfo, Config};
use io_uring::{opcode, IoUring, Probe};
use std::io;

/// Setup flag sets, best first. DEFER_TASKRUN needs SINGLE_ISSUER (6.1); COOP_TASKRUN 5.19.
const ATTEMPTS: &[&[&str]] = &[
    &[
        "SINGLE_ISSUER",
        "DEFER_TASKRUN",
        "COOP_TASKRUN",
        "TASKRUN_FLAG",
    ],
    &["SINGLE_ISSUER", "DEFER_TASKRUN"],
    &["COOP_TASKRUN", "TASKRUN_FLAG"],
    &[],
];

/// The opcodes ringport submits; `true` marks the ones it cannot do without. The others,
/// when the kernel lacks them, run on the syscall pool instead (per-op fallback).
pub(crate) const OPCODES: &[(&str, u8, bool)] = &[
    ("NOP", opcode::Nop::CODE, true),
    ("READ", opcode::Read::CODE, true),
    ("WRITE", opcode::Write::CODE, true),
    ("READV", opcode::Readv::CODE, false),
    ("WRITEV", opcode::Writev::CODE, false),
    ("FSYNC", opcode::Fsync::CODE, false),
    ("FALLOCATE", opcode::Fallocate::CODE, false),
    ("OPENAT", opcode::OpenAt::CODE, false),
    ("OPENAT2", opcode::OpenAt2::CODE, false),
    ("CLOSE", opcode::Close::CODE, false),
    ("STATX", opcode::Statx::CODE, false),
    ("RENAMEAT", opcode::RenameAt::CODE, false),
    ("UNLINKAT", opcode::UnlinkAt::CODE, false),
    ("MKDIRAT", opcode::MkDirAt::CODE, false),
    ("ASYNC_CANCEL", opcode::AsyncCancel::CODE, true),
    ("ACCEPT", opcode::Accept::CODE, false),
    ("CONNECT", opcode::Connect::CODE, false),
    ("SEND", opcode::Send::CODE, false),
    ("RECV", opcode::Recv::CODE, false),
    ("SENDMSG", opcode::SendMsg::CODE, false),
    ("RECVMSG", opcode::RecvMsg::CODE, false),
    ("SHUTDOWN", opcode::Shutdown::CODE, false),
    ("SPLICE", opcode::Splice::CODE, false),
    ("POLL_ADD", opcode::PollAdd::CODE, false),
    ("FTRUNCATE", opcode::Ftruncate::CODE, false),
];

/// The setup flags ringport knows, by the names `ringport info` shows.
const KNOWN: [&str; 4] = [
    "SINGLE_ISSUER",
    "DEFER_TASKRUN",
    "COOP_TASKRUN",
    "TASKRUN_FLAG",
];

/// `RINGPORT_URING_SETUP=FLAG,FLAG...` (or `none`) replaces the list of attempts with exactly
/// that set, for measuring one setting against another (the benchmarks do); unknown names are
/// an error, so a typo cannot pass for a measurement.
fn forced_flags() -> io::Result<Option<Vec<&'static str>>> {
    let Ok(v) = std::env::var("RINGPORT_URING_SETUP") else {
        return Ok(None);
    };
    let mut flags = Vec::new();
    for name in v
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "none")
    {
        match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
            Some(k) => flags.push(*k),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("RINGPORT_URING_SETUP: unknown flag {name:?} (known: {KNOWN:?})"),
                ))
            }
        }
    }
    Ok(Some(flags))
}

/// Creates a ring of `entries` with the best setup flags this kernel accepts.
pub(crate) fn build(entries: u32) -> io::Result<(IoUring, Vec<&'static str>)> {
    let mut last_err = None;
    let forced = forced_flags()?;
    let attempts: Vec<&[&str]> = match &forced {
        Some(flags) => vec![flags.as_slice()],
        None => ATTEMPTS.to_vec(),
    };
    for flags in attempts {
        let mut builder = IoUring::builder();
        for flag in flags {
            match *flag {
                "SINGLE_ISSUER" => builder.setup_single_issuer(),
                "DEFER_TASKRUN" => builder.setup_defer_taskrun(),
                "COOP_TASKRUN" => builder.setup_coop_taskrun(),
                "TASKRUN_FLAG" => builder.setup_taskrun_flag(),
                _ => unreachable!("unknown setup flag {flag}"),
            };
        }
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, flags.to_vec())),
            // EINVAL: this kernel does not know one of the flags; try fewer.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
            Err(e) => return Err(explain_setup_error(e)),
        }
    }
    Err(explain_setup_error(last_err.expect("at least one attempt")))
}

/// Says why io_uring_setup failed in words a user can act on.
pub(crate) fn explain_setup_error(e: io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (ENOSYS)",
        Some(libc::EPERM) => {
            "io_uring is forbidden here (EPERM: a seccomp filter or kernel.io_uring_disabled)"
        }
        Some(libc::ENOMEM) => "not enough locked memory for the ring (ENOMEM: see ulimit -l)",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "too many open files to create the ring",
        _ => "io_uring_setup failed",
    };
    io::Error::new(e.kind(), format!("{why}: {e}"))
}

/// Probes the opcodes and features, failing when a required opcode is missing.
pub(crate) fn describe(
    ring: &IoUring,
    setup_flags: Vec<&'static str>,
    reason: Option<String>,
    config: &Config,
) -> io::Result<(BackendInfo, [bool; 256])> {
    let masked = &config.masked_opcodes;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let mut supported = [false; 256];
    let mut opcodes = Vec::with_capacity(OPCODES.len());
    for &(name, code, required) in OPCODES {
        let is_masked = masked.iter().any(|m| m.eq_ignore_ascii_case(name));
        let ok = probe.is_supported(code) && !is_masked;
        if required && !ok {
            let why = if is_masked { " (masked)" } else { "" };
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the kernel's io_uring lacks the {name} operation{why}"),
            ));
        }
        supported[code as usize] = ok;
        opcodes.push((name, ok));
    }
    let p = ring.params();
    if !p.is_feature_nodrop() || !p.is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel's io_uring lacks NODROP or EXT_ARG (Linux 5.11 or later is needed)",
        ));
    }
    let features = [
        ("NODROP", p.is_feature_nodrop()),
        ("EXT_ARG", p.is_feature_ext_arg()),
        ("FAST_POLL", p.is_feature_fast_poll()),
        ("SUBMIT_STABLE", p.is_feature_submit_stable()),
        ("NATIVE_WORKERS", p.is_feature_native_workers()),
        ("RSRC_TAGS", p.is_feature_resource_tagging()),
        ("CQE_SKIP", p.is_feature_skip_cqe_on_success()),
        ("LINKED_FILE", p.is_feature_linked_file()),
        ("RECVSEND_BUNDLE", p.is_feature_recvsend_bundle()),
        ("MIN_TIMEOUT", p.is_feature_min_timeout()),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let info = BackendInfo {
        backend: Backend::Uring,
        reason,
        setup_flags,
        features,
        opcodes,
        entries: (p.sq_entries(), p.cq_entries()),
        io_workers: cap_io_workers(ring, config.io_workers),
    };
    Ok((info, supported))
}

/// The default cap on unbounded io-wq workers per loop: splices into sockets and pipes (large
/// file bodies) wait there for the peer, one worker each. The kernel's own default is the
/// process limit (`RLIMIT_NPROC`): one thread per stalled transfer.
fn default_unbounded() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cpus).max(16) as u32
}

/// Caps the ring's io-wq workers (`IORING_REGISTER_IOWQ_MAX_WORKERS`, Linux 5.15) and returns
/// the caps now in force, `(bounded, unbounded)`. `wanted` of `None` keeps the kernel's bounded
/// default (the SQ size or 4 per CPU, whichever is smaller) and caps unbounded workers at
/// [`default_unbounded`]. `None` when the kernel refuses.
fn cap_io_workers(ring: &IoUring, wanted: Option<(u32, u32)>) -> Option<(u32, u32)> {
    let (bounded, unbounded) = wanted.unwrap_or((0, default_unbounded()));
    let submitter = ring.submitter();
    // 0 leaves a value as it is; the call writes the previous values back.
    submitter
        .register_iowq_max_workers(&mut [bounded, unbounded])
        .ok()?;
    let mut now = [0, 0];
    submitter.register_iowq_max_workers(&mut now).ok()?;
    Some((now[0], now[1]))
}

//! Reading `strace -f -y` output: which thread made which call, and whether it touched a file.

/// `1234 name(args...`: the thread id, the syscall name and the whole line. A call another
/// thread interrupted is printed twice, `name(args <unfinished ...>` then `<... name
/// resumed>) = result`: only the first (which holds the arguments) is a call, so the second
/// gives `None` (counting it would count a marker twice).
pub fn parse(line: &str) -> Option<(u32, &str, &str)> {
    let (tid, rest) = line.split_once(' ')?;
    let tid = tid.parse().ok()?;
    let rest = rest.trim_start();
    if rest.starts_with("<... ") {
        return None;
    }
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    Some((tid, &rest[..end], line))
}

/// Whether a traced call touches the file system: a call that takes a path, or an fd that
/// `-y` shows as a path (an eventfd, a pipe or a socket is not a file: `<anon_inode:…>`,
/// `<pipe:…>`, `<TCP:…>`).
pub fn on_a_file(line: &str) -> bool {
    const PATH_CALLS: &[&str] = &[
        "open",
        "openat",
        "openat2",
        "statx",
        "newfstatat",
        "rename",
        "renameat",
        "renameat2",
        "unlink",
        "unlinkat",
        "mkdir",
        "mkdirat",
    ];
    let args = line.split_once('(').map_or("", |(_, a)| a);
    let first = args.split(',').next().unwrap_or("");
    let name = line.split_whitespace().nth(1).unwrap_or("");
    let name = name.split('(').next().unwrap_or("");
    PATH_CALLS.contains(&name) || first.contains("</")
}

/// Whether a traced call is `File::cached_metadata`: a `statx` of an open fd (empty path) with
/// `AT_STATX_DONT_SYNC`, which answers from the inode in memory and never waits for a device
/// or a server. The one file call a loop thread may make (see ARCHITECTURE.md, invariant 4).
pub fn is_cached_fd_stat(line: &str) -> bool {
    let name = line.split_whitespace().nth(1).unwrap_or("");
    name.starts_with("statx(")
        && line.contains(", \"\", ")
        && line.contains("AT_STATX_DONT_SYNC")
        && line.contains("AT_EMPTY_PATH")
}

//! The report: per case a table of engines and a table of checks against the targets, printed
//! as each case ends and written, with the date and the machine, to BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// A target a ratio (ringport ÷ peer) must meet.
#[derive(Clone, Copy)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
    /// Shown for information only.
    None,
}

/// One comparison of ringport with a peer.
pub struct Check {
    pub what: String,
    pub ours: String,
    pub peer: String,
    /// ringport ÷ peer, when both ran.
    pub ratio: Option<f64>,
    pub target: Target,
}

impl Check {
    fn target_text(&self) -> String {
        match self.target {
            Target::AtLeast(t) => format!("≥ {t}×"),
            Target::AtMost(t) => format!("≤ {t}×"),
            Target::Below(t) => format!("< {t}×"),
            Target::None => "—".into(),
        }
    }

    fn verdict(&self) -> &'static str {
        let Some(r) = self.ratio else {
            return if matches!(self.target, Target::None) {
                "info"
            } else {
                "n/a"
            };
        };
        let pass = match self.target {
            Target::AtLeast(t) => r >= t,
            Target::AtMost(t) => r <= t,
            Target::Below(t) => r < t,
            Target::None => return "info",
        };
        if pass {
            "PASS"
        } else {
            "MISS"
        }
    }
}

/// One case's results.
pub struct Section {
    pub title: String,
    pub notes: Vec<String>,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub checks: Vec<Check>,
}

impl Section {
    fn markdown(&self) -> String {
        let mut s = format!("## {}\n\n", self.title);
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        let head: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        table(&mut s, &head, &self.rows);
        s.push('\n');
        let head = ["check", "ringport", "peer", "ratio", "target", "result"].map(String::from);
        table(
            &mut s,
            &head,
            &self.checks.iter().map(check_row).collect::<Vec<_>>(),
        );
        s
    }
}

fn check_row(c: &Check) -> Vec<String> {
    let ratio = c.ratio.map_or("—".into(), |r| format!("{r:.2}×"));
    let verdict = match c.verdict() {
        v @ ("PASS" | "MISS") => format!("**{v}**"),
        v => v.to_string(),
    };
    vec![
        c.what.clone(),
        c.ours.clone(),
        c.peer.clone(),
        ratio,
        c.target_text(),
        verdict,
    ]
}

fn table(s: &mut String, head: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
}

/// The whole document, built while the cases run.
pub struct Doc {
    command: String,
    date: String,
    load_start: String,
    sections: Vec<Section>,
}

impl Doc {
    pub fn start(command: &str) -> Doc {
        Doc {
            command: command.to_string(),
            date: shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            load_start: load_average(),
            sections: Vec::new(),
        }
    }

    /// Adds a finished case and prints it.
    pub fn add(&mut self, section: Section) {
        println!("{}", section.markdown());
        self.sections.push(section);
    }

    /// Writes BENCHMARKS.md (and prints the summary).
    pub fn finish(self, path: &Path) -> std::io::Result<()> {
        let mut s = String::from("# Benchmarks\n\n");
        let _ = writeln!(
            s,
            "Written by `{}` on {}. Do not edit by hand: re-run the command.\n",
            self.command, self.date
        );
        s.push_str("## Machine\n\n");
        let machine = [
            ("date", self.date.clone()),
            ("nproc", nproc().to_string()),
            ("kernel", shell("uname", &["-r"])),
            ("CPU", cpu_model()),
            (
                "load average (1 min) before the run",
                self.load_start.clone(),
            ),
            ("ringport commit", commit()),
            ("ringport ring setup flags", ring_flags()),
            ("fio", shell("fio", &["--version"])),
        ];
        let rows: Vec<Vec<String>> = machine
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.clone()])
            .collect();
        table(&mut s, &["what".into(), "value".into()], &rows);
        s.push_str(METHOD);
        let mut summary = Vec::new();
        for sec in &self.sections {
            for c in sec
                .checks
                .iter()
                .filter(|c| !matches!(c.target, Target::None))
            {
                let row = check_row(c);
                let case = sec.title.split(':').next().unwrap_or(&sec.title);
                summary.push(vec![
                    case.to_string(),
                    row[0].clone(),
                    row[3].clone(),
                    row[4].clone(),
                    row[5].clone(),
                ]);
            }
        }
        let mut sum = String::from("## Summary\n\n");
        let head = ["case", "check", "ratio", "target", "result"].map(String::from);
        table(&mut sum, &head, &summary);
        println!("{sum}");
        s.push_str(&sum);
        for sec in &self.sections {
            s.push('\n');
            s.push_str(&sec.markdown());
        }
        std::fs::write(path, s)
    }
}

const METHOD: &str = "
## Method

Each engine runs as its own subprocess: this binary re-executing itself as a worker
(`ringport-bench worker CASE --engine E ...`), or an outside command (fio; cp, dd and the
`ringport` binary in the copy case). Every engine's child is pinned to CPU 0
with `sched_setaffinity` (its threads too: tokio's blocking pool shares that one core), and its
CPU seconds are the user + system time `wait4` reports for it: all its threads, process start-up
and teardown included. In the network cases (echo, idle) the server is that child and the
load (the load generator, the idle client) is a second worker pinned to CPU 1; echo also takes
the server's CPU time over its measured window alone (see there). A worker times its own
measured loop and prints one `RESULT` line. Where a case runs several times, the figure is the
median run's and every run is listed. Ratios are always ringport ÷ peer. The figures are only
as quiet as the machine was: see the load average above (taken before the first case; threads
blocked in disk reads count in it too).

";

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The checked-out commit, marked when `crates/` has uncommitted changes (as built).
fn commit() -> String {
    let root = crate::workspace_root();
    let root = root.to_string_lossy();
    let head = shell("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = shell(
        "git",
        &["-C", &root, "status", "--porcelain", "--", "crates"],
    );
    if dirty == "unknown" {
        head
    } else {
        format!("{head} + uncommitted changes in crates/")
    }
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".into(), |(_, m)| m.trim().to_string())
}

fn load_average() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().next().unwrap_or("unknown").to_string()
}

fn ring_flags() -> String {
    match ringport::Runtime::new() {
        Ok(rt) => {
            let flags = rt.backend_info().setup_flags;
            if flags.is_empty() {
                "none".into()
            } else {
                flags.join(" + ")
            }
        }
        Err(e) => format!("no runtime: {e}"),
    }
}

/// `1234567.8` as `1,234,568`.
pub fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// Every run's figure, `a / b / c`.
pub fn runs(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    values
        .iter()
        .map(|&v| fmt(v))
        .collect::<Vec<_>>()
        .join(" / ")
}

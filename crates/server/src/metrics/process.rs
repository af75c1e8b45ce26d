//! The standard `process_*` metrics, read from Linux's `/proc/self`.
//! Hand-written: the process collectors of the Prometheus crates come with
//! their registry (or procfs), and these are five numbers from two files.

use std::fmt::Write;

pub fn render(out: &mut String) {
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else {
        return;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    let fields: Vec<&str> = after.split(' ').collect();
    // `stat` numbers its fields from 1 with the pid and name first: field
    // n is fields[n - 3] here.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let mut gauge = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        let seconds = (user + system) as f64 / ticks;
        gauge(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds",
            format!("{seconds:.2}"),
        );
    }
    if let Some(vsize) = field(23) {
        gauge(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes",
            vsize.to_string(),
        );
    }
    if let Some(rss) = field(24) {
        gauge(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes",
            (rss * page).to_string(),
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        let started = boot as f64 + start as f64 / ticks;
        gauge(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds",
            format!("{started:.2}"),
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            "process_open_fds",
            "gauge",
            "Open file descriptors",
            fds.count().to_string(),
        );
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        gauge(
            "process_max_fds",
            "gauge",
            "Most file descriptors the process may open",
            limit.rlim_cur.to_string(),
        );
    }
}

/// When the machine booted, in seconds since the epoch (`/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_reports_its_memory_files_and_start() {
        let mut out = String::new();
        super::render(&mut out);
        if !std::path::Path::new("/proc/self/stat").exists() {
            return; // Linux only
        }
        let value = |name: &str| -> f64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {out}"))
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(
            started <= now + 1.0 && started > now - 86_400.0,
            "{started}"
        );
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}

//! `soporte-powerloss-restore JOURNAL FOLDER...`: after the process that ran
//! with the preloaded library is dead, undoes every change to the files and
//! folders under FOLDER... that the journal says was never made durable, and
//! prints what it saw and undid (see the library's documentation).

// The library writes the journal, this reads it: each uses half the format.
#[allow(dead_code)]
mod journal;

use journal::{Change, Inode};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(journal), roots) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: soporte-powerloss-restore JOURNAL FOLDER...");
        return ExitCode::from(2);
    };
    if roots.is_empty() {
        eprintln!("usage: soporte-powerloss-restore JOURNAL FOLDER...");
        return ExitCode::from(2);
    }
    match restore(&journal, &roots) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("restoring from {}: {error}", journal.display());
            ExitCode::FAILURE
        }
    }
}

/// What a restore found and did.
#[derive(Debug, Default)]
pub struct Report {
    /// Records by the function that made them and the file's name
    /// (`pwrite64 soporte.db-wal`), to show which calls were seen.
    pub seen: BTreeMap<String, u64>,
    /// Data records undone (written but never synced).
    pub undone_writes: u64,
    /// Names removed or moved back (created or renamed, folder never synced).
    pub undone_names: u64,
    /// Data records left as they are (synced).
    pub durable_writes: u64,
    /// Undone records, counted as `seen` counts them.
    pub undone: BTreeMap<String, u64>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (what, count) in &self.seen {
            writeln!(f, "seen {what} {count}")?;
        }
        for (what, count) in &self.undone {
            writeln!(f, "undone {what} {count}")?;
        }
        writeln!(f, "durable writes {}", self.durable_writes)?;
        writeln!(f, "undone writes {}", self.undone_writes)?;
        write!(f, "undone names {}", self.undone_names)
    }
}

/// Brings every file and folder under `roots` back to what was durable when
/// the journal ended: the state a power cut at that moment leaves. Run it
/// only after the process that wrote the journal is dead.
pub fn restore(journal: &Path, roots: &[PathBuf]) -> std::io::Result<Report> {
    let records = journal::read(journal)?;
    let mut report = Report::default();
    let mut synced: HashMap<Inode, u64> = HashMap::new();
    let mut synced_all = 0;
    for record in &records {
        *report.seen.entry(label(record)).or_default() += 1;
        match record.change {
            Change::Sync { file, upto, .. } => {
                let durable = synced.entry(file).or_default();
                *durable = (*durable).max(upto);
            }
            Change::SyncAll { upto } => synced_all = synced_all.max(upto),
            _ => {}
        }
    }
    let durable = |inode: Inode, seq: u64| {
        seq < synced_all || synced.get(&inode).is_some_and(|&upto| seq < upto)
    };

    // Data first, newest first, found by inode (a synced file may have been
    // renamed since; a file unlinked since needs nothing).
    let mut where_now = HashMap::new();
    for root in roots {
        index(root, &mut where_now)?;
    }
    for record in records.iter().rev() {
        if let Change::Data {
            file,
            offset,
            old_len,
            before,
            ..
        } = &record.change
        {
            if durable(*file, record.seq) {
                report.durable_writes += 1;
                continue;
            }
            report.undone_writes += 1;
            *report.undone.entry(label(record)).or_default() += 1;
            let Some(path) = where_now.get(file) else {
                continue;
            };
            let handle = std::fs::OpenOptions::new().write(true).open(path)?;
            handle.set_len(*old_len)?;
            handle.write_all_at(before, *offset)?;
        }
    }
    // Then names, newest first.
    for record in records.iter().rev() {
        let undone = match &record.change {
            Change::Create { parent, path } if !durable(*parent, record.seq) && path.is_file() => {
                std::fs::remove_file(path)?;
                true
            }
            Change::Mkdir { parent, path } if !durable(*parent, record.seq) && path.is_dir() => {
                std::fs::remove_dir_all(path)?;
                true
            }
            Change::Rename { parent, from, to } if !durable(*parent, record.seq) && to.exists() => {
                if let Some(folder) = from.parent() {
                    std::fs::create_dir_all(folder)?;
                }
                std::fs::rename(to, from)?;
                true
            }
            _ => false,
        };
        if undone {
            report.undone_names += 1;
            *report.undone.entry(label(record)).or_default() += 1;
        }
    }
    Ok(report)
}

/// A record as the report counts it: the function that made it and the
/// file's name (`pwrite64 soporte.db-wal`).
fn label(record: &journal::Record) -> String {
    let path = match &record.change {
        Change::Data { path, .. } | Change::Sync { path, .. } => path,
        Change::Create { path, .. } | Change::Mkdir { path, .. } => path,
        Change::Rename { to, .. } => to,
        Change::SyncAll { .. } => return record.via.clone(),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!("{} {}", record.via, shape(&name))
}

/// A file's name as the report counts it: generated names (long runs of
/// hex digits, two-digit hex folders) all count as one.
fn shape(name: &str) -> String {
    let hex = !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit());
    match name.len() {
        16.. if hex => "<random>".into(),
        2 if hex => "<xx>".into(),
        _ => name.into(),
    }
}

/// Where each regular file under `dir` is now, by inode.
fn index(dir: &Path, found: &mut HashMap<Inode, PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            index(&entry.path(), found)?;
        } else if meta.is_file() {
            found.insert(
                Inode {
                    dev: meta.dev(),
                    ino: meta.ino(),
                },
                entry.path(),
            );
        }
    }
    Ok(())
}

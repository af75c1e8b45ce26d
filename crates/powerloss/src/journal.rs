//! The journal the preloaded library appends to and the restore step reads:
//! one record per change to a watched file or folder, in the order they were
//! made, each with a sequence number. A data record carries what the bytes
//! were before the change (and the file's old length), so it can be undone;
//! a sync record says that every earlier record of that file (or folder) is
//! durable.
//!
//! Every record is one `write` to a file opened with `O_APPEND`, made before
//! the change it describes: a SIGKILL can leave a record whose change never
//! happened (undoing it rewrites the same bytes) or a torn last record (its
//! change never started), never a change without its record.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const DATA: u8 = 1;
const SYNC: u8 = 2;
const SYNC_ALL: u8 = 3;
const CREATE: u8 = 4;
const MKDIR: u8 = 5;
const RENAME: u8 = 6;

/// A file or folder, as the kernel knows it (paths change, this does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inode {
    pub dev: u64,
    pub ino: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Bytes written at `offset`, or the file truncated or extended to
    /// `offset`: undone by setting the length back to `old_len` and writing
    /// `before` back at `offset`.
    Data {
        file: Inode,
        path: PathBuf,
        offset: u64,
        old_len: u64,
        before: Vec<u8>,
    },
    /// An fsync or fdatasync of a file or folder that returned success:
    /// its records numbered below `upto` are durable.
    Sync {
        file: Inode,
        path: PathBuf,
        upto: u64,
    },
    /// `sync` or `syncfs`: every record numbered below `upto` is durable.
    SyncAll {
        upto: u64,
    },
    /// A new name in the folder `parent`: durable once that folder is synced.
    Create {
        parent: Inode,
        path: PathBuf,
    },
    Mkdir {
        parent: Inode,
        path: PathBuf,
    },
    /// Durable once the folder of `to` is synced.
    Rename {
        parent: Inode,
        from: PathBuf,
        to: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// The C function that made the change (`pwrite64`, `fdatasync`, …).
    pub via: String,
    pub change: Change,
}

impl Record {
    /// The record as one block of bytes: its length, then its fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        let kind = match &self.change {
            Change::Data { .. } => DATA,
            Change::Sync { .. } => SYNC,
            Change::SyncAll { .. } => SYNC_ALL,
            Change::Create { .. } => CREATE,
            Change::Mkdir { .. } => MKDIR,
            Change::Rename { .. } => RENAME,
        };
        out.push(kind);
        put_u64(&mut out, self.seq);
        put_bytes(&mut out, self.via.as_bytes());
        match &self.change {
            Change::Data {
                file,
                path,
                offset,
                old_len,
                before,
            } => {
                put_inode(&mut out, *file);
                put_bytes(&mut out, path.as_os_str().as_bytes());
                put_u64(&mut out, *offset);
                put_u64(&mut out, *old_len);
                put_bytes(&mut out, before);
            }
            Change::Sync { file, path, upto } => {
                put_inode(&mut out, *file);
                put_bytes(&mut out, path.as_os_str().as_bytes());
                put_u64(&mut out, *upto);
            }
            Change::SyncAll { upto } => put_u64(&mut out, *upto),
            Change::Create { parent, path } | Change::Mkdir { parent, path } => {
                put_inode(&mut out, *parent);
                put_bytes(&mut out, path.as_os_str().as_bytes());
            }
            Change::Rename { parent, from, to } => {
                put_inode(&mut out, *parent);
                put_bytes(&mut out, from.as_os_str().as_bytes());
                put_bytes(&mut out, to.as_os_str().as_bytes());
            }
        }
        let length = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
        out[..4].copy_from_slice(&length.to_le_bytes());
        out
    }
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_inode(out: &mut Vec<u8>, inode: Inode) {
    put_u64(out, inode.dev);
    put_u64(out, inode.ino);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let length = usize::try_from(self.u64()?).ok()?;
        if length > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(length);
        self.0 = rest;
        Some(head.to_vec())
    }

    fn path(&mut self) -> Option<PathBuf> {
        let bytes = self.bytes()?;
        Some(PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes),
        ))
    }

    fn inode(&mut self) -> Option<Inode> {
        Some(Inode {
            dev: self.u64()?,
            ino: self.u64()?,
        })
    }
}

fn decode(kind: u8, body: &[u8]) -> Option<Record> {
    let mut r = Reader(body);
    let seq = r.u64()?;
    let via = String::from_utf8(r.bytes()?).ok()?;
    let change = match kind {
        DATA => Change::Data {
            file: r.inode()?,
            path: r.path()?,
            offset: r.u64()?,
            old_len: r.u64()?,
            before: r.bytes()?,
        },
        SYNC => Change::Sync {
            file: r.inode()?,
            path: r.path()?,
            upto: r.u64()?,
        },
        SYNC_ALL => Change::SyncAll { upto: r.u64()? },
        CREATE => Change::Create {
            parent: r.inode()?,
            path: r.path()?,
        },
        MKDIR => Change::Mkdir {
            parent: r.inode()?,
            path: r.path()?,
        },
        RENAME => Change::Rename {
            parent: r.inode()?,
            from: r.path()?,
            to: r.path()?,
        },
        _ => return None,
    };
    Some(Record { seq, via, change })
}

/// Every whole record of the journal at `path`, in order. A torn last record
/// (the process was killed while appending it) is left out: the change it
/// describes was never started.
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((length, tail)) = rest.split_first_chunk::<4>() {
        let length = u32::from_le_bytes(*length) as usize;
        if length == 0 || length > tail.len() {
            break;
        }
        let (body, tail) = tail.split_at(length);
        let record = decode(body[0], &body[1..]).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable record")
        })?;
        records.push(record);
        rest = tail;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written_and_a_torn_last_one_is_left_out() {
        let dir = std::env::temp_dir().join(format!("powerloss-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = Inode { dev: 1, ino: 2 };
        let records = vec![
            Record {
                seq: 0,
                via: "pwrite64".into(),
                change: Change::Data {
                    file,
                    path: "/x/a".into(),
                    offset: 3,
                    old_len: 9,
                    before: b"abc".to_vec(),
                },
            },
            Record {
                seq: 1,
                via: "fsync".into(),
                change: Change::Sync {
                    file,
                    path: "/x/a".into(),
                    upto: 1,
                },
            },
            Record {
                seq: 1,
                via: "rename".into(),
                change: Change::Rename {
                    parent: file,
                    from: "/x/a".into(),
                    to: "/x/b".into(),
                },
            },
        ];
        let mut bytes: Vec<u8> = records.iter().flat_map(Record::encode).collect();
        let torn = Record {
            seq: 2,
            via: "write".into(),
            change: Change::SyncAll { upto: 2 },
        }
        .encode();
        bytes.extend_from_slice(&torn[..torn.len() - 1]);
        let path = dir.join("journal");
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read(&path).unwrap(), records);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

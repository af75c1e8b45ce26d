//! A simulated power cut for a process under test, without root or FUSE: a
//! library loaded with `LD_PRELOAD` that stands in front of the C library's
//! write, truncate, sync, create, mkdir and rename calls. For files and
//! folders under the folders named in `SOPORTE_POWERLOSS_DIRS` (separated by
//! `:`) it appends to the journal at `SOPORTE_POWERLOSS_JOURNAL`, before each
//! change, what it takes to undo it; after each successful fsync or
//! fdatasync, that the file's (or folder's) earlier changes are durable. The
//! change itself is then made as usual, so the process sees a normal file
//! system.
//!
//! After the process is killed with SIGKILL, `soporte-powerloss-restore`
//! undoes every change that was never made durable, newest first: the files
//! are left exactly as a power cut at that moment would leave them on a file
//! system that keeps what fsync promised and nothing more (see
//! docs/RELIABILITY.md for what is and is not modelled).
//!
//! `SOPORTE_POWERLOSS_KILL_AFTER` makes the process kill itself at a chosen
//! I/O step (see `CrashPoint`).
//!
//! `SOPORTE_POWERLOSS_MODE=lying-fsync` makes fsync and fdatasync return
//! success without doing anything or recording anything, as a disk that
//! lies about its cache would: after a restore nothing written since the
//! start is left. It exists so a test can prove its checker catches loss.
//!
//! Linux only (the calls' `…64` names and `/proc/self/fd`); `open` and
//! `openat` are taken with a fixed third argument, which is how the x86-64
//! and AArch64 calling conventions pass the variadic mode.

// These functions are the C library's own, with its contracts; the callers
// are C and Rust code that already hold to them.
#![allow(clippy::missing_safety_doc)]

// The library writes the journal, the restore tool reads it: each uses
// half the format.
#[allow(dead_code)]
mod journal;

use journal::{Change, Inode, Record};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

const DIRS_ENV: &str = "SOPORTE_POWERLOSS_DIRS";
const JOURNAL_ENV: &str = "SOPORTE_POWERLOSS_JOURNAL";
const MODE_ENV: &str = "SOPORTE_POWERLOSS_MODE";
const KILL_AFTER_ENV: &str = "SOPORTE_POWERLOSS_KILL_AFTER";
const ARMED_ENV: &str = "SOPORTE_POWERLOSS_ARMED";

struct State {
    roots: Vec<PathBuf>,
    lying_fsync: bool,
    journal: Mutex<Journal>,
    crash: Option<CrashPoint>,
}

/// `SOPORTE_POWERLOSS_KILL_AFTER=N`: the process kills itself with SIGKILL
/// right after its N-th change to a watched file or folder (a write,
/// truncate, sync, create, mkdir or rename), counted from when the file
/// `SOPORTE_POWERLOSS_ARMED` names exists (so a test can let the process
/// start first). Where a test's own SIGKILL lands at a random moment, which
/// is rarely between a write and its fsync, this lands on a random I/O step:
/// inside a commit, between the WAL's write and its sync, in a checkpoint.
struct CrashPoint {
    after: u64,
    armed_by: PathBuf,
    armed: std::sync::atomic::AtomicBool,
    seen: std::sync::atomic::AtomicU64,
}

struct Journal {
    file: std::fs::File,
    next_seq: u64,
}

static STATE: OnceLock<Option<State>> = OnceLock::new();

thread_local! {
    /// Set while this thread is inside the library: its own file calls (the
    /// journal, reading old bytes) go straight to the C library.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// The next definition of a C function after this library's (the C
/// library's), looked up once.
macro_rules! real {
    ($name:ident : fn($($arg:ty),*) -> $ret:ty) => {{
        static ADDRESS: AtomicUsize = AtomicUsize::new(0);
        let mut address = ADDRESS.load(Ordering::Relaxed);
        if address == 0 {
            // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is valid
            // from a shared object.
            address = unsafe {
                libc::dlsym(libc::RTLD_NEXT, concat!(stringify!($name), "\0").as_ptr().cast())
            } as usize;
            if address == 0 {
                // Only reached when a caller called this very function, so
                // the C library has it; if not, nothing sane can be done.
                std::process::abort();
            }
            ADDRESS.store(address, Ordering::Relaxed);
        }
        // SAFETY: the C library's function of that name has this signature.
        unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($arg),*) -> $ret>(address) }
    }};
}

/// Runs `shimmed` with the library's state when it is active and this is
/// not a call the library itself made; otherwise `direct`.
fn guarded<R>(direct: impl FnOnce() -> R, shimmed: impl FnOnce(&State) -> R) -> R {
    if INSIDE.with(|inside| inside.replace(true)) {
        return direct();
    }
    let result = match STATE.get_or_init(State::from_env) {
        Some(state) => shimmed(state),
        None => direct(),
    };
    INSIDE.with(|inside| inside.set(false));
    result
}

/// Keeps `errno` as the real call left it while the library does its own
/// calls after it.
fn keeping_errno<R>(work: impl FnOnce() -> R) -> R {
    // SAFETY: errno is thread-local and always addressable.
    let saved = unsafe { *libc::__errno_location() };
    let result = work();
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
    result
}

fn stat_fd(fd: c_int) -> Option<libc::stat64> {
    // SAFETY: fstat64 writes into the zeroed struct it is given.
    unsafe {
        let mut meta: libc::stat64 = std::mem::zeroed();
        (libc::fstat64(fd, &mut meta) == 0).then_some(meta)
    }
}

fn stat_path(path: &Path) -> Option<libc::stat64> {
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: as above, with a NUL-terminated path.
    unsafe {
        let mut meta: libc::stat64 = std::mem::zeroed();
        (libc::lstat64(path.as_ptr(), &mut meta) == 0).then_some(meta)
    }
}

fn inode(meta: &libc::stat64) -> Inode {
    Inode {
        dev: meta.st_dev,
        ino: meta.st_ino,
    }
}

fn is(meta: &libc::stat64, kind: libc::mode_t) -> bool {
    meta.st_mode & libc::S_IFMT == kind
}

/// The path an open descriptor refers to.
fn fd_path(fd: c_int) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// `path` as the kernel resolves it for `*at(dirfd, path)`.
fn absolute(dirfd: c_int, path: *const c_char) -> Option<PathBuf> {
    if path.is_null() {
        return None;
    }
    // SAFETY: the caller passed a NUL-terminated path, as the C call requires.
    let path = Path::new(OsStr::from_bytes(
        unsafe { CStr::from_ptr(path) }.to_bytes(),
    ));
    if path.is_absolute() {
        Some(path.to_path_buf())
    } else if dirfd == libc::AT_FDCWD {
        Some(std::env::current_dir().ok()?.join(path))
    } else {
        Some(fd_path(dirfd)?.join(path))
    }
}

impl State {
    fn from_env() -> Option<State> {
        let dirs = std::env::var_os(DIRS_ENV)?;
        let journal = std::env::var_os(JOURNAL_ENV)?;
        let roots = std::env::split_paths(&dirs)
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal)
            .ok()?;
        Some(State {
            roots,
            lying_fsync: std::env::var_os(MODE_ENV).is_some_and(|m| m == "lying-fsync"),
            journal: Mutex::new(Journal { file, next_seq: 0 }),
            crash: std::env::var(KILL_AFTER_ENV)
                .ok()
                .and_then(|n| n.parse().ok())
                .zip(std::env::var_os(ARMED_ENV))
                .map(|(after, armed_by)| CrashPoint {
                    after,
                    armed_by: armed_by.into(),
                    armed: false.into(),
                    seen: 0.into(),
                }),
        })
    }

    /// Called after each change made to a watched file or folder (`tracked`):
    /// dies there if this is the crash point.
    fn changed(&self, tracked: bool) {
        let Some(crash) = self.crash.as_ref().filter(|_| tracked) else {
            return;
        };
        if !crash.armed.load(Ordering::Relaxed) {
            if stat_path(&crash.armed_by).is_none() {
                return;
            }
            crash.armed.store(true, Ordering::Relaxed);
        }
        if crash.seen.fetch_add(1, Ordering::Relaxed) + 1 >= crash.after {
            // SAFETY: kill(2) on this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }

    fn watched(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| path.starts_with(root))
    }

    fn lock(&self) -> MutexGuard<'_, Journal> {
        self.journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A regular file under the watched folders that is not opened for
    /// synchronous writes: its path, metadata and open flags.
    fn tracked_file(&self, fd: c_int) -> Option<(PathBuf, libc::stat64, c_int)> {
        let meta = stat_fd(fd)?;
        if !is(&meta, libc::S_IFREG) {
            return None;
        }
        // SAFETY: F_GETFL on any descriptor.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || flags & libc::O_DSYNC != 0 {
            return None;
        }
        let path = fd_path(fd)?;
        self.watched(&path).then_some((path, meta, flags))
    }

    /// Records how to undo a write of `length` bytes at `offset` (the file
    /// position when `None`) and returns the journal, held until the write
    /// is made so no other write to the same bytes comes between.
    fn before_write(
        &self,
        fd: c_int,
        offset: Option<i64>,
        length: usize,
        via: &str,
    ) -> Option<MutexGuard<'_, Journal>> {
        let (path, _, flags) = self.tracked_file(fd)?;
        let journal = self.lock();
        let old_len = stat_fd(fd)?.st_size as u64;
        let offset = if flags & libc::O_APPEND != 0 {
            old_len
        } else {
            match offset {
                Some(offset) => offset as u64,
                // SAFETY: lseek64 on an open descriptor.
                None => (unsafe { libc::lseek64(fd, 0, libc::SEEK_CUR) }) as u64,
            }
        };
        let end = old_len.min(offset.saturating_add(length as u64));
        self.record_data(journal, fd, flags, path, offset, old_len, end, via)
    }

    /// Records how to undo a truncation (or extension) to `length`.
    fn before_truncate(
        &self,
        fd: c_int,
        length: i64,
        via: &str,
    ) -> Option<MutexGuard<'_, Journal>> {
        let (path, _, flags) = self.tracked_file(fd)?;
        let journal = self.lock();
        let old_len = stat_fd(fd)?.st_size as u64;
        let length = length.max(0) as u64;
        self.record_data(journal, fd, flags, path, length, old_len, old_len, via)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_data<'a>(
        &self,
        mut journal: MutexGuard<'a, Journal>,
        fd: c_int,
        flags: c_int,
        path: PathBuf,
        offset: u64,
        old_len: u64,
        end: u64,
        via: &str,
    ) -> Option<MutexGuard<'a, Journal>> {
        let file = inode(&stat_fd(fd)?);
        let before = read_range(fd, flags, offset, end)?;
        journal.append(
            via,
            Change::Data {
                file,
                path,
                offset,
                old_len,
                before,
            },
        );
        Some(journal)
    }

    /// An fsync or fdatasync: made (or, lying, skipped) and then recorded.
    fn sync(&self, fd: c_int, via: &str, real: impl FnOnce() -> c_int) -> c_int {
        let tracked = stat_fd(fd)
            .filter(|meta| is(meta, libc::S_IFREG) || is(meta, libc::S_IFDIR))
            .and_then(|meta| Some((inode(&meta), fd_path(fd)?)))
            .filter(|(_, path)| self.watched(path));
        let Some((file, path)) = tracked else {
            return real();
        };
        if self.lying_fsync {
            return 0;
        }
        // What was recorded before the sync started is what it makes durable.
        // A write another thread completes between here and the real call
        // counts as unsynced: stricter than fsync(2), never laxer (and
        // SQLite's threads do not write one file at once).
        let upto = self.lock().next_seq;
        let result = real();
        if result == 0 {
            keeping_errno(|| self.lock().append(via, Change::Sync { file, path, upto }));
            self.changed(true);
        }
        result
    }

    /// A call that may add a name (`create`, `mkdir`, `rename`): made with
    /// the journal held, and recorded if it did.
    fn naming(
        &self,
        path: Option<PathBuf>,
        from: Option<PathBuf>,
        via: &str,
        real: impl FnOnce() -> c_int,
        made: impl FnOnce(c_int) -> bool,
    ) -> c_int {
        let Some(path) =
            path.filter(|p| self.watched(p) || from.as_ref().is_some_and(|f| self.watched(f)))
        else {
            return real();
        };
        let existed = stat_path(&path).is_some();
        let mut journal = self.lock();
        let result = real();
        if made(result) && (from.is_some() || !existed) {
            keeping_errno(|| {
                let Some(parent) = path.parent().and_then(stat_path) else {
                    return;
                };
                let parent = inode(&parent);
                let change = match from {
                    Some(from) => Change::Rename {
                        parent,
                        from,
                        to: path,
                    },
                    None if via.starts_with("mkdir") => Change::Mkdir { parent, path },
                    None => Change::Create { parent, path },
                };
                journal.append(via, change);
            });
            drop(journal);
            self.changed(true);
        }
        result
    }
}

impl Journal {
    fn append(&mut self, via: &str, change: Change) {
        let record = Record {
            seq: self.next_seq,
            via: via.to_string(),
            change,
        };
        self.next_seq += 1;
        // A journal that cannot be written makes the run meaningless: stop
        // loudly rather than let a test pass on a partial record.
        if self.file.write_all(&record.encode()).is_err() {
            std::process::abort();
        }
    }
}

/// The bytes `[start, end)` of the file open as `fd` (which may be open for
/// writing only: then it is opened again, for reading, through /proc).
fn read_range(fd: c_int, flags: c_int, start: u64, end: u64) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; end.saturating_sub(start) as usize];
    if bytes.is_empty() {
        return Some(bytes);
    }
    let reader = if flags & libc::O_ACCMODE == libc::O_WRONLY {
        std::fs::File::open(format!("/proc/self/fd/{fd}")).ok()
    } else {
        None
    };
    let read_fd = reader.as_ref().map_or(fd, std::os::fd::AsRawFd::as_raw_fd);
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: reads into the unfilled part of `bytes`.
        let n = unsafe {
            libc::pread64(
                read_fd,
                bytes[done..].as_mut_ptr().cast(),
                bytes.len() - done,
                (start + done as u64) as i64,
            )
        };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    bytes.truncate(done);
    Some(bytes)
}

fn iov_length(iov: *const libc::iovec, count: c_int) -> usize {
    if iov.is_null() || count <= 0 {
        return 0;
    }
    // SAFETY: the caller passes `count` iovecs, as the C call requires.
    unsafe { std::slice::from_raw_parts(iov, count as usize) }
        .iter()
        .map(|v| v.iov_len)
        .sum()
}

// ---- the interposed C functions ----

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    let real = real!(write: fn(c_int, *const c_void, usize) -> isize);
    guarded(
        || unsafe { real(fd, buf, n) },
        |state| {
            let held = state.before_write(fd, None, n, "write");
            let result = unsafe { real(fd, buf, n) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, n: usize, offset: i64) -> isize {
    let real = real!(pwrite: fn(c_int, *const c_void, usize, i64) -> isize);
    guarded(
        || unsafe { real(fd, buf, n, offset) },
        |state| {
            let held = state.before_write(fd, Some(offset), n, "pwrite");
            let result = unsafe { real(fd, buf, n, offset) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, n: usize, offset: i64) -> isize {
    let real = real!(pwrite64: fn(c_int, *const c_void, usize, i64) -> isize);
    guarded(
        || unsafe { real(fd, buf, n, offset) },
        |state| {
            let held = state.before_write(fd, Some(offset), n, "pwrite64");
            let result = unsafe { real(fd, buf, n, offset) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, count: c_int) -> isize {
    let real = real!(writev: fn(c_int, *const libc::iovec, c_int) -> isize);
    guarded(
        || unsafe { real(fd, iov, count) },
        |state| {
            let held = state.before_write(fd, None, iov_length(iov, count), "writev");
            let result = unsafe { real(fd, iov, count) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pwritev(
    fd: c_int,
    iov: *const libc::iovec,
    count: c_int,
    offset: i64,
) -> isize {
    let real = real!(pwritev: fn(c_int, *const libc::iovec, c_int, i64) -> isize);
    guarded(
        || unsafe { real(fd, iov, count, offset) },
        |state| {
            let length = iov_length(iov, count);
            let held = state.before_write(fd, Some(offset), length, "pwritev");
            let result = unsafe { real(fd, iov, count, offset) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pwritev64(
    fd: c_int,
    iov: *const libc::iovec,
    count: c_int,
    offset: i64,
) -> isize {
    let real = real!(pwritev64: fn(c_int, *const libc::iovec, c_int, i64) -> isize);
    guarded(
        || unsafe { real(fd, iov, count, offset) },
        |state| {
            let length = iov_length(iov, count);
            let held = state.before_write(fd, Some(offset), length, "pwritev64");
            let result = unsafe { real(fd, iov, count, offset) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn ftruncate(fd: c_int, length: i64) -> c_int {
    let real = real!(ftruncate: fn(c_int, i64) -> c_int);
    guarded(
        || unsafe { real(fd, length) },
        |state| {
            let held = state.before_truncate(fd, length, "ftruncate");
            let result = unsafe { real(fd, length) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn ftruncate64(fd: c_int, length: i64) -> c_int {
    let real = real!(ftruncate64: fn(c_int, i64) -> c_int);
    guarded(
        || unsafe { real(fd, length) },
        |state| {
            let held = state.before_truncate(fd, length, "ftruncate64");
            let result = unsafe { real(fd, length) };
            state.changed(held.is_some());
            result
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    let real = real!(fsync: fn(c_int) -> c_int);
    guarded(
        || unsafe { real(fd) },
        |state| state.sync(fd, "fsync", || unsafe { real(fd) }),
    )
}

#[no_mangle]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    let real = real!(fdatasync: fn(c_int) -> c_int);
    guarded(
        || unsafe { real(fd) },
        |state| state.sync(fd, "fdatasync", || unsafe { real(fd) }),
    )
}

fn created(flags: c_int) -> impl FnOnce(c_int) -> bool {
    move |fd| flags & libc::O_CREAT != 0 && fd >= 0
}

#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let real = real!(open: fn(*const c_char, c_int, c_uint) -> c_int);
    guarded(
        || unsafe { real(path, flags, mode) },
        |state| {
            if flags & libc::O_CREAT == 0 {
                return unsafe { real(path, flags, mode) };
            }
            let target = absolute(libc::AT_FDCWD, path);
            state.naming(
                target,
                None,
                "open",
                || unsafe { real(path, flags, mode) },
                created(flags),
            )
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    let real = real!(open64: fn(*const c_char, c_int, c_uint) -> c_int);
    guarded(
        || unsafe { real(path, flags, mode) },
        |state| {
            if flags & libc::O_CREAT == 0 {
                return unsafe { real(path, flags, mode) };
            }
            let target = absolute(libc::AT_FDCWD, path);
            state.naming(
                target,
                None,
                "open64",
                || unsafe { real(path, flags, mode) },
                created(flags),
            )
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    let real = real!(openat: fn(c_int, *const c_char, c_int, c_uint) -> c_int);
    guarded(
        || unsafe { real(dirfd, path, flags, mode) },
        |state| {
            if flags & libc::O_CREAT == 0 {
                return unsafe { real(dirfd, path, flags, mode) };
            }
            let target = absolute(dirfd, path);
            state.naming(
                target,
                None,
                "openat",
                || unsafe { real(dirfd, path, flags, mode) },
                created(flags),
            )
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: c_uint,
) -> c_int {
    let real = real!(openat64: fn(c_int, *const c_char, c_int, c_uint) -> c_int);
    guarded(
        || unsafe { real(dirfd, path, flags, mode) },
        |state| {
            if flags & libc::O_CREAT == 0 {
                return unsafe { real(dirfd, path, flags, mode) };
            }
            let target = absolute(dirfd, path);
            state.naming(
                target,
                None,
                "openat64",
                || unsafe { real(dirfd, path, flags, mode) },
                created(flags),
            )
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: libc::mode_t) -> c_int {
    let real = real!(mkdir: fn(*const c_char, libc::mode_t) -> c_int);
    guarded(
        || unsafe { real(path, mode) },
        |state| {
            let target = absolute(libc::AT_FDCWD, path);
            state.naming(
                target,
                None,
                "mkdir",
                || unsafe { real(path, mode) },
                |r| r == 0,
            )
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn rename(from: *const c_char, to: *const c_char) -> c_int {
    let real = real!(rename: fn(*const c_char, *const c_char) -> c_int);
    guarded(
        || unsafe { real(from, to) },
        |state| {
            let source = absolute(libc::AT_FDCWD, from);
            let target = absolute(libc::AT_FDCWD, to);
            if source.is_none() {
                return unsafe { real(from, to) };
            }
            state.naming(
                target,
                source,
                "rename",
                || unsafe { real(from, to) },
                |r| r == 0,
            )
        },
    )
}

//! Replacing a model directory as a whole. Renaming each file into place separately let a process
//! killed between two renames leave new weights beside the old architecture and normaliser — a
//! mix that loaded without a word. Instead:
//!
//! 1. every file (the manifest last) is written into a fresh directory `.NAME.saving-PID-N`
//!    beside the target, each file fsynced, then the directory itself;
//! 2. the new directory replaces the target in one step: on Linux `renameat2(RENAME_EXCHANGE)`
//!    swaps the two names atomically (the old model stays complete under the temporary name
//!    until the swap succeeded), elsewhere — or on a file system without the exchange — the old
//!    directory is renamed to `.NAME.previous-PID` first and the loader names it if a crash
//!    falls between the two renames;
//! 3. the parent directory is fsynced and the old model removed.
//!
//! So the target always holds either the complete old or the complete new model; what a crash
//! can leave behind is a hidden sibling directory, removed by the next save. A crash test
//! (`crates/neuroxide-cli/tests/save_crash.rs`) kills a saving process after every step.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Environment variable of the crash test: `NEUROXIDE_CRASH_AT_SAVE_STEP=k` makes the process
/// kill itself (SIGKILL, like an out-of-memory kill or a power cut for the files already
/// synced) right after step `k` (1-based) of [`replace_dir`].
#[doc(hidden)]
pub const CRASH_ENV: &str = "NEUROXIDE_CRASH_AT_SAVE_STEP";

/// Counts the steps of the saves of this process for the crash hook.
static STEP: AtomicUsize = AtomicUsize::new(0);
/// Makes temporary names unique within the process.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// The crash-test hook: called after every step that changes the disk.
fn step_done() {
    let Some(k) = std::env::var(CRASH_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    if STEP.fetch_add(1, Ordering::SeqCst) + 1 == k {
        #[cfg(unix)]
        // SAFETY: kill(2) on our own pid with a constant signal number has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

/// Writes `data` to a new file `path` and fsyncs it.
pub fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Fsyncs a directory, so that the names created or renamed in it survive a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// The parent directory and the final name of `dir` (`"."` for a bare name).
fn split(dir: &Path) -> Result<(PathBuf, String)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{}: a model directory needs a final name in UTF-8 (not '..' or '/')",
                dir.display()
            ))
        })?
        .to_string();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Whether the process `pid` is running (always false where `/proc` does not exist, so a
/// leftover of a live save elsewhere may be removed there: one writer per directory).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Hidden siblings `.NAME.<kind>-PID…` of `dir` left by an interrupted save of a process
/// that is no longer running.
pub fn leftovers(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let Ok((parent, name)) = split(dir) else {
        return Vec::new();
    };
    let prefix = format!(".{name}.{kind}-");
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let pid: u32 = n.strip_prefix(&prefix)?.split('-').next()?.parse().ok()?;
            (!alive(pid)).then(|| e.path())
        })
        .collect();
    found.sort();
    found
}

/// Checks, before any training, that a model can be saved to `dir`: it is not an existing
/// file, an existing directory is empty or a model directory (never someone's other files),
/// and the directory that will hold it is writable.
pub fn check_target(dir: &Path) -> Result<()> {
    let (parent, name) = split(dir)?;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {
            let entries: Vec<String> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            let model_dir = entries
                .iter()
                .any(|n| n == super::MODEL_FILE || n == super::manifest::MANIFEST_FILE);
            if !entries.is_empty() && !model_dir {
                return Err(Error::invalid(format!(
                    "{}: the directory exists and is not a model directory (no {} inside); \
                     saving would replace its {} entries: choose another path",
                    dir.display(),
                    super::MODEL_FILE,
                    entries.len()
                )));
            }
        }
        Ok(m) => {
            return Err(Error::invalid(format!(
                "{}: exists and is {}, not a model directory; choose another path or remove it",
                dir.display(),
                if m.is_file() {
                    "a regular file"
                } else {
                    "not a directory"
                }
            )))
        }
        // Not there (or a file on the way): the probe below says whether it can be created.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.kind() == std::io::ErrorKind::NotADirectory => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    // The nearest existing ancestor must let us create the directories on the way.
    let mut probe_in = parent.as_path();
    while !probe_in.exists() {
        probe_in = match probe_in.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    let probe = probe_in.join(format!(".{name}.probe-{}", std::process::id()));
    std::fs::create_dir(&probe).map_err(|e| {
        Error::invalid(format!(
            "{}: cannot save there: {} is not writable ({e})",
            dir.display(),
            probe_in.display()
        ))
    })?;
    let _ = std::fs::remove_dir(&probe);
    Ok(())
}

/// Swaps the names `a` and `b` atomically; `Ok(false)` when the platform or file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Replaces directory `dir` by one holding exactly `files` (name, bytes), as described in the
/// module documentation. On an error the target is untouched and the temporary directory
/// removed.
pub fn replace_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    check_target(dir)?;
    let (parent, name) = split(dir)?;
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    for stale in leftovers(dir, "saving") {
        let _ = std::fs::remove_dir_all(stale);
    }
    let tmp = parent.join(format!(
        ".{name}.saving-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    step_done();
    let result = fill_and_swap(dir, &parent, &name, &tmp, files);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn fill_and_swap(
    dir: &Path,
    parent: &Path,
    name: &str,
    tmp: &Path,
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    for (file, bytes) in files {
        write_synced(&tmp.join(file), bytes)?;
        step_done();
    }
    sync_dir(tmp)?;
    step_done();
    if !dir.exists() {
        std::fs::rename(tmp, dir).map_err(|e| Error::io(dir, e))?;
        step_done();
        return sync_dir(parent);
    }
    if exchange(tmp, dir).map_err(|e| Error::io(dir, e))? {
        step_done();
        sync_dir(parent)?;
        step_done();
        // `tmp` now holds the old model.
        return std::fs::remove_dir_all(tmp).map_err(|e| Error::io(tmp, e));
    }
    let previous = parent.join(format!(".{name}.previous-{}", std::process::id()));
    std::fs::rename(dir, &previous).map_err(|e| Error::io(dir, e))?;
    step_done();
    if let Err(e) = std::fs::rename(tmp, dir) {
        // Put the old model back before reporting.
        let _ = std::fs::rename(&previous, dir);
        return Err(Error::io(dir, e));
    }
    step_done();
    sync_dir(parent)?;
    std::fs::remove_dir_all(&previous).map_err(|e| Error::io(&previous, e))
}

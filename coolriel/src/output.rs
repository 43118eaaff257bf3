//! Files that are either whole or absent: written to a temporary file in the same
//! directory, then renamed over the destination (a rename within one file system is
//! atomic), so a reader or a crash of this process sees the old file or the new one.
//!
//! Two ways to make them survive a power cut as well:
//! - [`write_atomically`] fsyncs the file before the rename and the directory after it:
//!   durable on return, two fsyncs per file (the replay's few big documents).
//! - [`replace_file`] leaves both in the page cache, and [`sync_file_system`] later makes a
//!   whole batch of them durable at once (the emails: one sync per batch, see
//!   [`crate::handlers`]). Until that sync, a power cut may leave a new file empty or
//!   missing, never half-written under its name for long: the event it came from is not
//!   acknowledged yet, so it is delivered again and the file rewritten.
//!
//! The files are readable by everyone (mode 0644, like `history.jsonl` under the usual
//! umask), so the admin server's gallery, or another user, can read them; the temporary
//! file alone would have been private (0600).

use std::fs::{self, File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The mode of every file written here.
pub const FILE_MODE: u32 = 0o644;

/// Prefix and suffix of the temporary files, so start-up can sweep the ones a crash left.
const TEMP_PREFIX: &str = ".coolriel-";
/// [`TEMP_PREFIX`], for other temporary files that the start-up sweep must remove too
/// (readiness's probe of the output directory).
pub const TEMP_FILE_PREFIX: &str = TEMP_PREFIX;
const TEMP_SUFFIX: &str = ".tmp";

/// A write that failed, with the file it was for.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Replace `path` with `contents`, atomically: a reader (or a crash) sees the old file or
/// the new one, never part of it. Writing the same contents again is harmless, which is
/// what a re-delivered event does.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let wrap = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(wrap)?;
    temp.write_all(contents).map_err(wrap)?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(wrap)?;
    temp.as_file().sync_all().map_err(wrap)?;
    temp.persist(path).map_err(|error| wrap(error.error))?;
    sync_dir(dir).map_err(wrap)
}

/// Replace `path` with `contents` atomically, without making it durable (see the module
/// documentation; [`sync_file_system`] does that for a batch).
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let wrap = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(parent_dir(path))
        .map_err(wrap)?;
    temp.write_all(contents).map_err(wrap)?;
    temp.as_file()
        .set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(wrap)?;
    temp.persist(path).map_err(|error| wrap(error.error))?;
    Ok(())
}

/// Make every file written with [`replace_file`] in `dir`, and the renames, durable.
///
/// On Linux, one `syncfs` of the file system that holds `dir`: the data of every dirty
/// file and one journal commit, whatever the batch's size. Elsewhere, an fsync of each of
/// `files` and then of `dir`.
pub fn sync_file_system(dir: &Path, files: &[PathBuf]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        let dir = File::open(dir)?;
        rustix::fs::syncfs(&dir).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        for file in files {
            match File::open(file) {
                Ok(file) => file.sync_all()?,
                // Replaced again since (by a later event): that write is in the batch too.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        sync_dir(dir)
    }
}

/// Make a directory entry change (create, rename) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove the temporary files a killed process left behind; returns how many.
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_rewrites_whole_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("welcome_1.html");
        write_atomically(&path, b"first").expect("write");
        write_atomically(&path, b"second").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{mode:o}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn replaced_files_are_whole_and_survive_the_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = dir.path().join("welcome_4.txt");
        let second = dir.path().join("welcome_4.html");
        replace_file(&first, b"text").expect("write text");
        replace_file(&second, b"<html></html>").expect("write html");
        replace_file(&second, b"<html>again</html>").expect("rewrite html");
        sync_file_system(dir.path(), &[first.clone(), second.clone()]).expect("sync");
        assert_eq!(fs::read(&first).expect("read"), b"text");
        assert_eq!(fs::read(&second).expect("read"), b"<html>again</html>");
        let mode = fs::metadata(&second)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{mode:o}");
        assert_eq!(
            fs::read_dir(dir.path()).expect("list").count(),
            2,
            "no temporary file is left"
        );
    }

    #[test]
    fn stale_temp_files_are_swept() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(".coolriel-abc.tmp"), b"half").expect("stale");
        fs::write(dir.path().join("welcome_2.html"), b"whole").expect("email");
        assert_eq!(remove_stale_temp_files(dir.path()).expect("sweep"), 1);
        assert!(dir.path().join("welcome_2.html").exists());
    }

    #[test]
    fn a_missing_directory_is_reported_with_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing").join("welcome_3.html");
        let error = write_atomically(&path, b"x").expect_err("no directory");
        assert!(error.to_string().contains("welcome_3.html"), "{error}");
    }
}

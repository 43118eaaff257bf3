//! Files that are either whole or absent, and made durable in batches.
//!
//! # Whole or absent
//! A reader, or a crash of this process, sees a file complete under its name or not at
//! all, never part of it:
//! - a **new** file is written into an unnamed inode (`O_TMPFILE`) and linked under its
//!   name once complete (`linkat`), so the name appears with the whole content;
//! - a file that **already exists** with the same bytes (a re-delivered event, a replay,
//!   a second instance) is left alone: nothing is created, renamed or deleted;
//! - a file that exists with **other** bytes is replaced through a named temporary file
//!   renamed over it (a rename within one file system is atomic).
//!
//! Where `O_TMPFILE` is refused (a file system without it, no `/proc` to link through,
//! another OS) every new file takes the temporary-file-and-rename path too.
//!
//! # Why not always a temporary file and a rename
//! Creating inodes is what email writing costs on ext4 (measured by the bench's case 7,
//! `bench/src/cases/lab.rs`), and every rename over an existing file also frees an inode.
//! On ext4 without a journal, the inode allocator skips every inode freed in the last
//! minute (five while its inode table block is dirty), testing them one by one, so each
//! freed inode makes the following creations slower. The paths above create one inode per
//! new file and free none when a re-delivered file is unchanged; a rename costs a second
//! directory update on top.
//!
//! # Durable
//! [`OutputDir::publish`] leaves the data in the page cache; [`OutputDir::sync`] later
//! makes every file published since durable at once: on Linux one `syncfs` of the file
//! system (the data of every dirty file and the directory entries, whatever the batch's
//! size); elsewhere an fsync of each file and of the directory. Until that sync a power
//! cut may lose a new file or leave it empty, which is why the handlers acknowledge an
//! event only after the sync of its batch: an unacknowledged event is delivered again and
//! its file written again. [`write_atomically`] is durable on return (two fsyncs), for the
//! replay's few big documents.
//!
//! # Mode
//! Files are created with mode 0644 less the process's umask (0644 under the usual 022),
//! so the gallery or another user can read them; `history.jsonl` gets the same. The mode
//! is given when the file is created: no `fchmod` per file.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};

/// The mode every file is created with (less the umask).
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

/// What [`OutputDir::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// The file did not exist; it does now, whole.
    Created,
    /// The file existed with other content; it was replaced, whole.
    Replaced,
    /// The file already held exactly these bytes; nothing was written.
    Unchanged,
}

/// A directory the emails are published into, opened once (see the module documentation).
#[derive(Debug)]
pub struct OutputDir {
    /// For messages and the non-Linux sync.
    path: PathBuf,
    /// Every file operation is relative to this descriptor: no path lookup of the
    /// directory per file, and the files land in this directory even if it is renamed.
    dir: File,
    /// Whether unnamed temporary files can be created and linked here; cleared after the
    /// first refusal, so an unsupported file system costs one failed attempt, not one per
    /// file.
    unnamed_temp_files: AtomicBool,
    /// Numbers the named temporary files of this process.
    temp_counter: AtomicU64,
}

impl OutputDir {
    /// Open `path`, which must be an existing directory.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let dir = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(OutputDir {
            path,
            dir: File::from(dir),
            unnamed_temp_files: AtomicBool::new(cfg!(target_os = "linux")),
            temp_counter: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make `name` (a plain file name, no directory) hold `contents`, whole or not at all
    /// (see the module documentation). Not durable until the next [`OutputDir::sync`].
    /// Safe to call from several threads at once, for different names.
    pub fn publish(&self, name: &str, contents: &[u8]) -> Result<Publication, WriteError> {
        let wrap = |source| WriteError {
            path: self.path.join(name),
            source,
        };
        if let Some(unchanged) = self.holds(name, contents).map_err(wrap)? {
            return if unchanged {
                Ok(Publication::Unchanged)
            } else {
                self.replace(name, contents).map_err(wrap)?;
                Ok(Publication::Replaced)
            };
        }
        if self.unnamed_temp_files.load(Ordering::Relaxed) {
            match self.link_new(name, contents) {
                Ok(()) => return Ok(Publication::Created),
                Err(LinkError::Exists) => {
                    // Created meanwhile by someone else (another instance): compare again.
                    return self.publish(name, contents);
                }
                Err(LinkError::Unsupported(error)) => {
                    tracing::info!(
                        dir = %self.path.display(),
                        error = %error,
                        "unnamed temporary files are not available here; \
                         new files go through a temporary file and a rename"
                    );
                    self.unnamed_temp_files.store(false, Ordering::Relaxed);
                }
                Err(LinkError::Io(error)) => return Err(wrap(error)),
            }
        }
        self.replace(name, contents).map_err(wrap)?;
        Ok(Publication::Created)
    }

    /// Make every file published here since the last call durable (see the module
    /// documentation); `names` are those files, needed where there is no `syncfs`.
    pub fn sync<S: AsRef<str>>(&self, names: &[S]) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let _ = names;
            rustix::fs::syncfs(&self.dir).map_err(io::Error::from)
        }
        #[cfg(not(target_os = "linux"))]
        {
            for name in names {
                match File::open(self.path.join(name.as_ref())) {
                    Ok(file) => file.sync_all()?,
                    // Replaced again since (by a later event): that write is in the batch too.
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
            self.dir.sync_all()
        }
    }

    /// Whether `name` exists, and if so whether it holds exactly `contents`.
    fn holds(&self, name: &str, contents: &[u8]) -> io::Result<Option<bool>> {
        let existing = match rustix::fs::openat(
            &self.dir,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(existing) => File::from(existing),
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            // A symbolic link (or anything else we will not read through): replace it.
            Err(rustix::io::Errno::LOOP) => return Ok(Some(false)),
            Err(error) => return Err(error.into()),
        };
        let metadata = existing.metadata()?;
        let length = metadata.len();
        if !metadata.is_file() || length != contents.len() as u64 {
            return Ok(Some(false));
        }
        let mut current = Vec::with_capacity(contents.len());
        existing.take(length).read_to_end(&mut current)?;
        Ok(Some(current == contents))
    }

    /// Write `contents` into an unnamed inode of this directory and link it as `name`.
    fn link_new(&self, name: &str, contents: &[u8]) -> Result<(), LinkError> {
        let unnamed = rustix::fs::openat(
            &self.dir,
            ".",
            OFlags::WRONLY | OFlags::CLOEXEC | unnamed_temp_flag(),
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(|error| match error {
            // The file system (or the kernel) has no O_TMPFILE.
            rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL => {
                LinkError::Unsupported(error.into())
            }
            error => LinkError::Io(error.into()),
        })?;
        let mut file = File::from(unnamed);
        file.write_all(contents).map_err(LinkError::Io)?;
        // linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH on older kernels; the
        // /proc path works for any process that owns the descriptor.
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        match rustix::fs::linkat(
            rustix::fs::CWD,
            proc_path.as_str(),
            &self.dir,
            name,
            AtFlags::SYMLINK_FOLLOW,
        ) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => Err(LinkError::Exists),
            // No /proc (a minimal container).
            Err(rustix::io::Errno::NOENT) => Err(LinkError::Unsupported(io::Error::other(
                format!("cannot link through {proc_path}: no such file"),
            ))),
            Err(error) => Err(LinkError::Io(error.into())),
        }
    }

    /// Write `contents` into a named temporary file and rename it over `name`.
    fn replace(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        let (temp_name, temp) = self.create_temp()?;
        let written = (|| {
            let mut file = temp;
            file.write_all(contents)?;
            rustix::fs::renameat(&self.dir, temp_name.as_str(), &self.dir, name)?;
            Ok(())
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.dir, temp_name.as_str(), AtFlags::empty());
        }
        written
    }

    /// A new, empty, named temporary file (`.coolriel-<pid>-<n>.tmp`).
    fn create_temp(&self) -> io::Result<(String, File)> {
        let pid = std::process::id();
        loop {
            let number = self.temp_counter.fetch_add(1, Ordering::Relaxed);
            let temp_name = format!("{TEMP_PREFIX}{pid}-{number}{TEMP_SUFFIX}");
            match rustix::fs::openat(
                &self.dir,
                temp_name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(FILE_MODE),
            ) {
                Ok(fd) => return Ok((temp_name, File::from(fd))),
                // Left by an earlier process with the same pid: take the next number.
                Err(rustix::io::Errno::EXIST) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Why a new file could not be linked into place.
enum LinkError {
    /// The name exists now.
    Exists,
    /// Unnamed temporary files cannot be used here.
    Unsupported(io::Error),
    Io(io::Error),
}

#[cfg(target_os = "linux")]
fn unnamed_temp_flag() -> OFlags {
    OFlags::TMPFILE
}

#[cfg(not(target_os = "linux"))]
fn unnamed_temp_flag() -> OFlags {
    // Never used: `unnamed_temp_files` starts false off Linux.
    OFlags::empty()
}

/// Replace `path` with `contents`, atomically and durably on return: a reader (or a crash,
/// or a power cut) sees the old file or the new one, never part of it.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let wrap = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(FILE_MODE))
        .tempfile_in(dir)
        .map_err(wrap)?;
    temp.write_all(contents).map_err(wrap)?;
    temp.as_file().sync_all().map_err(wrap)?;
    temp.persist(path).map_err(|error| wrap(error.error))?;
    sync_dir(dir).map_err(wrap)
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
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_rewrites_whole_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("replay.json");
        write_atomically(&path, b"first").expect("write");
        write_atomically(&path, b"second").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        assert_eq!(mode(&path), 0o644, "{:o}", mode(&path));
        assert_eq!(
            names(dir.path()),
            ["replay.json"],
            "no temporary file is left"
        );
    }

    #[test]
    fn a_new_file_is_created_whole_and_survives_the_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = OutputDir::open(dir.path()).expect("open");
        let published = output
            .publish("welcome_4.html", b"<html></html>")
            .expect("publish");
        assert_eq!(published, Publication::Created);
        output.sync(&["welcome_4.html"]).expect("sync");
        let path = dir.path().join("welcome_4.html");
        assert_eq!(fs::read(&path).expect("read"), b"<html></html>");
        assert_eq!(mode(&path), 0o644, "{:o}", mode(&path));
        assert_eq!(names(dir.path()), ["welcome_4.html"], "no temporary file");
    }

    #[test]
    fn the_same_bytes_again_write_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = OutputDir::open(dir.path()).expect("open");
        output.publish("welcome_5.html", b"same").expect("first");
        let path = dir.path().join("welcome_5.html");
        let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).expect("stat"));
        assert_eq!(
            output.publish("welcome_5.html", b"same").expect("again"),
            Publication::Unchanged
        );
        let after = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).expect("stat"));
        assert_eq!(inode, after, "the file was not replaced");
    }

    #[test]
    fn other_bytes_replace_the_file_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = OutputDir::open(dir.path()).expect("open");
        output.publish("goodbye_6.html", b"old").expect("first");
        assert_eq!(
            output.publish("goodbye_6.html", b"newer").expect("replace"),
            Publication::Replaced
        );
        assert_eq!(
            output.publish("goodbye_6.html", b"new").expect("shorter"),
            Publication::Replaced
        );
        let path = dir.path().join("goodbye_6.html");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        assert_eq!(mode(&path), 0o644, "{:o}", mode(&path));
        assert_eq!(names(dir.path()), ["goodbye_6.html"], "no temporary file");
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::NamedTempFile::new().expect("outside file");
        fs::write(outside.path(), b"keep me").expect("write outside");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("welcome_7.html"))
            .expect("symlink");
        let output = OutputDir::open(dir.path()).expect("open");
        output.publish("welcome_7.html", b"email").expect("publish");
        assert_eq!(fs::read(outside.path()).expect("read"), b"keep me");
        let path = dir.path().join("welcome_7.html");
        assert!(!fs::symlink_metadata(&path).expect("stat").is_symlink());
        assert_eq!(fs::read(&path).expect("read"), b"email");
    }

    #[test]
    fn the_rename_path_gives_the_same_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = OutputDir::open(dir.path()).expect("open");
        output.unnamed_temp_files.store(false, Ordering::Relaxed);
        assert_eq!(
            output.publish("order_8.html", b"order").expect("create"),
            Publication::Created
        );
        let path = dir.path().join("order_8.html");
        assert_eq!(fs::read(&path).expect("read"), b"order");
        assert_eq!(mode(&path), 0o644, "{:o}", mode(&path));
        assert_eq!(names(dir.path()), ["order_8.html"], "no temporary file");
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
        assert!(OutputDir::open(dir.path().join("missing")).is_err());
    }
}

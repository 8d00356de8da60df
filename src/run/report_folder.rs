//! The run's report folder, reserved before anything runs: a run that cannot write its
//! report is refused at once instead of losing the report after it ran, and two runs
//! never share (or overwrite) a folder.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum ReportFolderError {
    #[error("cannot create the report folder {}: {error}", path.display())]
    #[diagnostic(
        code(wsbench::run::report_dir),
        help("choose a folder you can write with --report-dir DIR (or WSBENCH_REPORT_DIR)")
    )]
    Create {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write into the report folder {}: {error}", path.display())]
    #[diagnostic(
        code(wsbench::run::report_dir_not_writable),
        help("choose a folder you can write with --report-dir DIR (or WSBENCH_REPORT_DIR)")
    )]
    NotWritable {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A folder created for this run alone, empty until the report is written.
#[derive(Debug, Clone)]
pub struct ReportFolder {
    pub run_id: String,
    pub path: PathBuf,
}

/// How many suffixes (`-2`, `-3`, …) are tried before giving up on a run id; only
/// reached when hundreds of runs start in the same millisecond.
const MAX_SUFFIX: u32 = 1000;

impl ReportFolder {
    /// Creates `<base>/<run-id>/` with a run id unique in `base`: the start time to the
    /// millisecond and the scenario name, plus `-2`, `-3`… when that folder exists.
    /// The folder is created atomically (`create_dir`), so concurrent runs cannot both
    /// take the same id.
    pub fn reserve(
        base: &Path,
        scenario_name: &str,
        started: SystemTime,
    ) -> Result<ReportFolder, ReportFolderError> {
        std::fs::create_dir_all(base).map_err(|error| ReportFolderError::Create {
            path: base.to_path_buf(),
            error,
        })?;
        let stem = run_id(started, scenario_name);
        for n in 1..=MAX_SUFFIX {
            let run_id = if n == 1 {
                stem.clone()
            } else {
                format!("{stem}-{n}")
            };
            let path = base.join(&run_id);
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let folder = ReportFolder { run_id, path };
                    folder.check_writable()?;
                    return Ok(folder);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(if e_is_permission(&error) {
                        ReportFolderError::NotWritable {
                            path: base.to_path_buf(),
                            error,
                        }
                    } else {
                        ReportFolderError::Create { path, error }
                    });
                }
            }
        }
        Err(ReportFolderError::Create {
            path: base.join(&stem),
            error: std::io::Error::new(
                ErrorKind::AlreadyExists,
                format!("{MAX_SUFFIX} folders with this run id already exist"),
            ),
        })
    }

    /// Writes and removes a probe file: a folder can be created yet refuse files
    /// (quota, a read-only bind mount underneath).
    fn check_writable(&self) -> Result<(), ReportFolderError> {
        let probe = self.path.join(".wsbench-write-check");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|error| ReportFolderError::NotWritable {
                path: self.path.clone(),
                error,
            })
    }

    /// Removes the folder when nothing was written into it (a usage error found after
    /// the folder was reserved), so no empty report folders pile up.
    pub fn discard_if_empty(&self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn e_is_permission(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
    )
}

/// `<UTC start, to the millisecond>-<scenario name, made safe for a file name>`, e.g.
/// `20261201T085249.123Z-fanout`.
pub fn run_id(started: SystemTime, name: &str) -> String {
    let stamp = humantime::format_rfc3339_millis(started)
        .to_string()
        .replace([':', '-'], "");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stamp}-{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_millisecond_gets_a_suffix_and_never_reuses_a_folder() {
        let base = tempfile::tempdir().unwrap();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let a = ReportFolder::reserve(base.path(), "echo test", t).unwrap();
        let b = ReportFolder::reserve(base.path(), "echo test", t).unwrap();
        let c = ReportFolder::reserve(base.path(), "echo test", t).unwrap();
        assert_eq!(a.run_id, "20231114T221320.123Z-echo_test");
        assert_eq!(b.run_id, "20231114T221320.123Z-echo_test-2");
        assert_eq!(c.run_id, "20231114T221320.123Z-echo_test-3");
        assert!(a.path.is_dir() && b.path.is_dir() && c.path.is_dir());
    }

    #[test]
    fn an_uncreatable_base_is_an_error_naming_it() {
        let err = ReportFolder::reserve(Path::new("/proc/nope"), "x", SystemTime::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/proc/nope"), "{err}");
    }
}

//! `report.json`: writing it (pretty, stable key order) and reading it back with a
//! schema check, so `report diff` never misreads a report from another wsbench.

use std::path::{Path, PathBuf};

use miette::Diagnostic;
use thiserror::Error;

use super::model::{Report, SCHEMA_VERSION};

/// The file name of the model inside a report folder.
pub const FILE_NAME: &str = "report.json";

/// The report as pretty JSON. Keys come out in a stable order (struct fields in
/// declaration order, maps sorted), so two reports diff cleanly line by line.
pub fn to_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report)
        .expect("the report model holds only JSON-representable values");
    text.push('\n');
    text
}

/// Why a report could not be read.
#[derive(Debug, Error, Diagnostic)]
pub enum ReadError {
    #[error("cannot read report {path}: {error}")]
    #[diagnostic(
        code(wsbench::report::unreadable),
        help("give a report.json file or a report folder such as reports/<run-id>/")
    )]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{path} is not valid JSON (line {line}, column {column}): {message}")]
    #[diagnostic(
        code(wsbench::report::not_json),
        help(
            "the file may be truncated or not a wsbench report; re-run the scenario to write it again"
        )
    )]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{path} has no schema_version: it is not a wsbench report")]
    #[diagnostic(
        code(wsbench::report::no_schema_version),
        help("give the report.json that `wsbench run` wrote")
    )]
    NoSchemaVersion { path: PathBuf },

    #[error(
        "{path} uses report schema version {found} (written by {writer}); this wsbench reads version {SCHEMA_VERSION}"
    )]
    #[diagnostic(
        code(wsbench::report::schema_version),
        help(
            "read it with the wsbench version that wrote it, or re-run the scenario with this one"
        )
    )]
    UnknownSchema {
        path: PathBuf,
        found: String,
        writer: String,
    },

    #[error("{path} does not match report schema version {SCHEMA_VERSION}: {message}")]
    #[diagnostic(
        code(wsbench::report::bad_shape),
        help(
            "the file was edited or written by a different tool; re-run the scenario to write it again"
        )
    )]
    BadShape { path: PathBuf, message: String },
}

/// Reads a report from a `report.json` file or from a report folder holding one.
/// Refuses a schema version this build does not know, naming the version and its writer.
pub fn read_report(path: &Path) -> Result<Report, ReadError> {
    let file = if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|error| ReadError::Io {
        path: file.clone(),
        error,
    })?;
    parse_report(&text, &file)
}

/// Parses report text; `path` only names the source in errors.
pub fn parse_report(text: &str, path: &Path) -> Result<Report, ReadError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|err| ReadError::NotJson {
            path: path.to_path_buf(),
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        })?;
    let version = value
        .get("schema_version")
        .ok_or_else(|| ReadError::NoSchemaVersion {
            path: path.to_path_buf(),
        })?;
    if version.as_u64() != Some(u64::from(SCHEMA_VERSION)) {
        let writer = value
            .pointer("/tool/version")
            .and_then(|v| v.as_str())
            .map(|v| format!("wsbench {v}"))
            .unwrap_or_else(|| "an unknown tool".to_string());
        return Err(ReadError::UnknownSchema {
            path: path.to_path_buf(),
            found: version.to_string(),
            writer,
        });
    }
    serde_json::from_value(value).map_err(|err| ReadError::BadShape {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::sample_report;

    #[test]
    fn round_trips_and_keeps_key_order() {
        let report = sample_report();
        let text = to_json(&report);
        let back = parse_report(&text, Path::new("report.json")).unwrap();
        assert_eq!(back, report);
        assert_eq!(to_json(&back), text);
        let schema = text.find("\"schema_version\"").unwrap();
        let tool = text.find("\"tool\"").unwrap();
        let steps = text.find("\"steps\"").unwrap();
        assert!(schema < tool && tool < steps, "fields in declaration order");
        let lost = text.find("\"lost\"").unwrap();
        let sent = text.find("\"sent\"").unwrap();
        assert!(lost < sent, "metric maps sorted by name");
    }

    #[test]
    fn refuses_another_schema_version() {
        let mut value = serde_json::to_value(sample_report()).unwrap();
        value["schema_version"] = serde_json::json!(2);
        value["tool"]["version"] = serde_json::json!("9.0.0");
        let err = parse_report(&value.to_string(), Path::new("old/report.json")).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ReadError::UnknownSchema { .. }), "{text}");
        assert!(text.contains("version 2"), "{text}");
        assert!(text.contains("wsbench 9.0.0"), "{text}");
        assert!(text.contains("old/report.json"), "{text}");
    }

    #[test]
    fn names_what_is_wrong_with_other_files() {
        let err = parse_report("{\"a\": ", Path::new("x.json")).unwrap_err();
        assert!(matches!(err, ReadError::NotJson { line: 1, .. }), "{err}");
        let err = parse_report("{\"a\": 1}", Path::new("x.json")).unwrap_err();
        assert!(matches!(err, ReadError::NoSchemaVersion { .. }), "{err}");
        let err = parse_report("{\"schema_version\": 1}", Path::new("x.json")).unwrap_err();
        assert!(matches!(err, ReadError::BadShape { .. }), "{err}");
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    /// Every field a report carries is described in the schema document.
    #[test]
    fn schema_document_names_every_field() {
        fn walk(
            value: &serde_json::Value,
            keys_are_names: bool,
            doc: &str,
            missing: &mut Vec<String>,
        ) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, child) in map {
                        if !keys_are_names && !doc.contains(&format!("`{key}`")) {
                            missing.push(key.clone());
                        }
                        match key.as_str() {
                            // Free-form settings as the scenario gave them.
                            "settings" if !keys_are_names => {}
                            // Maps keyed by metric names or causes: check their values.
                            "metrics" | "distributions" | "failures" if !keys_are_names => {
                                walk(child, true, doc, missing)
                            }
                            _ => walk(child, false, doc, missing),
                        }
                    }
                }
                serde_json::Value::Array(items) => items
                    .iter()
                    .for_each(|item| walk(item, false, doc, missing)),
                _ => {}
            }
        }
        let doc = include_str!("../../docs/report-schema.md");
        let mut missing = Vec::new();
        walk(
            &serde_json::to_value(sample_report()).unwrap(),
            false,
            doc,
            &mut missing,
        );
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "not in docs/report-schema.md: {missing:?}"
        );
        assert!(doc.contains(&format!("currently **{SCHEMA_VERSION}**")));
    }

    #[test]
    fn reads_a_report_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), to_json(&sample_report())).unwrap();
        assert_eq!(read_report(dir.path()).unwrap(), sample_report());
        let missing = read_report(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, ReadError::Io { .. }), "{missing}");
    }
}

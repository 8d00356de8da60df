//! `wsbench man`: man pages generated from the clap definitions, so they never drift
//! from `--help`.

use std::path::Path;

use miette::Diagnostic;
use thiserror::Error;

use crate::exit::{CommandResult, Failure, Outcome};

#[derive(Debug, Error, Diagnostic)]
#[error("cannot write the man page {path}: {reason}")]
#[diagnostic(
    code(wsbench::man::write),
    help("choose a folder you can write with --out-dir DIR")
)]
pub struct ManPageError {
    path: String,
    reason: String,
}

fn render(cmd: clap::Command, title: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .title(title.to_string())
        .render(&mut buf)
        .expect("rendering into memory cannot fail");
    buf
}

/// Prints wsbench.1, or writes a page per command (`wsbench-run.1`, …) into `out_dir`.
pub fn main(cmd: clap::Command, out_dir: Option<&Path>) -> CommandResult {
    let Some(dir) = out_dir else {
        crate::terminal::out(&String::from_utf8_lossy(&render(cmd, "wsbench")));
        return Ok(Outcome::Success);
    };
    let fail = |path: &Path, e: std::io::Error| {
        Failure::usage(ManPageError {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut pages = vec![("wsbench".to_string(), cmd.clone())];
    collect(&cmd, "wsbench", &mut pages);
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, render(page, &name)).map_err(|e| fail(&path, e))?;
        crate::terminal::out_line(&path.display().to_string());
    }
    Ok(Outcome::Success)
}

fn collect(cmd: &clap::Command, prefix: &str, pages: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{prefix}-{}", sub.get_name());
        pages.push((name.clone(), sub.clone()));
        collect(sub, &name, pages);
    }
}

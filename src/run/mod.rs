//! `wsbench run`: drive a scenario against its target and write the report.
//!
//! scenario → target → steps (recording into one recorder, device console alongside)
//! → thresholds → `Report` → `write_report_dir`. Ctrl-C or a lost target stops the run
//! but the report is still written, marked incomplete.

mod console;
mod progress;
mod verdict;

use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::miette;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::client::tls::Trust;
use crate::exit::{CommandResult, Failure, Outcome};
use crate::recorder::Recorder;
use crate::report::model::{self, Report, StepStatus, TargetInfo, Verdict};
use crate::scenario::LoadedScenario;
use crate::scenario::model::Step;
use crate::sim::SimOptions;
use crate::steps::{self, PooledClient, StepCtx};
use crate::target::{self, Target, TargetRequest};

use progress::{Mode, StepProgress};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (see scenarios/README.md).
    pub scenario: PathBuf,
    /// A ws:// or wss:// server to test instead of the scenario's `target:`.
    #[arg(long, value_name = "URL", conflicts_with = "sim")]
    pub target: Option<String>,
    /// Run against the in-process simulated board, whatever the scenario says.
    #[arg(long)]
    pub sim: bool,
    /// Trust this PEM certificate (CA or self-signed) for wss:// instead of the bundled
    /// device certificate.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not check the server's certificate at all (recorded in the report).
    #[arg(long)]
    pub insecure: bool,
    /// Folder the report folder `<run-id>/` is written into.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// How long opening a connection to the target may take before the run gives up.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Print only the result and where the report is.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn main(args: RunArgs) -> CommandResult {
    let loaded = crate::scenario::load(&args.scenario).map_err(|e| Failure::usage(*e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unrunnable(miette!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(args, loaded))
}

fn sim_options(loaded: &LoadedScenario) -> SimOptions {
    let mut o = SimOptions::default();
    if let Some(s) = &loaded.scenario.sim {
        if let Some(v) = s.max_sockets {
            o.max_sockets = v as usize;
        }
        if let Some(v) = s.lru_purge {
            o.lru_purge = v;
        }
        if let Some(v) = s.broadcast_interval_ms {
            o.broadcast_interval_ms = v;
        }
        if let Some(v) = s.max_message_len {
            o.max_message_len = v as usize;
        }
    }
    o
}

async fn run(args: RunArgs, loaded: LoadedScenario) -> CommandResult {
    let mode = Mode::detect(args.quiet);
    let trust = if args.insecure {
        Trust::Insecure
    } else if let Some(ca) = &args.ca {
        Trust::CaFile(ca.clone())
    } else {
        Trust::BundledDeviceCert
    };
    let request = TargetRequest {
        url: args.target.clone(),
        sim: args.sim,
        scenario_url: loaded.scenario.target.clone(),
        trust: Some(trust),
        sim_options: sim_options(&loaded),
    };
    let target = target::resolve(request).await.map_err(|e| match e {
        target::TargetError::Sim(_) => Failure::unrunnable(e),
        _ => Failure::usage(e),
    })?;
    if mode != Mode::Quiet {
        println!(
            "scenario {} ({})",
            loaded.scenario.name,
            loaded.path.display()
        );
        let label = match target.kind {
            model::TargetKind::Simulated => "simulated board",
            model::TargetKind::Board => "board",
            model::TargetKind::Url => "server",
        };
        println!(
            "target   {label} {} ({})",
            target.endpoint.url, target.selected_because
        );
        if target.insecure() {
            println!("warning  --insecure: server certificates are not checked");
        }
    }
    preflight(&target, args.connect_timeout).await?;

    let recorder = Recorder::new();
    let started_at = std::time::SystemTime::now();
    let console_task = target
        .sim
        .as_ref()
        .map(|b| tokio::spawn(console::follow(b.console_lines(), recorder.clone())));

    let (stop_tx, stop_rx) = watch::channel(None::<String>);
    // Ctrl-C at the bench, SIGTERM from a CI job's timeout: either way the report of
    // what was measured so far is still written.
    let ctrl_c = tokio::spawn(async move {
        let why = tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => "interrupted by Ctrl-C",
            Some(()) = terminate_signal() => "terminated (SIGTERM)",
            else => return,
        };
        let _ = stop_tx.send(Some(why.into()));
    });

    let interruption = run_steps(&loaded, &target, &recorder, mode, stop_rx).await;
    ctrl_c.abort();
    // Let the device log the last closes before the console stops.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Some(t) = console_task {
        t.abort();
    }
    let serial_log = recorder.serial_log();
    let report = build_report(&loaded, &target, &recorder, started_at, interruption);
    if let Some(board) = target.sim {
        board.shutdown().await;
    }
    let dir = args.report_dir.join(&report.run_id);
    crate::report::write_report_dir(&report, &dir, serial_log.as_deref()).map_err(|e| {
        Failure::unrunnable(miette!(
            help = "choose another folder with --report-dir DIR",
            "cannot write the report to {}: {e}",
            dir.display()
        ))
    })?;
    print_summary(&report, &dir, mode);
    match report.verdict {
        Verdict::Pass => Ok(Outcome::Success),
        Verdict::Fail => Ok(Outcome::ThresholdsFailed),
        Verdict::Incomplete => Err(Failure::unrunnable(miette!(
            help = "the report holds what was measured before the interruption",
            "the run did not finish: {}; partial report in {}",
            report.interruption.as_deref().unwrap_or("interrupted"),
            dir.display()
        ))),
    }
}

/// One WebSocket connection before the run, so an unreachable target is told apart
/// (refused, timed out, TLS, HTTP status, closed at once) and exits 3 at once.
async fn preflight(target: &Target, timeout: Duration) -> Result<(), Failure> {
    match target.endpoint.connect(None, timeout).await {
        Ok((mut ws, _)) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            Ok(())
        }
        Err(e) => {
            let help = e.help();
            Err(Failure::unrunnable(miette!(
                code = "wsbench::run::unreachable",
                help = help,
                "cannot run against {}: {e}",
                target.endpoint.url
            )))
        }
    }
}

/// Runs the steps in order; returns why the run stopped early, if it did.
async fn run_steps(
    loaded: &LoadedScenario,
    target: &Target,
    recorder: &Recorder,
    mode: Mode,
    mut stop: watch::Receiver<Option<String>>,
) -> Option<String> {
    let mut pool: Vec<PooledClient> = Vec::new();
    let mut next_id = 1u32;
    let total = loaded.scenario.steps.len();
    let mut interruption = None;
    let mut pool_emptied_by: Option<String> = None;
    for (i, (step, name)) in loaded
        .scenario
        .steps
        .iter()
        .zip(&loaded.step_names)
        .enumerate()
    {
        let rec = recorder.begin_step(name, step.kind(), step.settings_json());
        let label = format!("[{}/{}] {name}", i + 1, total);
        let progress = StepProgress::start(mode, label, rec.clone());
        let had_clients = !pool.is_empty();
        let mut ctx = StepCtx {
            endpoint: &target.endpoint,
            wss: target.wss.as_ref(),
            pool: &mut pool,
            pool_emptied_by: pool_emptied_by.as_deref(),
            rec: rec.clone(),
            next_client_id: &mut next_id,
        };
        let result = tokio::select! {
            r = steps::run(step, &mut ctx) => Some(r),
            _ = stop.wait_for(|s| s.is_some()) => None,
        };
        match result {
            None => {
                progress.finish("interrupted");
                interruption = stop.borrow().clone();
                break;
            }
            // Errors recorded on the way (a client dropped, a send that never left) fail
            // the step even without a threshold: a run with errors is never a PASS.
            Some(Ok(())) if rec.has_errors() => {
                rec.finish(StepStatus::Failed);
                progress.finish("failed: errors recorded (see the report)");
            }
            Some(Ok(())) => {
                rec.finish(StepStatus::Passed);
                progress.finish("done");
            }
            Some(Err(why)) => {
                rec.error(why.clone());
                rec.finish(StepStatus::Failed);
                progress.finish(&format!("failed: {why}"));
            }
        }
        if !pool.is_empty() {
            pool_emptied_by = None;
        } else if had_clients || matches!(step, Step::Connect(_)) {
            let how = if rec.has_errors() { "failed" } else { "ended" };
            pool_emptied_by = Some(format!("step `{name}` {how} with no client left open"));
        }
        // A step that hit errors may mean the target is gone: check before going on.
        if rec.has_errors() {
            match target.endpoint.connect(None, Duration::from_secs(2)).await {
                Ok((mut ws, _)) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                }
                Err(e) if !steps::pool_answers(&mut pool).await => {
                    interruption = Some(format!("target lost after step `{name}`: {e}"));
                    break;
                }
                Err(e) => rec.note(format!(
                    "a new connection after this step failed ({e}) while the open clients still answer: \
                     the target is at its socket limit, not lost"
                )),
            }
        }
    }
    // Close the clients still open, politely and in parallel, bounded in time.
    let closes = pool.into_iter().map(|mut c| async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), c.ws.close(None)).await;
    });
    futures_util::future::join_all(closes).await;
    interruption
}

fn run_id(started: std::time::SystemTime, name: &str) -> String {
    let stamp = humantime::format_rfc3339_seconds(started)
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

fn build_report(
    loaded: &LoadedScenario,
    target: &Target,
    recorder: &Recorder,
    started_at: std::time::SystemTime,
    interruption: Option<String>,
) -> Report {
    let summary = recorder.summarize();
    let complete = interruption.is_none();
    let mut report = Report {
        schema_version: model::SCHEMA_VERSION,
        tool: model::ToolInfo {
            name: "wsbench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: run_id(started_at, &loaded.scenario.name),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        duration_ms: recorder.elapsed().as_millis() as u64,
        target: TargetInfo {
            kind: target.kind,
            url: target.endpoint.url.to_string(),
            tls: target.endpoint.tls.is_some(),
            insecure: target.insecure(),
            trust: Some(target.trust.describe()),
            selected_because: target.selected_because.clone(),
        },
        scenario: model::ScenarioInfo {
            name: loaded.scenario.name.clone(),
            file: loaded.path.display().to_string(),
            description: loaded.scenario.description.clone(),
            sha256: sha256_hex(loaded.text.as_bytes()),
        },
        complete,
        interruption,
        verdict: Verdict::Incomplete,
        steps: summary.steps,
        timeline: summary.timeline,
        device: summary.device,
        thresholds: Vec::new(),
        errors: Vec::new(),
    };
    // Steps never started are listed as interrupted, so the reader sees what was skipped.
    for (step, name) in loaded
        .scenario
        .steps
        .iter()
        .zip(&loaded.step_names)
        .skip(report.steps.len())
    {
        report.steps.push(model::StepReport {
            name: name.clone(),
            kind: step.kind().into(),
            started_ms: report.duration_ms,
            duration_ms: 0,
            status: StepStatus::Interrupted,
            settings: step.settings_json(),
            metrics: Default::default(),
            distributions: Default::default(),
            failures: Default::default(),
            notes: vec!["not started: the run was interrupted".into()],
            errors: Vec::new(),
            rungs: Vec::new(),
        });
    }
    if let Some(why) = &report.interruption {
        report.errors.push(why.clone());
    }
    report.thresholds = verdict::evaluate(&loaded.thresholds, &report);
    report.verdict = verdict::verdict(&report);
    report
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn print_summary(report: &Report, dir: &Path, mode: Mode) {
    use crate::report::summary;
    if mode != Mode::Quiet {
        for t in &report.thresholds {
            println!("  {}", t.message);
        }
        for s in report.steps.iter().filter(|s| !s.errors.is_empty()) {
            println!(
                "  step {}: {} error(s), first: {}",
                s.name,
                s.errors.len(),
                s.errors[0]
            );
        }
        if report.target.kind == model::TargetKind::Simulated {
            println!("  ({})", summary::SIMULATED_LABEL);
        }
    }
    println!(
        "{}: report written to {}",
        summary::verdict_word(report.verdict),
        dir.display()
    );
}

/// Resolves on SIGTERM; `None` when that signal cannot be watched.
async fn terminate_signal() -> Option<()> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()?;
    term.recv().await
}

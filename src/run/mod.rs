//! `wsbench run`: drive a scenario against its target and write the report.
//!
//! scenario → report folder reserved → target → [`execute`] (steps recording into one
//! recorder, device console alongside → thresholds → `Report`) → `write_report_dir`.
//! Every run that got as far as a scenario and a writable folder leaves a report: one
//! that could not start (refused, unresolvable, TLS, HTTP error) and one cut short by
//! Ctrl-C or a lost target are written too, marked incomplete.

mod console;
mod error;
mod progress;
mod report_folder;
mod summary_json;
mod verdict;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

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
use crate::terminal::out_line;

pub use console::Console;
pub use error::RunError;
pub use progress::Mode;
use progress::StepProgress;
pub use report_folder::{ReportFolder, ReportFolderError};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (see scenarios/README.md).
    pub scenario: PathBuf,
    /// A ws:// or wss:// server to test instead of the scenario's `target:`.
    #[arg(
        long,
        value_name = "URL",
        env = "WSBENCH_TARGET",
        conflicts_with = "sim"
    )]
    pub target: Option<String>,
    /// Run against the in-process simulated board, whatever the scenario says.
    #[arg(long)]
    pub sim: bool,
    /// The board's serial console port (e.g. /dev/ttyUSB0), read from before the
    /// target is chosen into the run's timeline; without --target, the board's ready
    /// line names the target.
    #[arg(long, value_name = "PORT", env = "WSBENCH_PORT")]
    pub port: Option<PathBuf>,
    /// How long to wait for the board's ready line on its console when it has to name
    /// the target (no --target).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ready_timeout: Duration,
    /// Trust this PEM certificate for wss://: a CA certificate (trust anchor) or the
    /// server's own self-signed certificate (pinned: only that exact certificate is
    /// accepted), instead of the bundled device certificate.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not check the server's certificate at all (recorded in the report).
    #[arg(long)]
    pub insecure: bool,
    /// Folder the report folder `<run-id>/` is written into (created if missing,
    /// checked writable before the run starts).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "reports",
        env = "WSBENCH_REPORT_DIR"
    )]
    pub report_dir: PathBuf,
    /// How long opening a connection to the target may take before the run gives up.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Print only the result and where the report is.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the result as one JSON object on stdout (verdict, thresholds, report
    /// path) and nothing else there; diagnostics still go to stderr.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: RunArgs) -> CommandResult {
    let loaded = crate::scenario::load(&args.scenario).map_err(|e| Failure::usage(*e))?;
    let started_at = SystemTime::now();
    let folder = ReportFolder::reserve(&args.report_dir, &loaded.scenario.name, started_at)
        .map_err(Failure::usage)?;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            folder.discard_if_empty();
            return Err(Failure::unrunnable(RunError::Runtime(e.to_string())));
        }
    };
    runtime.block_on(run_cli(args, loaded, folder, started_at))
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

fn trust_of(args: &RunArgs) -> Trust {
    if args.insecure {
        Trust::Insecure
    } else if let Some(ca) = &args.ca {
        Trust::CaFile(ca.clone())
    } else {
        Trust::BundledDeviceCert
    }
}

/// The command-line side of a run: resolves the target, prints, writes the report and
/// maps the outcome to an exit code. The measuring is [`execute`]'s.
async fn run_cli(
    args: RunArgs,
    loaded: LoadedScenario,
    folder: ReportFolder,
    started_at: SystemTime,
) -> CommandResult {
    let mode = Mode::detect(args.quiet || args.json);
    let trust = trust_of(&args);
    let mut request = TargetRequest {
        url: args.target.clone(),
        sim: args.sim,
        scenario_url: loaded.scenario.target.clone(),
        trust: Some(trust.clone()),
        sim_options: sim_options(&loaded),
        console: None,
    };
    let user = match crate::console::monitor::scenario_patterns(&loaded) {
        Ok(u) => u,
        Err(e) => {
            folder.discard_if_empty();
            return Err(Failure::usage(e));
        }
    };
    // The console first, so the board's boot and ready lines are read, not lost.
    let mut console = None;
    if let Some((path, found)) = console_port(&args, &loaded) {
        let attached = attach_console(&args, mode, &path, found, user.clone()).await;
        match attached {
            Ok((c, seen)) => {
                console = Some(c);
                request.console = Some(seen);
            }
            Err(e) => {
                let info = requested_target_info(&request, &trust);
                let report = unstarted_report(&loaded, info, &folder, started_at, &e.to_string());
                if let Err(w) = crate::report::write_report_dir(&report, &folder.path, None) {
                    eprintln!("wsbench: could not write the report either: {w}");
                }
                return Err(Failure::unrunnable(e));
            }
        }
    }
    let target = match target::resolve(request.clone()).await {
        Ok(t) => t,
        Err(e @ (target::TargetError::BadUrl { .. } | target::TargetError::Tls(_))) => {
            folder.discard_if_empty();
            return Err(Failure::usage(e));
        }
        Err(e) => {
            // The run could not start (a name that does not resolve, a simulated board
            // that cannot bind): still a report, so CI sees why.
            let info = requested_target_info(&request, &trust);
            let start = StartFailure {
                message: e.to_string(),
                help: match &e {
                    target::TargetError::Resolve { .. } => {
                        "check the host name (or use an IP address) and that this host is on the board's network"
                    }
                    _ => "see the message above; the simulated board needs free ports on 127.0.0.1",
                },
            };
            let report = unstarted_report(&loaded, info, &folder, started_at, &start.message);
            return finish(&args, mode, report, None, &folder, Some(start));
        }
    };
    if mode != Mode::Quiet {
        out_line(&format!(
            "scenario {} ({})",
            loaded.scenario.name,
            loaded.path.display()
        ));
        let label = match target.kind {
            model::TargetKind::Simulated => "simulated board",
            model::TargetKind::Board => "board",
            model::TargetKind::Url => "server",
        };
        out_line(&format!(
            "target   {label} {} ({})",
            target.endpoint.url, target.selected_because
        ));
        if target.insecure() {
            out_line("warning  --insecure: server certificates are not checked");
        }
    }

    let (stop_tx, stop_rx) = watch::channel(None::<String>);
    // Ctrl-C at the bench, SIGTERM from a CI job's timeout: either way the report of
    // what was measured so far is still written.
    let signals = tokio::spawn(async move {
        let why = tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => "interrupted by Ctrl-C",
            Some(()) = terminate_signal() => "terminated (SIGTERM)",
            else => return,
        };
        let _ = stop_tx.send(Some(why.into()));
    });
    let plan = RunPlan {
        loaded: &loaded,
        run_id: folder.run_id.clone(),
        started_at,
        connect_timeout: args.connect_timeout,
        progress: mode,
    };
    let console = console.or_else(|| {
        target
            .sim
            .as_ref()
            .map(|b| Console::simulated(b.console_lines(), user))
    });
    let outcome = execute(&plan, &target, console, stop_rx).await;
    signals.abort();
    if let Some(board) = target.sim {
        board.shutdown().await;
    }
    finish(
        &args,
        mode,
        outcome.report,
        outcome.serial_log.as_deref(),
        &folder,
        outcome.start_failure,
    )
}

/// The console port of this run: `--port`/`WSBENCH_PORT`, or, when nothing names a
/// target, a board found on USB (`true`: found, not given). Never with `--sim`.
fn console_port(args: &RunArgs, loaded: &LoadedScenario) -> Option<(PathBuf, bool)> {
    if args.sim {
        return None;
    }
    if let Some(p) = &args.port {
        return Some((p.clone(), false));
    }
    if args.target.is_some() || loaded.scenario.target.is_some() {
        return None;
    }
    target::board_on_usb().map(|b| (b.path, true))
}

/// Opens the console and, when it must name the target, waits for the ready line.
async fn attach_console(
    args: &RunArgs,
    mode: Mode,
    path: &std::path::Path,
    found_on_usb: bool,
    user: crate::console::profile::UserPatterns,
) -> Result<(Console, target::ConsoleSeen), RunError> {
    let mut console = Console::open_port(path, user)?;
    let port = path.display().to_string();
    let needs_ready = args.target.is_none();
    // With --target the ready line is not needed, but a short look lets the boot at
    // attach be told apart from a reboot during the run.
    let wait = if needs_ready {
        args.ready_timeout
    } else {
        Duration::from_secs(2)
    };
    if needs_ready && mode != Mode::Quiet {
        out_line(&format!(
            "console  {port}{}: waiting up to {} for the board's ready line (press its reset button if it booted long ago)",
            if found_on_usb {
                " (board found on USB)"
            } else {
                ""
            },
            humantime::format_duration(wait)
        ));
    }
    let ready = match console.wait_ready(wait).await {
        Ok(r) => Some(r),
        Err(_) if !needs_ready => None,
        Err(last) => {
            return Err(RunError::NoReadyLine {
                port,
                timeout: humantime::format_duration(wait).to_string(),
                last_lines: if last.is_empty() {
                    "nothing".into()
                } else {
                    format!("\"{}\"", last.join("\" / \""))
                },
            });
        }
    };
    // A board cannot be at a loopback address: a ready line naming one is the
    // simulated board's (`wsbench sim` on a pty), and is labelled so.
    let loopback = ready
        .as_ref()
        .and_then(|r| r.ip.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    let seen = target::ConsoleSeen {
        port,
        ready,
        simulated: console.says_simulated() || loopback,
    };
    Ok((console, seen))
}

/// Writes the report, prints the summary (or `--json`), gives the exit code.
fn finish(
    args: &RunArgs,
    mode: Mode,
    report: Report,
    serial_log: Option<&str>,
    folder: &ReportFolder,
    start_failure: Option<StartFailure>,
) -> CommandResult {
    let dir = &folder.path;
    if let Err(e) = crate::report::write_report_dir(&report, dir, serial_log) {
        return Err(Failure::unrunnable(RunError::WriteReport {
            path: dir.clone(),
            reason: e.to_string(),
        }));
    }
    let result = match (&start_failure, report.verdict) {
        (Some(start), _) => Err(Failure::unrunnable(RunError::CouldNotStart {
            url: report.target.url.clone(),
            reason: start.message.clone(),
            help: start.help.to_string(),
            report: dir.clone(),
        })),
        (None, Verdict::Pass) => Ok(Outcome::Success),
        (None, Verdict::Fail) => Ok(Outcome::ThresholdsFailed),
        (None, Verdict::Incomplete) => Err(Failure::unrunnable(RunError::Incomplete {
            reason: report
                .interruption
                .clone()
                .unwrap_or_else(|| "interrupted".into()),
            report: dir.clone(),
        })),
    };
    let exit_code = match &result {
        Ok(o) => u8::from(*o == Outcome::ThresholdsFailed),
        Err(f) => f.exit_code(),
    };
    if args.json {
        out_line(&summary_json::render(&report, dir, exit_code));
    } else {
        print_summary(&report, dir, mode);
    }
    result
}

/// Why a run could not start, with what to try.
#[derive(Debug, Clone)]
pub struct StartFailure {
    pub message: String,
    pub help: &'static str,
}

/// What a run needs besides its target: the scenario, its identity, how to show
/// progress.
pub struct RunPlan<'a> {
    pub loaded: &'a LoadedScenario,
    pub run_id: String,
    pub started_at: SystemTime,
    pub connect_timeout: Duration,
    pub progress: Mode,
}

/// What a run produced.
pub struct RunOutcome {
    pub report: Report,
    /// The device console's raw text, when one was read.
    pub serial_log: Option<String>,
    /// Set when the run could not start (the report then holds no measurement).
    pub start_failure: Option<StartFailure>,
}

/// Runs a scenario against a resolved target and builds its report: the library entry
/// point `wsbench run` uses, and that later commands (`wsbench ci`, several boards in
/// one job) can call per target. `console` (a port's or the simulated board's, opened
/// before the target was resolved) feeds device events into the timeline;
/// `stop` ends the run early with the reason sent (the report is then incomplete).
/// Prints only progress (per `plan.progress`); never writes files.
pub async fn execute(
    plan: &RunPlan<'_>,
    target: &Target,
    console: Option<Console>,
    stop: watch::Receiver<Option<String>>,
) -> RunOutcome {
    if let Err(e) = preflight(target, plan.connect_timeout).await {
        let report = unstarted_report(
            plan.loaded,
            target_info(target),
            &ReportFolder {
                run_id: plan.run_id.clone(),
                path: PathBuf::new(),
            },
            plan.started_at,
            &e.message,
        );
        return RunOutcome {
            report,
            serial_log: None,
            start_failure: Some(e),
        };
    }
    let recorder = Recorder::new();
    let following = match console {
        Some(c) => Some(c.follow(recorder.clone(), plan.progress)),
        None => {
            recorder.device_source(not_observed_reason(target), false);
            None
        }
    };
    let interruption = run_steps(plan.loaded, target, &recorder, plan.progress, stop).await;
    if let Some(f) = following {
        // Let the device log the last closes before the console stops.
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.stop().await;
    }
    let serial_log = recorder.serial_log();
    let report = build_report(plan, target, &recorder, interruption);
    RunOutcome {
        report,
        serial_log,
        start_failure: None,
    }
}

fn not_observed_reason(target: &Target) -> String {
    match target.kind {
        model::TargetKind::Url => "no serial console was read: the target is a URL; give the board's console with --port PATH (or WSBENCH_PORT)".into(),
        _ => "no serial console was read on this target".into(),
    }
}

/// One WebSocket connection before the run, so an unreachable target is told apart
/// (refused, timed out, TLS, HTTP status, closed at once) before any step.
async fn preflight(target: &Target, timeout: Duration) -> Result<(), StartFailure> {
    match target.endpoint.connect(None, timeout).await {
        Ok((mut ws, _)) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            Ok(())
        }
        Err(e) => Err(StartFailure {
            message: e.to_string(),
            help: e.help(),
        }),
    }
}

fn target_info(target: &Target) -> TargetInfo {
    TargetInfo {
        kind: target.kind,
        url: target.endpoint.url.to_string(),
        tls: target.endpoint.tls.is_some(),
        insecure: target.insecure(),
        trust: Some(target.trust.describe()),
        selected_because: target.selected_because.clone(),
    }
}

/// The target as asked for, when it could not be resolved.
fn requested_target_info(req: &TargetRequest, trust: &Trust) -> TargetInfo {
    let (kind, url, because) = match (&req.url, &req.scenario_url) {
        _ if req.sim => (model::TargetKind::Simulated, String::new(), "--sim"),
        (Some(u), _) => (model::TargetKind::Url, u.clone(), "given with --target"),
        (None, Some(u)) => (
            model::TargetKind::Url,
            u.clone(),
            "the scenario's `target:`",
        ),
        (None, None) => (
            model::TargetKind::Simulated,
            String::new(),
            "no target given and no board found: the in-process simulated board",
        ),
    };
    TargetInfo {
        kind,
        tls: url.starts_with("wss:"),
        url,
        insecure: matches!(trust, Trust::Insecure),
        trust: Some(trust.describe()),
        selected_because: because.into(),
    }
}

/// The report of a run that never started: no step ran, every threshold unmeasured.
fn unstarted_report(
    loaded: &LoadedScenario,
    target: TargetInfo,
    folder: &ReportFolder,
    started_at: SystemTime,
    reason: &str,
) -> Report {
    let why = format!("could not start: {reason}");
    let mut report = skeleton(loaded, target, folder.run_id.clone(), started_at, 0);
    report.complete = false;
    report.started = false;
    report.interruption = Some(why.clone());
    add_unstarted_steps(&mut report, loaded, "not started: the run could not start");
    report.errors.push(why);
    report.thresholds = verdict::evaluate(&loaded.thresholds, &report);
    report.verdict = verdict::verdict(&report);
    report
}

fn skeleton(
    loaded: &LoadedScenario,
    target: TargetInfo,
    run_id: String,
    started_at: SystemTime,
    duration_ms: u64,
) -> Report {
    Report {
        schema_version: model::SCHEMA_VERSION,
        tool: model::ToolInfo {
            name: "wsbench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id,
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        duration_ms,
        target,
        scenario: model::ScenarioInfo {
            name: loaded.scenario.name.clone(),
            file: loaded.path.display().to_string(),
            description: loaded.scenario.description.clone(),
            sha256: sha256_hex(loaded.text.as_bytes()),
        },
        complete: true,
        started: true,
        interruption: None,
        verdict: Verdict::Incomplete,
        steps: Vec::new(),
        timeline: Vec::new(),
        timeline_resolution_ms: 1000,
        timeline_buckets: Vec::new(),
        device: Default::default(),
        thresholds: Vec::new(),
        errors: Vec::new(),
    }
}

/// Lists the steps that never started, so the reader sees what was skipped.
fn add_unstarted_steps(report: &mut Report, loaded: &LoadedScenario, note: &str) {
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
            notes: vec![note.into()],
            errors: Vec::new(),
            rungs: Vec::new(),
        });
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
            stop: stop.clone(),
        };
        // A step that winds down on the stop is given the time to; any other is dropped.
        let winds_down = steps::winds_down(step);
        let grace = if winds_down {
            steps::WIND_DOWN_GRACE
        } else {
            Duration::ZERO
        };
        let result = tokio::select! {
            r = steps::run(step, &mut ctx) => Some(r),
            _ = async {
                // A dropped stop sender is no stop.
                if stop.wait_for(|s| s.is_some()).await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(grace).await;
            } => None,
        };
        let stopped = stop.borrow().clone();
        match result {
            None => {
                progress.finish("interrupted");
                interruption = stopped;
                break;
            }
            Some(r) if winds_down && stopped.is_some() => {
                if let Err(why) = r {
                    rec.error(why);
                }
                rec.finish(StepStatus::Interrupted);
                progress.finish("interrupted (its figures cover the part it ran)");
                interruption = stopped;
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
            let reachable = match target.endpoint.connect(None, Duration::from_secs(2)).await {
                Err(e) if recorder.device_observed() && !answers_http(&e) => {
                    back_after_reset(target, &rec).await
                }
                other => other,
            };
            match reachable {
                Ok((mut ws, _)) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                }
                // An HTTP answer (a socket cap's 503) comes from a server that is up.
                Err(e) if pool.is_empty() && answers_http(&e) => {
                    rec.note(format!(
                        "a new connection after this step failed ({e}): the target answers but refuses new \
                         clients, so it is at its socket limit, not lost"
                    ))
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

/// A connection refused with an HTTP status came from a server that is up.
fn answers_http(e: &crate::client::ConnectError) -> bool {
    matches!(e, crate::client::ConnectError::HttpStatus { .. })
}

/// The device's console is read, so a target that stopped answering may be resetting:
/// wait for it to serve again (a boot takes seconds) before calling it lost.
async fn back_after_reset(
    target: &Target,
    rec: &crate::recorder::StepRec,
) -> Result<(crate::client::Ws, crate::client::Timings), crate::client::ConnectError> {
    let deadline = tokio::time::Instant::now() + REBOOT_GRACE;
    loop {
        let r = target.endpoint.connect(None, Duration::from_secs(2)).await;
        if r.is_ok() || tokio::time::Instant::now() >= deadline {
            if r.is_ok() {
                rec.note(
                    "the target stopped answering after this step and came back (see the device events for a reset)"
                        .to_string(),
                );
            }
            return r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How long a device that reset during the run may take to serve again.
const REBOOT_GRACE: Duration = Duration::from_secs(15);

fn build_report(
    plan: &RunPlan<'_>,
    target: &Target,
    recorder: &Recorder,
    interruption: Option<String>,
) -> Report {
    let summary = recorder.summarize();
    let mut report = skeleton(
        plan.loaded,
        target_info(target),
        plan.run_id.clone(),
        plan.started_at,
        recorder.elapsed().as_millis() as u64,
    );
    report.complete = interruption.is_none();
    report.interruption = interruption;
    report.steps = summary.steps;
    report.timeline = summary.timeline;
    report.timeline_resolution_ms = summary.timeline_resolution_ms;
    report.timeline_buckets = summary.timeline_buckets;
    report.device = summary.device;
    add_unstarted_steps(
        &mut report,
        plan.loaded,
        "not started: the run was interrupted",
    );
    if let Some(why) = &report.interruption {
        report.errors.push(why.clone());
    }
    report.thresholds = verdict::evaluate(&plan.loaded.thresholds, &report);
    report.verdict = verdict::verdict(&report);
    report
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn print_summary(report: &Report, dir: &std::path::Path, mode: Mode) {
    use crate::report::summary;
    if !report.started {
        // Every threshold is unmeasured then; the one reason is the diagnostic below.
        out_line(&format!(
            "{}: the run could not start; report written to {}",
            summary::verdict_word(report.verdict),
            dir.display()
        ));
        return;
    }
    if mode != Mode::Quiet {
        for t in &report.thresholds {
            out_line(&format!("  {}", t.message));
        }
        for s in report.steps.iter().filter(|s| !s.errors.is_empty()) {
            out_line(&format!(
                "  step {}: {} error(s), first: {}",
                s.name,
                s.errors.len(),
                s.errors[0]
            ));
        }
        if report.target.kind == model::TargetKind::Simulated {
            out_line(&format!("  ({})", summary::SIMULATED_LABEL));
        }
    }
    out_line(&format!(
        "{}: report written to {}",
        summary::verdict_word(report.verdict),
        dir.display()
    ));
}

/// Resolves on SIGTERM; `None` when that signal cannot be watched.
async fn terminate_signal() -> Option<()> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()?;
    term.recv().await
}

//! Performance of `wsbench run` on this host, printed as a table (no assertions):
//! echo messages/s at saturation, measurement overhead against a minimal ping-pong loop,
//! and resident memory per idle connection. See benches/README.md.
//!
//! Everything runs on 127.0.0.1. The servers (a minimal echo server, the simulated
//! board) and the idle holders are separate processes, so each process's CPU and memory
//! are its own. The same binary plays the echo server and the reference holder when
//! started with `__role` (it re-executes itself).

mod children;
mod console_parse;
mod echo_server;
mod proc_stats;
mod reference;
mod schedule;
mod soak;
mod table;
mod wsbench_run;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use children::Running;
use table::{Table, met};

const WSBENCH: &str = env!("CARGO_BIN_EXE_wsbench");

/// The benchmark's fixed settings; `WSBENCH_BENCH_IDLE` changes the idle connection count
/// `WSBENCH_BENCH_BIN` measures another wsbench build, and `WSBENCH_BENCH_ONLY`
/// (`saturation`, `overhead`, `memory`, `console`, comma-separated) runs only some sections.
struct Plan {
    clients: usize,
    window: usize,
    size: usize,
    saturate_for: Duration,
    rate: f64,
    latency_for: Duration,
    latency_rounds: usize,
    idle: usize,
    few: usize,
    hold_for: Duration,
}

const SECTIONS: [&str; 6] = [
    "saturation",
    "overhead",
    "memory",
    "console",
    "schedule",
    "soak",
];
const OVERHEAD_P50_TARGET_US: i64 = 20;
const IDLE_TARGET_BYTES: f64 = 16.0 * 1024.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__role") {
        return role(&args[2..]);
    }
    match bench() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some figures could not be measured; see the errors above the table");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("benchmark could not run: {e}");
            ExitCode::from(3)
        }
    }
}

/// The processes the benchmark starts out of its own binary.
fn role(args: &[String]) -> ExitCode {
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["echo-server", addr] => {
            echo_server::serve(addr);
            ExitCode::SUCCESS
        }
        ["hold-client", url, n, read_buffer, secs] => {
            let (Ok(n), Ok(rb), Ok(secs)) = (n.parse(), read_buffer.parse(), secs.parse()) else {
                eprintln!("hold-client: bad numbers in {args:?}");
                return ExitCode::from(2);
            };
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            println!("holding");
            match rt.block_on(reference::hold(url, n, 256, rb, Duration::from_secs(secs))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hold-client: {e}");
                    ExitCode::from(3)
                }
            }
        }
        other => {
            eprintln!("unknown role {other:?}");
            ExitCode::from(2)
        }
    }
}

fn bench() -> Result<bool, String> {
    let idle = match std::env::var("WSBENCH_BENCH_IDLE") {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("WSBENCH_BENCH_IDLE=`{v}` is not a connection count"))?,
        Err(_) => 10_000,
    };
    let plan = Plan {
        clients: 100,
        window: 8,
        size: 64,
        saturate_for: Duration::from_secs(3),
        rate: 1000.0,
        latency_for: Duration::from_secs(5),
        latency_rounds: 3,
        idle,
        few: 100,
        hold_for: Duration::from_secs(6),
    };
    raise_fd_limit(plan.idle as u64 + 1000)?;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("perf");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Another build (a fix, another branch) can be measured with the same harness.
    let bin =
        std::env::var_os("WSBENCH_BENCH_BIN").map_or_else(|| PathBuf::from(WSBENCH), PathBuf::from);
    let bin = bin.as_path();
    println!("wsbench performance on this host (loopback; host figures, not a board's)");
    println!("  {} cores, load average at start: {}", cores(), loadavg());
    println!(
        "  wsbench: {}\n  work dir: {}\n",
        bin.display(),
        dir.display()
    );

    let echo = start_echo_server()?;
    let echo_url = format!(
        "ws://{}/ws",
        echo.ready_line.trim_start_matches("listening ").trim()
    );
    let sim = start_sim(bin)?;
    let sim_url = sim
        .ready_line
        .trim()
        .trim_start_matches("ws:")
        .trim()
        .to_owned();
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("tokio runtime: {e}"))?;

    let mut table = Table::default();
    let mut all_measured = true;
    let mut report = |what: &str, r: Result<bool, String>| match r {
        Ok(measured) => all_measured &= measured,
        Err(e) => {
            eprintln!("{what}: {e}");
            all_measured = false;
        }
    };
    let only = std::env::var("WSBENCH_BENCH_ONLY").ok();
    if let Some(bad) = only
        .iter()
        .flat_map(|o| o.split(','))
        .map(str::trim)
        .find(|s| !SECTIONS.contains(s))
    {
        return Err(format!(
            "WSBENCH_BENCH_ONLY: unknown section `{bad}`; use {}",
            SECTIONS.join(", ")
        ));
    }
    let wanted = |section: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s.trim() == section))
    };
    if wanted("saturation") {
        for (name, url, server) in [
            ("simulated board", &sim_url, &sim),
            ("minimal echo server", &echo_url, &echo),
        ] {
            println!(
                "[1] echo saturation, {} clients, {name} ({url})",
                plan.clients
            );
            report(
                &format!("saturation vs {name}"),
                saturation(&plan, &rt, bin, &dir, name, url, server, &mut table),
            );
        }
    }
    if wanted("overhead") {
        println!(
            "[2] measurement overhead at {} msg/s, {} B, minimal echo server",
            plan.rate, plan.size
        );
        report(
            "overhead",
            overhead(&plan, &rt, bin, &dir, &echo_url, &mut table),
        );
    }
    if wanted("memory") {
        println!(
            "[3] resident memory per idle connection, {} vs {} connections, minimal echo server",
            plan.idle, plan.few
        );
        report("memory", memory(&plan, bin, &dir, &echo_url, &mut table));
    }
    if wanted("console") {
        println!("[4] console parsing: wsbench monitor --input on a mixed log");
        report("console", console_parse::run(bin, &dir, &mut table));
    }
    if wanted("schedule") {
        println!("[5] send-schedule accuracy (echo.send_lag), simulated board");
        report("schedule", schedule::run(bin, &dir, &sim_url, &mut table));
    }
    // Long by nature: only when asked for, for as many minutes as asked.
    match std::env::var("WSBENCH_BENCH_SOAK")
        .ok()
        .map(|m| m.parse::<u64>())
    {
        Some(Ok(minutes)) if wanted("soak") => {
            println!("[6] recorder memory over a {minutes}-minute soak, minimal echo server");
            report("soak", soak::run(bin, &dir, &echo_url, minutes, &mut table));
        }
        Some(Err(_)) => return Err("WSBENCH_BENCH_SOAK takes a number of minutes".into()),
        _ => println!("[6] soak skipped (set WSBENCH_BENCH_SOAK=10 for a 10-minute soak)"),
    }
    drop(sim);
    drop(echo);

    println!("\nload average at end: {}\n", loadavg());
    table.print();
    println!("\nreports and logs: {}", dir.display());
    Ok(all_measured)
}

fn start_echo_server() -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["__role", "echo-server", "127.0.0.1:0"]);
    children::start(
        cmd,
        "the minimal echo server",
        Duration::from_secs(10),
        |l| l.starts_with("listening "),
    )
}

fn start_sim(bin: &Path) -> Result<Running, String> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "sim",
        "--ws-port",
        "0",
        "--wss-port",
        "0",
        "--max-sockets",
        "1024",
        "--broadcast-ms",
        "0",
    ]);
    children::start(cmd, "wsbench sim", Duration::from_secs(10), |l| {
        l.trim_start().starts_with("ws:")
    })
}

/// A wsbench figure, or why it could not be measured (the reason is printed once).
fn cell<T>(r: &Result<T, String>, what: &str, show: impl Fn(&T) -> String) -> String {
    match r {
        Ok(v) => show(v),
        Err(e) => {
            eprintln!("    {what}: {e}");
            "n/a (error above)".into()
        }
    }
}

/// Messages/s with `plan.clients` clients: the minimal pipelined client (with
/// tokio-tungstenite's default 128 KiB read buffer and with 4 KiB), then `wsbench run`
/// offered twice that rate open-loop (so it is saturated), counted as echoes received
/// over the echo step's wall time. Returns whether wsbench was measured.
#[allow(clippy::too_many_arguments)]
fn saturation(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    name: &str,
    url: &str,
    server: &Running,
    table: &mut Table,
) -> Result<bool, String> {
    let me = std::process::id();
    let mut reference = [0.0; 2];
    let mut ref_cpu = [0.0; 2];
    for (i, read_buffer) in [128 * 1024, 4096].into_iter().enumerate() {
        let cpu0 = proc_stats::cpu_time(me).unwrap_or_default();
        let srv0 = proc_stats::cpu_time(server.pid()).unwrap_or_default();
        let rate = rt.block_on(reference::saturate(
            url,
            plan.clients,
            plan.window,
            plan.size,
            read_buffer,
            plan.saturate_for,
        ))?;
        let msgs = rate * plan.saturate_for.as_secs_f64();
        let cpu = per_msg_us(
            proc_stats::cpu_time(me)
                .unwrap_or_default()
                .saturating_sub(cpu0),
            msgs,
        );
        let srv = per_msg_us(
            proc_stats::cpu_time(server.pid())
                .unwrap_or_default()
                .saturating_sub(srv0),
            msgs,
        );
        println!(
            "    reference ({} KiB read buffer): {rate:.0} msg/s (client CPU {cpu:.1} µs/msg, server CPU {srv:.1} µs/msg)",
            read_buffer / 1024
        );
        reference[i] = rate;
        ref_cpu[i] = cpu;
    }

    let offered = ((reference[0].max(reference[1]) * 2.0) / 1000.0)
        .ceil()
        .max(2.0)
        * 1000.0;
    let yaml = format!(
        "name: bench-saturation\nsteps:\n  - connect: {{ clients: {}, timeout: 10s }}\n  \
         - echo: {{ rate: {offered}, per: total, size: {}, duration: {}s, timeout: 60s, late_after: 60s }}\n",
        plan.clients,
        plan.size,
        plan.saturate_for.as_secs()
    );
    let srv0 = proc_stats::cpu_time(server.pid()).unwrap_or_default();
    let key = if name.starts_with("sim") {
        "saturation-sim"
    } else {
        "saturation-echo"
    };
    let measured = wsbench_run::run(bin, dir, key, &yaml, url, None, Duration::from_secs(120)).and_then(|run| {
        let srv = proc_stats::cpu_time(server.pid()).unwrap_or_default().saturating_sub(srv0);
        let received = run.metric("echo", "received")?;
        let lost = run.metric("echo", "lost")?;
        let wall = Duration::from_millis(run.step("echo")?.duration_ms);
        let achieved = received / wall.as_secs_f64();
        println!(
            "    wsbench run: offered {offered:.0} msg/s, {received:.0} echoes in {wall:?} = {achieved:.0} msg/s, \
             lost {lost:.0} (wsbench CPU {:.1} µs/msg over the whole run, server CPU {:.1} µs/msg)",
            per_msg_us(run.cpu, received),
            per_msg_us(srv, received)
        );
        Ok((achieved, per_msg_us(run.cpu, received)))
    });
    table.row([
        format!(
            "echo msg/s at saturation, {} clients, {} B",
            plan.clients, plan.size
        ),
        name.into(),
        cell(&measured, "wsbench run", |(rate, _)| format!("{rate:.0}")),
        format!(
            "{:.0} (128 KiB read buf) / {:.0} (4 KiB)",
            reference[0], reference[1]
        ),
        "(figure)".into(),
        "-".into(),
    ]);
    table.row([
        "  client CPU per echo".into(),
        name.into(),
        match &measured {
            Ok((_, cpu)) => format!("{cpu:.1} µs"),
            Err(_) => "n/a".into(),
        },
        format!("{:.1} µs / {:.1} µs", ref_cpu[0], ref_cpu[1]),
        "(figure)".into(),
        "-".into(),
    ]);
    Ok(measured.is_ok())
}

fn per_msg_us(cpu: Duration, msgs: f64) -> f64 {
    if msgs > 0.0 {
        cpu.as_secs_f64() * 1e6 / msgs
    } else {
        f64::NAN
    }
}

/// wsbench's echo p50/p99 minus those of the minimal paced ping-pong loop, same rate,
/// size, server, one client each. Returns whether wsbench was measured.
fn overhead(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    url: &str,
    table: &mut Table,
) -> Result<bool, String> {
    // Interleaved rounds, medians taken: the machine is shared and each run's timer
    // phase is random, so one pair of runs alone says little.
    let q = |h: &hdrhistogram::Histogram<u64>, p: f64| h.value_at_quantile(p) as i64;
    let mut refs: Vec<[i64; 6]> = Vec::new();
    let mut ours: Vec<(i64, i64)> = Vec::new();
    let mut failure = None;
    for round in 1..=plan.latency_rounds {
        let r = rt.block_on(reference::ping_pong(
            url,
            plan.rate,
            plan.size,
            plan.latency_for,
        ))?;
        let row = [
            q(&r.rtt, 0.5),
            q(&r.rtt, 0.99),
            q(&r.timer_late, 0.5),
            q(&r.timer_late, 0.99),
            q(&r.from_intended, 0.5),
            q(&r.from_intended, 0.99),
        ];
        println!(
            "    round {round} reference: rtt p50 {} µs p99 {} µs; tokio timer woke it late by p50 {} µs p99 {} µs \
             (from the intended send time: p50 {} µs p99 {} µs)",
            row[0], row[1], row[2], row[3], row[4], row[5]
        );
        refs.push(row);
        let yaml = format!(
            "name: bench-overhead\nsteps:\n  - connect: {{ clients: 1 }}\n  \
             - echo: {{ rate: {}, size: {}, duration: {}s }}\n",
            plan.rate,
            plan.size,
            plan.latency_for.as_secs()
        );
        let name = format!("overhead-{round}");
        match wsbench_run::run(bin, dir, &name, &yaml, url, None, Duration::from_secs(60))
            .and_then(|run| run.distribution("echo", "latency").cloned())
        {
            Ok(d) => {
                println!(
                    "    round {round} wsbench run: latency p50 {} µs p99 {} µs ({} samples)",
                    d.p50_us, d.p99_us, d.count
                );
                ours.push((d.p50_us as i64, d.p99_us as i64));
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let median = |mut v: Vec<i64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let col = |i: usize| median(refs.iter().map(|r| r[i]).collect());
    let (rtt50, rtt99, late50, late99, int50, int99) =
        (col(0), col(1), col(2), col(3), col(4), col(5));
    let measured = match failure {
        Some(e) => Err(e),
        None => Ok((
            median(ours.iter().map(|o| o.0).collect()),
            median(ours.iter().map(|o| o.1).collect()),
        )),
    };
    let over50 = measured.as_ref().ok().map(|(p50, _)| p50 - rtt50);
    table.row([
        format!(
            "echo latency overhead p50 ({} msg/s, {} B, median of {})",
            plan.rate, plan.size, plan.latency_rounds
        ),
        "minimal echo server".into(),
        cell(&measured, "wsbench run", |(p50, _)| {
            format!("{} µs (p50 {p50} µs)", p50 - rtt50)
        }),
        format!("rtt p50 {rtt50} µs"),
        format!("≤ {OVERHEAD_P50_TARGET_US} µs"),
        met(over50.map(|o| o <= OVERHEAD_P50_TARGET_US)),
    ]);
    table.row([
        "echo latency overhead p99".into(),
        "minimal echo server".into(),
        match &measured {
            Ok((_, p99)) => format!("{} µs (p99 {p99} µs)", p99 - rtt99),
            Err(_) => "n/a".into(),
        },
        format!("rtt p99 {rtt99} µs"),
        "(figure)".into(),
        "-".into(),
    ]);
    table.row([
        "  timed from the intended send time (p50/p99)".into(),
        "minimal echo server".into(),
        "(an open-loop tool timing from the intended send)".into(),
        format!("{int50} µs / {int99} µs (timer late {late50} µs / {late99} µs)"),
        "(figure)".into(),
        "-".into(),
    ]);
    Ok(measured.is_ok())
}

/// RSS of `wsbench run` holding `plan.idle` connections minus holding `plan.few`, per
/// extra connection; the same for the minimal holder with tokio-tungstenite's default
/// 128 KiB read buffer and with 4 KiB. Returns whether wsbench was measured.
fn memory(
    plan: &Plan,
    bin: &Path,
    dir: &Path,
    url: &str,
    table: &mut Table,
) -> Result<bool, String> {
    let wsbench_at = |n: usize| -> Result<u64, String> {
        let ramp = 2500;
        let yaml = format!(
            "name: bench-idle-{n}\nsteps:\n  - connect: {{ clients: {n}, ramp: {ramp}, timeout: 10s }}\n  \
             - hold: {{ duration: {}s }}\n",
            plan.hold_for.as_secs()
        );
        let limit = Duration::from_secs(60 + (n / ramp) as u64);
        let run = wsbench_run::run(bin, dir, &format!("idle-{n}"), &yaml, url, Some(n), limit)?;
        let connected = run.metric("connect", "connected")?;
        if connected < n as f64 {
            return Err(format!("only {connected} of {n} clients connected"));
        }
        let held = run.held.ok_or("no RSS samples")?;
        let rss = held
            .median()
            .ok_or_else(|| format!("never saw {n} open descriptors (peak {})", held.peak_fds))?;
        println!(
            "    wsbench run, {n} held: RSS {} KiB ({} samples)",
            rss / 1024,
            held.samples.len()
        );
        Ok(rss)
    };
    let reference_at = |n: usize, read_buffer: usize| -> Result<u64, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.args(["__role", "hold-client", url])
            .arg(n.to_string())
            .arg(read_buffer.to_string())
            .arg(plan.hold_for.as_secs().to_string());
        let mut child =
            children::start(cmd, "the reference holder", Duration::from_secs(10), |l| {
                l == "holding"
            })?;
        let held = proc_stats::sample_while_holding(child.pid(), n, Duration::from_secs(60));
        child
            .wait_exit(Duration::from_secs(30))
            .map_err(|e| format!("reference holder: {e}"))?;
        let rss = held
            .median()
            .ok_or_else(|| format!("never saw {n} open descriptors (peak {})", held.peak_fds))?;
        println!(
            "    reference holder ({} KiB read buffer), {n} held: RSS {} KiB",
            read_buffer / 1024,
            rss / 1024
        );
        Ok(rss)
    };
    let per_conn =
        |big: u64, small: u64| (big as f64 - small as f64) / (plan.idle - plan.few) as f64;
    let default_buf = 128 * 1024;
    let ref_default = per_conn(
        reference_at(plan.idle, default_buf)?,
        reference_at(plan.few, default_buf)?,
    );
    let ref_small = per_conn(
        reference_at(plan.idle, 4096)?,
        reference_at(plan.few, 4096)?,
    );
    let measured = wsbench_at(plan.idle).and_then(|big| Ok(per_conn(big, wsbench_at(plan.few)?)));
    table.row([
        format!("RSS per idle connection ({} held)", plan.idle),
        "minimal echo server".into(),
        cell(&measured, "wsbench run", |b| {
            format!("{:.1} KiB", b / 1024.0)
        }),
        format!(
            "{:.1} KiB (128 KiB read buf) / {:.1} KiB (4 KiB)",
            ref_default / 1024.0,
            ref_small / 1024.0
        ),
        format!("≤ {:.0} KiB", IDLE_TARGET_BYTES / 1024.0),
        met(measured.as_ref().ok().map(|b| *b <= IDLE_TARGET_BYTES)),
    ]);
    Ok(measured.is_ok())
}

/// Each connection takes one descriptor in the client and one in the server.
fn raise_fd_limit(need: u64) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft >= need {
        return Ok(());
    }
    if hard < need {
        return Err(format!(
            "{need} open files are needed but the hard limit is {hard}; raise it (ulimit -Hn) or set \
             WSBENCH_BENCH_IDLE to fewer connections"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, need, hard).map_err(|e| format!("setrlimit: {e}"))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

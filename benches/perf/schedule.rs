//! Send-schedule accuracy: how late wsbench's open loop starts each send after its due
//! time (`echo.send_lag`), at the rates issue 9 names, against the simulated board.

use std::path::Path;
use std::time::Duration;

use crate::table::{Table, met};
use crate::wsbench_run;

const P50_TARGET_US: u64 = 50;
const P99_TARGET_US: u64 = 200;

/// (messages per second over all clients, clients).
const POINTS: [(u32, u32); 2] = [(2_000, 50), (20_000, 100)];

pub fn run(bin: &Path, dir: &Path, url: &str, table: &mut Table) -> Result<bool, String> {
    let mut all = true;
    for (rate, clients) in POINTS {
        let yaml = format!(
            "name: bench-schedule\nsteps:\n  - connect: {{ clients: {clients}, ramp: 2000, timeout: 10s }}\n  \
             - echo: {{ rate: {rate}, per: total, duration: 5s }}\n"
        );
        let key = format!("schedule-{rate}");
        let measured = wsbench_run::run(bin, dir, &key, &yaml, url, None, Duration::from_secs(60))
            .and_then(|run| {
                let lag = run.distribution("echo", "send_lag")?.clone();
                let lat = run.distribution("echo", "latency")?.clone();
                let unsent = run.metric("echo", "unsent")?;
                Ok((lag, lat, unsent))
            });
        match &measured {
            Ok((lag, lat, unsent)) => println!(
                "    {rate} msg/s over {clients} clients: send_lag p50 {} µs, p99 {} µs, max {} µs \
                 ({} sends, {unsent:.0} unsent); latency p50 {} µs, p99 {} µs",
                lag.p50_us, lag.p99_us, lag.max_us, lag.count, lat.p50_us, lat.p99_us
            ),
            Err(e) => {
                eprintln!("    schedule at {rate} msg/s: {e}");
                all = false;
            }
        }
        let ok = measured
            .as_ref()
            .ok()
            .map(|(lag, _, _)| lag.p50_us <= P50_TARGET_US && lag.p99_us <= P99_TARGET_US);
        table.row([
            format!("send_lag p50 / p99, {rate} msg/s over {clients} clients"),
            "simulated board".into(),
            match &measured {
                Ok((lag, _, _)) => format!("{} / {} µs", lag.p50_us, lag.p99_us),
                Err(_) => "n/a (error above)".into(),
            },
            "-".into(),
            format!("≤ {P50_TARGET_US} / ≤ {P99_TARGET_US} µs"),
            met(ok),
        ]);
    }
    Ok(all)
}

//! `wsbench monitor --input` throughput: a mixed console log (the test corpus's boots,
//! panics and watchdogs among many ordinary ESP-IDF and bundled-firmware lines) parsed
//! to JSON events, timed as a user would run it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Size of the generated log.
const LOG_BYTES: usize = 64 * 1024 * 1024;

/// Writes the mixed log: per 100 lines, one incident or boot from the corpus, the rest
/// the lines a busy board prints (client events, heap, Wi-Fi, http server warnings).
pub fn write_mixed_log(path: &Path, corpus: &Path) -> Result<usize, String> {
    let mut fixtures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(corpus)
        .map_err(|e| format!("{}: {e}", corpus.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    entries.sort();
    for p in entries {
        fixtures.push(std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    let mut out = Vec::with_capacity(LOG_BYTES + (1 << 16));
    let mut ms = 1000u64;
    let mut i = 0usize;
    while out.len() < LOG_BYTES {
        ms += 7;
        let line = match i % 10 {
            0 => format!(
                "I ({ms}) ws_server: heap free={} min_free=160000 source=allocator\r\n",
                170_000 - (i % 5000)
            ),
            1 => format!(
                "I ({ms}) ws_server: open id={i} peer=192.168.4.2:{} transport=ws clients=3/7\r\n",
                40000 + i % 20000
            ),
            2 => format!(
                "I ({ms}) ws_server: close id={i} reason=client_close code=1000 clients=2/7\r\n"
            ),
            3 => format!("W ({ms}) httpd_txrx: httpd_sock_err: error in recv : 104\r\n"),
            4 => format!("I ({ms}) wifi:station: 11:22:33:44:55:66 join, AID=1, bgn, 40U\r\n"),
            5 => format!(
                "\x1b[0;32mI ({ms}) ws_echo_server: Got packet with message: hello {i}\x1b[0m\r\n"
            ),
            6 => format!("I ({ms}) ws_server: broadcast n={i} clients=3\r\n"),
            7 => format!("D ({ms}) esp_netif_lwip: check: local, if=0x3fcb1234 fn=0x42012345\r\n"),
            8 => format!("I ({ms}) ws_server: upgrade id={i} subprotocol=none\r\n"),
            _ => format!(
                "W ({ms}) ws_server: purge id={i} peer=192.168.4.3:5000 idle_ms=1200 clients=6/7\r\n"
            ),
        };
        out.extend_from_slice(line.as_bytes());
        i += 1;
        if i.is_multiple_of(100) {
            out.extend_from_slice(&fixtures[(i / 100) % fixtures.len()]);
        }
    }
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&out))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(out.len())
}

/// One run: bytes per second and the number of events printed.
pub fn parse_once(bin: &Path, log: &Path) -> Result<(f64, usize), String> {
    let bytes = std::fs::metadata(log).map_err(|e| e.to_string())?.len() as f64;
    let start = Instant::now();
    let out = Command::new(bin)
        .args(["monitor", "--input"])
        .arg(log)
        .arg("--json")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("run {}: {e}", bin.display()))?;
    let elapsed = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("wsbench monitor exited {:?}", out.status.code()));
    }
    let events = out.stdout.iter().filter(|b| **b == b'\n').count();
    Ok((bytes / elapsed, events))
}

//! Device console lines into the recorder: the ESP-IDF line parser of the device crate
//! names each event, so the same path serves the simulated board and, later, a board's
//! serial port.

use tokio::sync::broadcast;
use wsbench_device::idf_log::{DeviceEvent, IdfLine};

use crate::recorder::{DeviceLine, Recorder};

/// Names a console line's event and pulls out heap figures.
pub fn classify(line: &str) -> DeviceLine {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut d = DeviceLine {
        kind: "log".into(),
        line: line.to_string(),
        heap_free: None,
        heap_min: None,
        heap_source: None,
    };
    if line.contains("Guru Meditation")
        || line.contains("abort() was called")
        || line.contains("panicked at")
    {
        d.kind = "panic".into();
        return d;
    }
    if line.starts_with("rst:") || line.starts_with("ESP-ROM:") {
        d.kind = "boot".into();
        return d;
    }
    let Some(idf) = IdfLine::parse(line) else {
        return d;
    };
    let Some(event) = DeviceEvent::parse(&idf.message) else {
        return d;
    };
    d.kind = match event {
        DeviceEvent::Ready { .. } => "boot",
        DeviceEvent::Open { .. } => "open",
        DeviceEvent::Upgrade { .. } => "upgrade",
        DeviceEvent::Close { .. } => "close",
        DeviceEvent::Purge { .. } => "purge",
        DeviceEvent::Refuse { .. } => "refuse",
        DeviceEvent::Broadcast { .. } => "broadcast",
        DeviceEvent::Burst { .. } | DeviceEvent::BurstDone { .. } => "burst",
        DeviceEvent::Heap {
            free,
            min_free,
            source,
        } => {
            d.heap_free = Some(free as u64);
            d.heap_min = Some(min_free as u64);
            d.heap_source = Some(source.as_str().to_string());
            "heap"
        }
        DeviceEvent::ProtocolError { .. } | DeviceEvent::HttpError { .. } => "error",
    }
    .into();
    d
}

/// Feeds every line from `lines` into the recorder until the sender goes away.
pub async fn follow(mut lines: broadcast::Receiver<String>, recorder: Recorder) {
    loop {
        match lines.recv().await {
            Ok(line) => recorder.device_line(classify(&line)),
            Err(broadcast::error::RecvError::Lagged(n)) => recorder.device_line(DeviceLine {
                kind: "log".into(),
                line: format!("[wsbench: {n} console lines lost: the reader fell behind]"),
                heap_free: None,
                heap_min: None,
                heap_source: None,
            }),
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_device_lines() {
        assert_eq!(
            classify("W (1200) ws_server: purge id=1 peer=127.0.0.1:5 idle_ms=30 clients=6/7").kind,
            "purge"
        );
        let heap = classify("I (2000) ws_server: heap free=171000 min_free=160000 source=modelled");
        assert_eq!(heap.kind, "heap");
        assert_eq!(heap.heap_min, Some(160000));
        assert_eq!(
            classify("Guru Meditation Error: Core  0 panic'ed").kind,
            "panic"
        );
        assert_eq!(classify("random noise").kind, "log");
    }
}

//! The device on a plain tokio TCP listener on 127.0.0.1, for conformance runs against
//! the protocol crate alone (the simulated board is the full host). The periodic
//! broadcast is off. Autobahn cases 1.1.6-1.1.8 and 10.1.1 need MAX_MESSAGE_LEN >= 65536.
//!
//! ```text
//! cargo run -p wsbench-device --example loopback_server -- [PORT] [MAX_MESSAGE_LEN]
//! ```

use embedded_io_adapters::tokio_1::FromTokio;
use wsbench_device::host::HostPlatform;
use wsbench_device::{Admission, Device, DeviceConfig, Transport};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(9001);
    let max_message_len: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(16 * 1024);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let config = DeviceConfig {
        ws_port: listener.local_addr()?.port(),
        wss_port: 0,
        max_message_len,
        max_open_sockets: 16,
        // An unsolicited broadcast in the middle of a conformance case reads as a wrong
        // answer; conformance runs keep it off.
        broadcast_interval_ms: 0,
        ..DeviceConfig::default()
    };
    let platform = HostPlatform::new(|line| println!("{line}"));
    let device: &'static Device<HostPlatform> = Box::leak(Box::new(Device::new(config, platform)));
    tokio::spawn(device.run_background());
    device.announce_ready();
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        match device.admit(peer, Transport::Ws) {
            Admission::Refused => drop(stream),
            Admission::Admitted(id) => {
                tokio::spawn(async move {
                    let (r, w) = stream.into_split();
                    device.serve(id, FromTokio::new(r), FromTokio::new(w)).await;
                });
            }
        }
    }
}

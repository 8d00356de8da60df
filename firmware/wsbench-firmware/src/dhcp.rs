//! The access point's DHCP server (edge-dhcp): hands out 192.168.4.2.. so a host that
//! joins the SoftAP gets an address without configuration, as with ESP-IDF's AP.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use edge_dhcp::io::{self, DEFAULT_SERVER_PORT};
use edge_dhcp::server::{Server, ServerOptions};
use edge_nal::UdpBind;
use edge_nal_embassy::{Udp, UdpBuffers};
use embassy_net::Stack;
use embassy_time::Timer;
use wsbench_device::idf_log::Level;

use crate::console;

/// Leases the server keeps: one per station the AP admits is plenty.
const LEASES: usize = 16;

/// Serves DHCP on the AP forever; a socket error is logged and the server restarted
/// after a pause (the lease table survives, so clients keep their addresses).
#[embassy_executor::task]
pub async fn dhcp_server(stack: Stack<'static>, gateway: Ipv4Addr) -> ! {
    let buffers = UdpBuffers::<1, 1024, 1024, 2>::new();
    let udp = Udp::new(stack, &buffers);
    let mut server = Server::<_, LEASES>::new_with_et(gateway);
    let mut gateways = [gateway; 1];
    let options = ServerOptions::new(gateway, Some(&mut gateways));
    let mut packet = [0u8; 1500];
    loop {
        let bound = udp
            .bind(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::UNSPECIFIED,
                DEFAULT_SERVER_PORT,
            )))
            .await;
        match bound {
            Ok(mut socket) => {
                if let Err(e) =
                    io::server::run(&mut server, &options, &mut socket, &mut packet).await
                {
                    console::log(
                        Level::Warn,
                        &format_args!("dhcp_error error=\"{e:?}\" retry_ms=1000"),
                    );
                }
            }
            Err(e) => console::log(
                Level::Warn,
                &format_args!("dhcp_bind_failed error=\"{e:?}\" retry_ms=1000"),
            ),
        }
        Timer::after_secs(1).await;
    }
}

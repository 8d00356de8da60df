//! The reference server: the smallest tokio-tungstenite echo server that is still fair
//! (TCP_NODELAY, a 4 KiB read buffer so 10,000 idle sockets stay cheap). It runs as its
//! own process so the client figures never include the server's work or memory.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Serves `addr` until killed; prints `listening <addr>` once bound.
pub fn serve(addr: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime for the echo server");
    runtime.block_on(async {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo server: cannot listen on {addr}: {e}");
                std::process::exit(3);
            }
        };
        let local = listener
            .local_addr()
            .expect("bound listener has an address");
        println!("listening {local}");
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tokio::spawn(echo(tcp));
                }
                // Out of descriptors or a peer gone before accept: keep serving the others.
                Err(e) => {
                    eprintln!("echo server: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
}

async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_close() {
            break;
        }
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}

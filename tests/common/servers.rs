//! Servers of the tests' own on 127.0.0.1:0, each with a known behaviour, on a thread
//! and runtime of their own (to the binary under test they are as foreign as a board).
//! Each lives for a stated time; then its port and every connection close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

/// Serves 127.0.0.1:0 for `lifetime`, `serve` handling each accepted connection as a
/// task of its own. Returns the port.
pub fn serve_for<F, Fut>(lifetime: Duration, serve: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let stop = tokio::time::sleep(lifetime);
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    a = listener.accept() => if let Ok((s, _)) = a { tokio::spawn(serve(s)); },
                    _ = &mut stop => break,
                }
            }
        });
        // Dropping the runtime ends every connection's task, closing its socket.
    });
    rx.recv().unwrap()
}

/// As [`serve_for`], for WebSocket servers: `serve` gets each connection once
/// tokio-tungstenite has accepted its upgrade (a failed upgrade is dropped).
pub fn ws_serve_for<F, Fut>(lifetime: Duration, serve: F) -> u16
where
    F: Fn(WebSocketStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    serve_for(lifetime, move |stream| {
        let serve = serve.clone();
        async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                serve(ws).await;
            }
        }
    })
}

/// A plain echo server nobody here wrote the protocol of (tokio-tungstenite's own),
/// waiting `delay` before each echo: a server that got slower by a known amount.
pub fn echo_server(lifetime: Duration, delay: Duration) -> u16 {
    ws_serve_for(lifetime, move |mut ws| async move {
        echo_after(&mut ws, delay).await
    })
}

/// An echo server whose every echo leaves `delay` after its message arrived, however
/// many are in flight (a pipeline, not one message at a time): a slow path with no
/// limit on throughput.
pub fn delayed_echo_server(lifetime: Duration, delay: Duration) -> u16 {
    ws_serve_for(lifetime, move |ws| async move {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            while let Some((arrived, msg)) = rx.recv().await {
                tokio::time::sleep_until(arrived + delay).await;
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            if (msg.is_text() || msg.is_binary())
                && tx.send((tokio::time::Instant::now(), msg)).is_err()
            {
                break;
            }
        }
        drop(tx);
        let _ = writer.await;
    })
}

/// Echoes every text and binary message `delay` after it arrived, until the client
/// leaves or the connection fails.
pub async fn echo_after<S>(ws: &mut WebSocketStream<S>, delay: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = ws.next().await {
        if !(msg.is_text() || msg.is_binary()) {
            continue;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if ws.send(msg).await.is_err() {
            break;
        }
    }
}

/// Answers a connection's upgrade request with HTTP 503, as a server at its socket cap
/// does, instead of the upgrade.
pub async fn refuse_with_503<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 2048];
    let _ = stream.read(&mut buf).await;
    let _ = stream
        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        .await;
    let _ = stream.flush().await;
}

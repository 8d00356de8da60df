//! The HTTP phase of a connection: read one request with edge-http, then either accept
//! the WebSocket upgrade on `/ws`, answer `/` with a status page, or refuse (400/404).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use edge_http::io::Error as HttpError;
use edge_http::{Method, RequestHeaders};
use embedded_io_async::{Read, Write};

/// Longest request head accepted; longer ones get 400.
pub const MAX_REQUEST_HEAD: usize = 2048;
/// Most headers in a request.
const MAX_HEADERS: usize = 24;

/// How the HTTP phase ended.
#[derive(Debug)]
pub(crate) enum HttpOutcome {
    /// 101 sent: continue with WebSocket frames.
    Upgraded { subprotocol: Option<&'static str> },
    /// A plain request was answered; close the connection.
    Answered,
    /// The request was rejected with `status` (0: nothing could be sent).
    Rejected { status: u16, what: String },
    /// The peer closed before sending a request.
    Eof,
    /// Reading or writing failed.
    Io,
}

/// Read one request from `reader` and answer on `writer`. `status_page` renders `GET /`.
pub(crate) async fn handle_request<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
    status_page: impl FnOnce() -> String,
) -> HttpOutcome {
    let mut buf = vec![0u8; MAX_REQUEST_HEAD];
    let mut request = RequestHeaders::<MAX_HEADERS>::new();
    // `exact`: read no byte past the head, so frames a client pipelines behind its
    // upgrade request stay in the stream for the WebSocket phase.
    match request.receive(&mut buf, &mut *reader, true).await {
        Ok(_) => {}
        Err(HttpError::ConnectionClosed) => return HttpOutcome::Eof,
        Err(HttpError::Io(_)) => return HttpOutcome::Io,
        Err(e) => {
            let what = format!("malformed request: {e:?}");
            return reject(writer, 400, "Bad Request", what).await;
        }
    }
    let path = request.path.split('?').next().unwrap_or("");
    match (request.method, path) {
        (Method::Get, "/ws") => upgrade(&request, writer).await,
        (Method::Get, "/") => {
            let body = status_page();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if write_all(writer, head.as_bytes()).await && write_all(writer, body.as_bytes()).await
            {
                HttpOutcome::Answered
            } else {
                HttpOutcome::Io
            }
        }
        (_, "/ws") | (_, "/") => {
            let what = format!("method {} not allowed on {path}", request.method);
            reject(writer, 405, "Method Not Allowed", what).await
        }
        _ => {
            let what = format!("no such path {path:?}");
            reject(writer, 404, "Not Found", what).await
        }
    }
}

async fn upgrade<W: Write>(
    request: &RequestHeaders<'_, MAX_HEADERS>,
    writer: &mut W,
) -> HttpOutcome {
    let headers = &request.headers;
    if !has_token(headers.get("Upgrade"), "websocket")
        || !has_token(headers.get("Connection"), "upgrade")
    {
        let what = String::from("not a WebSocket upgrade (Upgrade/Connection headers)");
        return reject(writer, 400, "Bad Request", what).await;
    }
    let mut accept_buf = [0u8; edge_http::ws::MAX_BASE64_KEY_RESPONSE_LEN];
    let accept =
        match edge_http::ws::upgrade_response_headers(headers.iter(), None, &mut accept_buf) {
            Ok(response) => response
                .iter()
                .find(|(name, _)| *name == "Sec-WebSocket-Accept")
                .map(|(_, value)| String::from(*value))
                .unwrap_or_default(),
            Err(edge_http::ws::UpgradeError::NoSecKey) => {
                let what = String::from("missing Sec-WebSocket-Key");
                return reject(writer, 400, "Bad Request", what).await;
            }
            Err(_) => {
                let what = String::from("missing or unsupported Sec-WebSocket-Version (need 13)");
                return reject(writer, 400, "Bad Request", what).await;
            }
        };
    if !valid_key(headers.get("Sec-WebSocket-Key").unwrap_or("")) {
        let what = String::from("Sec-WebSocket-Key is not 16 bytes in base64");
        return reject(writer, 400, "Bad Request", what).await;
    }
    let subprotocol = has_token(headers.get("Sec-WebSocket-Protocol"), "chat").then_some("chat");
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some(p) = subprotocol {
        head.push_str("Sec-WebSocket-Protocol: ");
        head.push_str(p);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    if write_all(writer, head.as_bytes()).await {
        HttpOutcome::Upgraded { subprotocol }
    } else {
        HttpOutcome::Io
    }
}

/// A Sec-WebSocket-Key is 16 random bytes in base64: 24 characters ending in `==`.
fn valid_key(key: &str) -> bool {
    let key = key.trim().as_bytes();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// True when the comma-separated header `value` holds `token` (case-insensitive).
fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

async fn reject<W: Write>(writer: &mut W, status: u16, text: &str, what: String) -> HttpOutcome {
    let mut head = format!(
        "HTTP/1.1 {status} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        what.len() + 1
    );
    if status == 400 {
        head.push_str("Sec-WebSocket-Version: 13\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&what);
    head.push('\n');
    let status = if write_all(writer, head.as_bytes()).await {
        status
    } else {
        0
    };
    HttpOutcome::Rejected { status, what }
}

async fn write_all<W: Write>(writer: &mut W, bytes: &[u8]) -> bool {
    writer.write_all(bytes).await.is_ok() && writer.flush().await.is_ok()
}

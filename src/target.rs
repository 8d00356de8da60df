//! Which server a run talks to, first that applies: `--sim`; `--target URL`; the ready
//! line the board printed on its console (`--port`, or a board found on USB), which
//! names its address; the scenario's `target:`; else the in-process simulated board.

use std::net::ToSocketAddrs;

use miette::Diagnostic;
use thiserror::Error;

use crate::client::Endpoint;
use crate::client::tls::{Trust, client_config};
use crate::console::event::Ready;
use crate::report::model::TargetKind;
use crate::serial::BoardPort;
use crate::sim::SimOptions;
use crate::sim_runtime::SimOnOwnRuntime;

#[derive(Debug, Error, Diagnostic)]
pub enum TargetError {
    #[error("target `{url}` is not a ws:// or wss:// URL: {reason}")]
    #[diagnostic(
        code(wsbench::target::url),
        help("write it like ws://192.168.4.1/ws or wss://127.0.0.1:8443/ws")
    )]
    BadUrl { url: String, reason: String },
    #[error("cannot resolve the address of `{url}`: {reason}")]
    #[diagnostic(
        code(wsbench::target::resolve),
        help("check the host name, or use an IP address")
    )]
    Resolve { url: String, reason: String },
    #[error("TLS settings: {0}")]
    #[diagnostic(
        code(wsbench::target::tls),
        help("--ca takes a PEM file with the server's CA or self-signed certificate")
    )]
    Tls(String),
    #[error("the simulated board could not start: {0}")]
    #[diagnostic(code(wsbench::target::sim))]
    Sim(String),
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct TargetRequest {
    pub url: Option<String>,
    pub sim: bool,
    pub scenario_url: Option<String>,
    pub trust: Option<Trust>,
    pub sim_options: SimOptions,
    /// The board's console, when one is read: where it is, and its ready line if the
    /// run waited for one.
    pub console: Option<ConsoleSeen>,
}

/// What the console said before the target was chosen.
#[derive(Debug, Clone)]
pub struct ConsoleSeen {
    /// The port's path as given.
    pub port: String,
    pub ready: Option<Ready>,
    /// The console printed the simulated board's own lines (`wsbench sim` on a pty).
    pub simulated: bool,
}

/// The ws:// URL a ready line announces (the address the board has: its AP address, or
/// in station mode the one it obtained), and the wss:// one when it serves TLS.
pub fn ready_urls(r: &Ready) -> (String, Option<String>) {
    let url = |scheme: &str, port: u16, default: u16| {
        if port == default {
            format!("{scheme}://{}/ws", r.ip)
        } else {
            format!("{scheme}://{}:{port}/ws", r.ip)
        }
    };
    (
        url("ws", r.ws_port, 80),
        (r.wss_port != 0).then(|| url("wss", r.wss_port, 443)),
    )
}

/// The target a run uses, resolved.
pub struct Target {
    pub kind: TargetKind,
    pub endpoint: Endpoint,
    /// The wss endpoint next to a ws one (the simulated board has both).
    pub wss: Option<Endpoint>,
    pub trust: Trust,
    pub selected_because: String,
    /// Kept alive for the run, on its own runtime; its console feeds the recorder.
    pub sim: Option<SimOnOwnRuntime>,
}

impl Target {
    pub fn insecure(&self) -> bool {
        matches!(self.trust, Trust::Insecure)
    }
}

pub fn endpoint(url: &str, trust: &Trust) -> Result<Endpoint, TargetError> {
    let parsed = url::Url::parse(url).map_err(|e| TargetError::BadUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    let tls = match parsed.scheme() {
        "ws" => None,
        "wss" => Some(client_config(trust).map_err(TargetError::Tls)?),
        other => {
            return Err(TargetError::BadUrl {
                url: url.into(),
                reason: format!("scheme `{other}`"),
            });
        }
    };
    let host = parsed.host_str().ok_or_else(|| TargetError::BadUrl {
        url: url.into(),
        reason: "no host".into(),
    })?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| TargetError::Resolve {
            url: url.into(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| TargetError::Resolve {
            url: url.into(),
            reason: "no address".into(),
        })?;
    Ok(Endpoint {
        url: parsed,
        addr,
        tls,
    })
}

/// The first listed serial port that looks like an ESP32 board (its adapter is one boards
/// carry), if any.
pub fn board_on_usb() -> Option<BoardPort> {
    crate::serial::list()
        .ok()?
        .into_iter()
        .find(|p| p.adapter.is_likely_esp())
}

/// Resolves the request; starts the simulated board when that is the target.
pub async fn resolve(req: TargetRequest) -> Result<Target, TargetError> {
    let trust = req.trust.clone().unwrap_or(Trust::BundledDeviceCert);
    let given = if req.sim {
        None
    } else if let Some(u) = &req.url {
        Some((u.clone(), "given with --target"))
    } else {
        req.scenario_url
            .clone()
            .map(|u| (u, "the scenario's `target:`"))
    };
    let console = req.console.as_ref().filter(|_| !req.sim);
    let board_kind = |c: &ConsoleSeen| {
        if c.simulated {
            TargetKind::Simulated
        } else {
            TargetKind::Board
        }
    };
    if let Some((url, why)) = req
        .url
        .clone()
        .filter(|_| !req.sim)
        .map(|u| (u, "given with --target"))
    {
        let endpoint = endpoint(&url, &trust)?;
        let (kind, because) = match console {
            Some(c) => (
                board_kind(c),
                format!("{why}; its console read on {}", c.port),
            ),
            None => (TargetKind::Url, why.to_string()),
        };
        return Ok(Target {
            kind,
            endpoint,
            wss: None,
            trust,
            selected_because: because,
            sim: None,
        });
    }
    if let Some((c, ready)) = console.and_then(|c| Some((c, c.ready.as_ref()?))) {
        let (ws, wss) = ready_urls(ready);
        let wss = match wss {
            Some(u) => Some(endpoint(&u, &trust)?),
            None => None,
        };
        return Ok(Target {
            kind: board_kind(c),
            endpoint: endpoint(&ws, &trust)?,
            wss,
            trust,
            selected_because: format!(
                "the ready line on {} (the address the board announced{})",
                c.port,
                if c.simulated {
                    "; its console says it is the simulated board"
                } else {
                    ""
                }
            ),
            sim: None,
        });
    }
    if let Some((url, why)) = given {
        let endpoint = endpoint(&url, &trust)?;
        return Ok(Target {
            kind: TargetKind::Url,
            endpoint,
            wss: None,
            trust,
            selected_because: why.into(),
            sim: None,
        });
    }
    let selected_because = if req.sim {
        "--sim: the in-process simulated board".to_string()
    } else {
        "no target given and no board found: the in-process simulated board".to_string()
    };
    let board = SimOnOwnRuntime::start(req.sim_options.clone())
        .await
        .map_err(|e| TargetError::Sim(e.to_string()))?;
    let ws = endpoint(&board.ws_url(), &trust)?;
    let wss = endpoint(&board.wss_url(), &trust)?;
    Ok(Target {
        kind: TargetKind::Simulated,
        endpoint: ws,
        wss: Some(wss),
        trust,
        selected_because,
        sim: Some(board),
    })
}

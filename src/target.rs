//! Which server a run talks to: `--sim`, `--target URL`, the scenario's `target:`, or —
//! with none of those and no board found on USB — the in-process simulated board.

use std::net::ToSocketAddrs;

use miette::Diagnostic;
use thiserror::Error;

use crate::client::Endpoint;
use crate::client::tls::{Trust, client_config};
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
        match board_on_usb() {
            Some(port) => format!(
                "no target given; a board was found on {port}, but wsbench cannot reach it without its network address: \
                 running against the in-process simulated board (give --target ws://192.168.4.1/ws once the host is on the board's network)"
            ),
            None => {
                "no target given and no board found: the in-process simulated board".to_string()
            }
        }
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

//! Why a simulated board could not start, each with what to try.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum SimError {
    #[error(
        "port {port} on 127.0.0.1 is already in use, so the simulated board cannot listen for {what} there"
    )]
    #[diagnostic(
        code(wsbench::sim::port_busy),
        help(
            "choose another port with {flag} PORT (e.g. {flag} {suggestion}), or {flag} 0 for any free port; another `wsbench sim` may still be running"
        )
    )]
    PortBusy {
        port: u16,
        what: &'static str,
        flag: &'static str,
        suggestion: u16,
    },

    #[error("cannot listen on 127.0.0.1:{port} for {what}: {source}")]
    #[diagnostic(
        code(wsbench::sim::listen),
        help(
            "check that 127.0.0.1 is configured and that the port is not reserved; {flag} 0 picks any free port"
        )
    )]
    Listen {
        port: u16,
        what: &'static str,
        flag: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot create the pseudo-terminal for the board's serial console: {0}")]
    #[diagnostic(
        code(wsbench::sim::console),
        help(
            "the simulated board needs /dev/ptmx (Unix pseudo-terminals); in a container, mount devpts"
        )
    )]
    Console(String),

    #[error("cannot set up TLS for wss: {0}")]
    #[diagnostic(
        code(wsbench::sim::tls),
        help("the development certificate lives in firmware/certs/; see its README")
    )]
    Tls(String),

    #[error("cannot use {} as the simulated board's flash: {problem}", path.display())]
    #[diagnostic(
        code(wsbench::sim::flash_file),
        help(
            "give --flash-file a path this user can write; a new file is created (4 MB, erased); delete a damaged one to start from an erased flash"
        )
    )]
    FlashFile {
        path: std::path::PathBuf,
        problem: String,
    },

    #[error("invalid simulated board setting: {0}")]
    #[diagnostic(
        code(wsbench::sim::options),
        help(
            "max sockets must be 1..=1024, the message limit at least 1 byte, and ws and wss need different ports"
        )
    )]
    InvalidOption(String),
}

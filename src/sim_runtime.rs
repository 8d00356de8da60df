//! The in-process simulated board on a runtime and threads of its own.
//!
//! Sharing the load generator's runtime would let the board's work (parsing, echoing,
//! broadcasting) delay the sender's wake-ups, and that server-side delay would look like
//! host lateness. On its own runtime the board competes only for CPU, as a separate
//! server process would, and the runner's timing stays the client's own.

use std::thread::JoinHandle;

use tokio::sync::{broadcast, oneshot};

use crate::sim::{SimBoard, SimError, SimOptions};

/// Why the board on its own runtime did not start.
#[derive(Debug, thiserror::Error)]
pub enum SimStartError {
    #[error(transparent)]
    Board(#[from] SimError),
    #[error("cannot start the simulated board's own runtime: {0}")]
    Runtime(String),
}

/// Worker threads of the board's runtime: enough for its listeners and sessions
/// without taking every core from the load generator.
const BOARD_WORKERS: usize = 1;

/// A simulated board running on its own thread; dropped or shut down, it stops.
pub struct SimOnOwnRuntime {
    ws_url: String,
    wss_url: String,
    console: broadcast::Receiver<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimOnOwnRuntime {
    /// Starts the board on a new thread and returns once its ports listen.
    pub async fn start(opts: SimOptions) -> Result<SimOnOwnRuntime, SimStartError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wsbench-sim".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(BOARD_WORKERS)
                    .thread_name("wsbench-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SimStartError::Runtime(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match SimBoard::start(opts).await {
                        Ok(board) => {
                            let info = (board.ws_url(), board.wss_url(), board.console_lines());
                            if ready_tx.send(Ok(info)).is_err() {
                                board.shutdown().await;
                                return;
                            }
                            // Either an explicit stop or the handle dropped.
                            let _ = stop_rx.await;
                            board.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(SimStartError::Board(e)));
                        }
                    }
                });
            })
            .map_err(|e| SimStartError::Runtime(e.to_string()))?;
        let (ws_url, wss_url, console) = ready_rx.await.map_err(|_| {
            SimStartError::Runtime("the board's thread ended while starting".into())
        })??;
        Ok(SimOnOwnRuntime {
            ws_url,
            wss_url,
            console,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn ws_url(&self) -> String {
        self.ws_url.clone()
    }

    pub fn wss_url(&self) -> String {
        self.wss_url.clone()
    }

    /// Every device log line printed from now on (see [`SimBoard::console_lines`]).
    pub fn console_lines(&self) -> broadcast::Receiver<String> {
        self.console.resubscribe()
    }

    /// Closes every session and both ports, and waits for the board's thread to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for SimOnOwnRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

//! What the user sees while a run goes: a live line per step (indicatif) on a terminal,
//! plain lines otherwise, nothing but the result with `--quiet`. Reads the recorder only.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use crate::recorder::{Live, StepRec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Bars,
}

impl Mode {
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        }
    }
}

fn describe(live: &Live) -> String {
    let mut s = format!(
        "clients {}  sent {}  received {}",
        live.connections, live.sent, live.received
    );
    if let Some(p) = live.p99_us {
        s.push_str(&format!("  p99 {}", fmt_us(p)));
    }
    if live.failures > 0 {
        s.push_str(&format!("  failures {}", live.failures));
    }
    s
}

pub fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

/// The live display of one step; `finish` prints its last line.
pub struct StepProgress {
    mode: Mode,
    label: String,
    bar: Option<ProgressBar>,
    ticker: Option<JoinHandle<()>>,
    rec: StepRec,
}

impl StepProgress {
    pub fn start(mode: Mode, label: String, rec: StepRec) -> StepProgress {
        let mut bar = None;
        let ticker = match mode {
            Mode::Quiet => None,
            Mode::Plain => {
                crate::terminal::out_line(&format!("{label}: started"));
                let (rec, label) = (rec.clone(), label.clone());
                Some(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(5));
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        crate::terminal::out_line(&format!(
                            "{label}: {}",
                            describe(&rec.recorder().live(&rec))
                        ));
                    }
                }))
            }
            Mode::Bars => {
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>3} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_prefix(label.clone());
                b.enable_steady_tick(Duration::from_millis(120));
                let (rec, b2) = (rec.clone(), b.clone());
                bar = Some(b);
                Some(tokio::spawn(async move {
                    loop {
                        b2.set_message(describe(&rec.recorder().live(&rec)));
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }))
            }
        };
        StepProgress {
            mode,
            label,
            bar,
            ticker,
            rec,
        }
    }

    pub fn finish(self, outcome: &str) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        let line = format!(
            "{}: {outcome} ({})",
            self.label,
            describe(&self.rec.recorder().live(&self.rec))
        );
        match (self.mode, &self.bar) {
            (Mode::Bars, Some(b)) => b.finish_with_message(format!(
                "{outcome}  {}",
                describe(&self.rec.recorder().live(&self.rec))
            )),
            (Mode::Plain, _) => crate::terminal::out_line(&line),
            _ => {}
        }
    }
}

impl Drop for StepProgress {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
    }
}

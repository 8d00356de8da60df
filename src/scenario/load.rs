//! Reading a scenario file: YAML errors with file:line:column and the field involved,
//! "did you mean" for typos, then checks serde cannot make (zero rates, bad thresholds).

use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

use super::model::*;
use super::threshold::{self, Threshold};

/// A scenario that parsed and passed every check, with what the run needs.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub text: String,
    pub scenario: Scenario,
    /// Step names as thresholds and the report use them, in order.
    pub step_names: Vec<String>,
    pub thresholds: Vec<Threshold>,
}

/// Why a scenario file was not accepted.
#[derive(Debug, Error, Diagnostic)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {reason}")]
    #[diagnostic(
        code(wsbench::scenario::read),
        help("check the path; shipped scenarios are in scenarios/")
    )]
    Read { path: String, reason: String },
    #[error("{location}: {message}")]
    #[diagnostic(code(wsbench::scenario::invalid))]
    Invalid {
        /// `file:line:column`, or `file` when no position is known.
        location: String,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },
    #[error("{file}: {} errors", errors.len())]
    #[diagnostic(
        code(wsbench::scenario::invalid),
        help("each is listed below with its file:line:column")
    )]
    Several {
        file: String,
        #[related]
        errors: Vec<ScenarioError>,
    },
}

/// Reads and checks a scenario file. The error is boxed: it carries the file's text.
pub fn load(path: &Path) -> Result<LoadedScenario, Box<ScenarioError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(ScenarioError::Read {
            path: path.display().to_string(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                _ => e.to_string(),
            },
        })
    })?;
    parse(path, text)
}

pub fn parse(path: &Path, text: String) -> Result<LoadedScenario, Box<ScenarioError>> {
    let file = path.display().to_string();
    let invalid = |pos: Option<(usize, usize, usize)>, message: String, help: Option<String>| {
        let location = match pos {
            Some((line, col, _)) => format!("{file}:{line}:{col}"),
            None => file.clone(),
        };
        Box::new(ScenarioError::Invalid {
            location,
            message,
            src: NamedSource::new(&file, text.clone()),
            span: pos.map(|(_, _, idx)| SourceSpan::from((idx, 1))),
            help,
        })
    };
    let scenario: Scenario = match serde_yaml::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            let pos = e.location().map(|l| (l.line(), l.column(), l.index()));
            let raw = e.to_string();
            // serde_yaml appends " at line L column C"; the location already says it.
            let message = match raw.find(" at line ") {
                Some(i) => raw[..i].to_string(),
                None => raw,
            };
            let help = help_for(&message);
            return Err(invalid(pos, message, help));
        }
    };
    let step_names = step_names(&scenario.steps);
    // Every error in the file at once, each at its own line: fixing one at a time and
    // re-running is slow.
    let items = step_items(&text);
    let mut errors: Vec<ScenarioError> = semantic_errors(&scenario)
        .into_iter()
        .map(|(message, at)| {
            let pos = match at {
                Some(At::Step(i)) => items.get(i).copied(),
                Some(At::Text(needle)) => locate(&text, &needle),
                None => None,
            };
            *invalid(pos, message, None)
        })
        .collect();
    let pairs: Vec<(String, String)> = step_names
        .iter()
        .zip(&scenario.steps)
        .map(|(n, s)| (n.clone(), s.kind().to_string()))
        .collect();
    let mut thresholds = Vec::new();
    for expr in &scenario.thresholds {
        match threshold::parse(expr, &pairs).and_then(|t| known_console_event(t, &scenario)) {
            Ok(t) => thresholds.push(t),
            Err(message) => {
                let pos = locate(&text, expr);
                errors.push(*invalid(
                    pos,
                    format!("threshold `{expr}`: {message}"),
                    None,
                ));
            }
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(Box::new(errors.remove(0))),
        _ => return Err(Box::new(ScenarioError::Several { file, errors })),
    }
    Ok(LoadedScenario {
        path: path.to_path_buf(),
        text,
        scenario,
        step_names,
        thresholds,
    })
}

/// Names thresholds use: `name:` or the kind, `_2`, `_3` for later steps of a kind.
pub fn step_names(steps: &[Step]) -> Vec<String> {
    let mut names = Vec::new();
    let mut seen = std::collections::HashMap::<&str, u32>::new();
    for step in steps {
        let name = match step.given_name() {
            Some(n) => n.to_string(),
            None => {
                let n = seen.entry(step.kind()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    step.kind().to_string()
                } else {
                    format!("{}_{}", step.kind(), n)
                }
            }
        };
        names.push(name);
    }
    names
}

/// Where an error points.
enum At {
    /// The first occurrence of this text.
    Text(String),
    /// The step at this index (0-based) of the `steps:` list.
    Step(usize),
}

/// Line, column and byte index of each item of the top-level `steps:` list, in order,
/// so an error in the third `echo` step points at that step, not the first.
fn step_items(text: &str) -> Vec<(usize, usize, usize)> {
    let mut items = Vec::new();
    let mut in_steps = false;
    let mut indent: Option<usize> = None;
    let mut idx = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let start = idx;
        idx += line.len();
        let body = line.trim_end();
        let trimmed = body.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lead = body.len() - trimmed.len();
        if lead == 0 && !trimmed.starts_with('-') {
            in_steps = trimmed.starts_with("steps:");
            indent = None;
            continue;
        }
        if !in_steps || !trimmed.starts_with('-') {
            continue;
        }
        if *indent.get_or_insert(lead) == lead {
            let after_dash = trimmed[1..].len() - trimmed[1..].trim_start().len();
            let col = lead + 1 + after_dash;
            items.push((n + 1, col + 1, start + col));
        }
    }
    items
}

/// The line, column and byte index of the first occurrence of `needle`.
fn locate(text: &str, needle: &str) -> Option<(usize, usize, usize)> {
    let idx = text.find(needle)?;
    let before = &text[..idx];
    let line = before.matches('\n').count() + 1;
    let col = idx - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    Some((line, col, idx))
}

/// Turns serde's wording into a suggestion: nearest key for an unknown field or step.
fn help_for(message: &str) -> Option<String> {
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    if (message.contains("unknown field") || message.contains("unknown variant"))
        && ticked.len() > 1
    {
        let typed = ticked[0];
        let what = if message.contains("unknown variant") {
            "step kinds"
        } else {
            "keys"
        };
        let known = &ticked[1..];
        return Some(match super::suggest::nearest(typed, known) {
            Some(best) => format!("did you mean `{best}`? ({what}: {})", known.join(", ")),
            None => format!("{what} here: {}", known.join(", ")),
        });
    }
    if message.starts_with("steps: invalid type") {
        return Some(
            "`steps` is a list: start each step with `- `, e.g. `- connect: { clients: 4 }`".into(),
        );
    }
    if message.contains("expected map with a single key") {
        return Some(
            "one step per list item: start the next step on its own line with `- `".into(),
        );
    }
    if message.contains("integer `-") {
        return Some("counts and sizes cannot be negative".into());
    }
    if message.contains("missing field") {
        return Some("see scenarios/README.md for each step's keys".into());
    }
    if message.contains("unexpected end of stream") {
        return Some(
            "YAML syntax: the file ends inside an open quote, bracket or brace; close it".into(),
        );
    }
    // libyaml's scanner and parser errors ("found character that cannot start any
    // token", "block sequence entries are not allowed in this context", ...).
    if message.contains("did not find expected")
        || message.contains("mapping values are not allowed")
        || message.contains("not allowed in this context")
        || message.starts_with("found ")
        || message.contains("while scanning")
        || message.contains("while parsing")
    {
        return Some(
            "YAML syntax: check brackets, quotes and indentation on this line and the one before"
                .into(),
        );
    }
    None
}

/// Checks serde cannot express. Each is (message, where to point).
fn semantic_errors(s: &Scenario) -> Vec<(String, Option<At>)> {
    let mut errs = Vec::new();
    let mut err = |m: String, at: At| errs.push((m, Some(at)));
    if s.steps.is_empty() {
        err("the scenario has no steps".into(), At::Text("steps".into()));
    }
    if let Some(t) = &s.target
        && !(t.starts_with("ws://") || t.starts_with("wss://"))
    {
        err(
            format!("target `{t}` must start with ws:// or wss://"),
            At::Text(t.clone()),
        );
    }
    let names = step_names(&s.steps);
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            err(
                format!("two steps are named `{n}`; give one another `name:`"),
                At::Step(i),
            );
        }
        if n == "device" || n.contains('.') {
            err(
                format!("`{n}` cannot be a step name (reserved or has a dot)"),
                At::Step(i),
            );
        }
    }
    for pattern in s.console.iter().flat_map(|c| &c.events) {
        if let Some(problem) =
            crate::console::profile::check_user_pattern(&pattern.name, &pattern.regex)
        {
            err(problem, At::Text(pattern.regex.clone()));
        }
    }
    for (i, step) in s.steps.iter().enumerate() {
        let k = step.kind();
        let mut bad = |what: &str| err(format!("step {} (`{k}`): {what}", i + 1), At::Step(i));
        let zero = |d: &Dur| d.0.is_zero();
        match step {
            Step::Connect(c) => {
                if c.clients == 0 {
                    bad("`clients` must be at least 1");
                }
                if c.ramp.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                    bad(
                        "`ramp` (connections per second) must be above 0; leave it out to open all at once",
                    );
                }
                if zero(&c.timeout) {
                    bad("`timeout` must be above 0");
                }
            }
            Step::Echo(e) => {
                if !(e.rate > 0.0 && e.rate.is_finite()) {
                    bad("`rate` (messages per second) must be above 0");
                }
                if e.size < super::ECHO_MIN_SIZE {
                    bad(&format!(
                        "`size` must be at least {} bytes (the sequence header)",
                        super::ECHO_MIN_SIZE
                    ));
                }
                if e.size > super::ECHO_MAX_SIZE {
                    bad(&format!(
                        "`size` must be at most {} bytes (16 MiB)",
                        super::ECHO_MAX_SIZE
                    ));
                }
                if zero(&e.duration) {
                    bad("`duration` must be above 0");
                }
                if zero(&e.timeout) {
                    bad("`timeout` must be above 0");
                }
                let planned = e.rate * e.duration.0.as_secs_f64();
                if planned > super::ECHO_MAX_MESSAGES as f64 {
                    bad(&format!(
                        "`rate` × `duration` plans {planned:.0} messages; at most {} per step \
                         (a day at 10,000 a second): lower the rate or the duration",
                        super::ECHO_MAX_MESSAGES
                    ));
                }
            }
            Step::Capacity(c) => {
                if c.clients == 0 {
                    bad("`clients` must be at least 1");
                }
                if !(c.from > 0.0 && c.from.is_finite() && c.to.is_finite() && c.to >= c.from) {
                    bad("`from` must be above 0 and `to` at least `from` (messages per second)");
                }
                if c.size < super::ECHO_MIN_SIZE || c.size > super::ECHO_MAX_SIZE {
                    bad(&format!(
                        "`size` must be {}..={} bytes",
                        super::ECHO_MIN_SIZE,
                        super::ECHO_MAX_SIZE
                    ));
                }
                if zero(&c.rung) || zero(&c.timeout) {
                    bad("`rung` and `timeout` must be above 0");
                }
                if c.to * c.rung.0.as_secs_f64() > super::ECHO_MAX_MESSAGES as f64 {
                    bad(&format!(
                        "`to` × `rung` plans more than {} messages in one rung: lower `to` or `rung`",
                        super::ECHO_MAX_MESSAGES
                    ));
                }
                if c.until.is_empty() {
                    bad(
                        "`until` needs at least one condition, e.g. [\"latency.p99 > 50ms\", \"loss > 0\"]",
                    );
                }
                for cond in &c.until {
                    if let Err(why) = crate::steps::capacity_condition(cond) {
                        bad(&format!("`until: {cond}`: {why}"));
                    }
                }
            }
            Step::Fanout(f) => {
                if f.count == 0 {
                    bad("`count` must be at least 1");
                }
                if f.trigger == FanoutTrigger::Message && f.message.is_none() {
                    bad("`trigger: message` needs `message: <text>`");
                }
                if f.trigger == FanoutTrigger::Burst && !(80..=16384).contains(&f.size) {
                    bad("`size` must be 80..=16384 bytes for `!burst` frames");
                }
            }
            Step::Tls(t) => {
                if t.handshakes == 0 || t.concurrency == 0 {
                    bad("`handshakes` and `concurrency` must be at least 1");
                }
            }
            Step::Exhaust(x) => {
                if x.cap == 0 {
                    bad("`cap` must be at least 1");
                }
            }
            Step::Ping(p) => {
                if p.count == 0 {
                    bad("`count` must be at least 1");
                }
                if p.size > 125 {
                    bad("`size` must be at most 125 bytes (a control frame's limit)");
                }
            }
            Step::Churn(c) => {
                if c.cycles == 0 {
                    bad("`cycles` must be at least 1");
                }
            }
            Step::Abrupt(a) => {
                if a.count == 0 {
                    bad("`count` must be at least 1");
                }
            }
            Step::Frames(f) => {
                if f.sizes.is_empty() {
                    bad("`sizes` must list at least one size");
                }
                if f.sizes.iter().any(|s| *s > 16 * 1024 * 1024) {
                    bad("sizes above 16 MiB are not supported");
                }
            }
            Step::Hold(h) => {
                if zero(&h.duration) {
                    bad("`duration` must be above 0");
                }
            }
            Step::Wait(_) => {}
        }
    }
    errs
}

/// A `device.events.NAME` threshold must name one of the scenario's `console.events`:
/// an unknown name would never match and a `== 0` on it would pass for nothing.
fn known_console_event(
    t: Threshold,
    scenario: &super::model::Scenario,
) -> Result<Threshold, String> {
    let threshold::MetricRef::Device { metric, .. } = &t.metric else {
        return Ok(t);
    };
    let Some(name) = metric.strip_prefix("events.") else {
        return Ok(t);
    };
    let names: Vec<&str> = scenario
        .console
        .iter()
        .flat_map(|c| &c.events)
        .map(|e| e.name.as_str())
        .collect();
    if names.contains(&name) {
        return Ok(t);
    }
    Err(if names.is_empty() {
        format!(
            "`device.events.{name}` names a console event, but the scenario defines none (add `console: {{ events: [{{ name: {name}, regex: ... }}] }}`)"
        )
    } else {
        format!(
            "`device.events.{name}` names no console event of this scenario; its events are: {}",
            names
                .iter()
                .map(|n| format!("device.events.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(yaml: &str) -> Result<LoadedScenario, Box<ScenarioError>> {
        parse(Path::new("t.yaml"), yaml.to_string())
    }

    fn message(yaml: &str) -> String {
        match *parse_str(yaml).unwrap_err() {
            ScenarioError::Invalid {
                location,
                message,
                help,
                ..
            } => {
                format!("{location}: {message} | {}", help.unwrap_or_default())
            }
            other => other.to_string(),
        }
    }

    #[test]
    fn later_steps_of_a_kind_are_numbered() {
        let s = parse_str(
            "name: x\nsteps:\n  - connect: {}\n  - echo: { rate: 1, duration: 1s }\n  - echo: { rate: 2, duration: 1s }\n  - echo: { name: bin, rate: 2, duration: 1s }\n",
        )
        .unwrap();
        assert_eq!(s.step_names, ["connect", "echo", "echo_2", "bin"]);
    }

    #[test]
    fn defaults_are_filled_in() {
        let s = parse_str("name: x\nsteps:\n  - frames: {}\n  - exhaust: {}\n").unwrap();
        let Step::Frames(f) = &s.scenario.steps[0] else {
            panic!("frames")
        };
        assert!(f.sizes.contains(&1433) && f.sizes.contains(&126));
        let Step::Exhaust(x) = &s.scenario.steps[1] else {
            panic!("exhaust")
        };
        assert_eq!(x.cap, 32);
    }

    #[test]
    fn errors_point_at_the_line_and_field() {
        let e = message("name: x\nsteps:\n  - echo: { rate: 5, duraton: 1s }\n");
        assert!(e.starts_with("t.yaml:3:"), "{e}");
        assert!(
            e.contains("unknown field `duraton`") && e.contains("did you mean `duration`?"),
            "{e}"
        );
        let e = message("name: x\nsteps:\n  - echo: { rate: 5, duration: soon }\n");
        assert!(e.contains("`soon` is not a duration"), "{e}");
        let e = message("name: x\nsteps:\n  - ping: { size: 200 }\n");
        assert!(e.contains("at most 125 bytes"), "{e}");
        let e = message(
            "name: x\nsteps:\n  - wait: { duration: 1s }\n  - wait: { name: wait, duration: 1s }\n",
        );
        assert!(e.contains("two steps are named `wait`"), "{e}");
        let e = message("name: x\ntarget: http://x\nsteps:\n  - wait: { duration: 1s }\n");
        assert!(e.contains("must start with ws:// or wss://"), "{e}");
    }

    #[test]
    fn a_later_steps_error_points_at_that_step() {
        let yaml = "name: x\nsteps:\n  - echo: { rate: 5, duration: 1s }\n  # a comment\n  - ping: {}\n  -   echo:\n          rate: 0\n          duration: 1s\n";
        let e = message(yaml);
        assert!(e.starts_with("t.yaml:6:7: step 3 (`echo`)"), "{e}");
    }

    #[test]
    fn every_error_in_a_file_is_reported() {
        let yaml = "name: x\nsteps:\n  - echo: { rate: 0, duration: 1s }\n  - ping: { count: 0 }\nthresholds: [\"echo.nope == 0\"]\n";
        let Err(e) = parse_str(yaml) else {
            panic!("accepted")
        };
        let ScenarioError::Several { errors, .. } = *e else {
            panic!("one error only: {e}")
        };
        let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[0].starts_with("t.yaml:3:5: step 1 (`echo`)"), "{all:?}");
        assert!(all[1].starts_with("t.yaml:4:5: step 2 (`ping`)"), "{all:?}");
        assert!(all[2].contains("threshold `echo.nope == 0`"), "{all:?}");
    }
}

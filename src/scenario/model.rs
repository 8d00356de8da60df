//! The scenario file's shape. One struct per step kind, every struct refuses unknown
//! keys so a typo is an error instead of a silently ignored setting.

use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scenario: what to run against a target and what counts as passing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in the report folder's name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ws://…` or `wss://…`; `--target` and `--sim` take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Settings of the in-process simulated board, when the run uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimSettings>,
    /// Run in order; clients opened by `connect` stay open for the steps that follow.
    #[serde(with = "serde_yaml::with::singleton_map_recursive")]
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Step>,
    /// `<metric> <op> <value><unit>`, e.g. `echo.latency.p99 < 50ms`.
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// What to find in the device console beyond the built-in events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleSettings>,
}

/// The device console's settings: the scenario's own events (docs/console-events.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    #[serde(default)]
    pub events: Vec<ConsoleEventPattern>,
}

/// A console line matching `regex` (Rust `regex` syntax; named groups are captured) is
/// an event of kind `name`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleEventPattern {
    pub name: String,
    pub regex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<ConsoleEventLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleEventLevel {
    Error,
    Warn,
    Info,
}

impl ConsoleEventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleEventLevel::Error => "error",
            ConsoleEventLevel::Warn => "warn",
            ConsoleEventLevel::Info => "info",
        }
    }
}

/// Settings for the simulated board (ignored against any other target).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sockets: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lru_purge: Option<bool>,
    /// Milliseconds between periodic broadcasts, 0 = off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast_interval_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_len: Option<u32>,
}

/// One step. Written as a single-key map: `- echo: { rate: 20, duration: 5s }`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Connect(ConnectStep),
    Echo(EchoStep),
    Capacity(CapacityStep),
    Fanout(FanoutStep),
    Tls(TlsStep),
    Exhaust(ExhaustStep),
    Ping(PingStep),
    Churn(ChurnStep),
    Abrupt(AbruptStep),
    Frames(FramesStep),
    Hold(HoldStep),
    Wait(WaitStep),
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Connect(_) => "connect",
            Step::Echo(_) => "echo",
            Step::Capacity(_) => "capacity",
            Step::Fanout(_) => "fanout",
            Step::Tls(_) => "tls",
            Step::Exhaust(_) => "exhaust",
            Step::Ping(_) => "ping",
            Step::Churn(_) => "churn",
            Step::Abrupt(_) => "abrupt",
            Step::Frames(_) => "frames",
            Step::Hold(_) => "hold",
            Step::Wait(_) => "wait",
        }
    }

    /// The name given with `name:`, if any.
    pub fn given_name(&self) -> Option<&str> {
        match self {
            Step::Connect(s) => s.name.as_deref(),
            Step::Echo(s) => s.name.as_deref(),
            Step::Capacity(s) => s.name.as_deref(),
            Step::Fanout(s) => s.name.as_deref(),
            Step::Tls(s) => s.name.as_deref(),
            Step::Exhaust(s) => s.name.as_deref(),
            Step::Ping(s) => s.name.as_deref(),
            Step::Churn(s) => s.name.as_deref(),
            Step::Abrupt(s) => s.name.as_deref(),
            Step::Frames(s) => s.name.as_deref(),
            Step::Hold(s) => s.name.as_deref(),
            Step::Wait(s) => s.name.as_deref(),
        }
    }

    /// The step's settings after defaults, for the report.
    pub fn settings_json(&self) -> serde_json::Value {
        let v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        match v {
            serde_json::Value::Object(mut m) => m.remove(self.kind()).unwrap_or_default(),
            other => other,
        }
    }
}

/// A duration written as `500ms`, `2s`, `1m 30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn ms(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Dur)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration ({e}); write it like `500ms`, `2s` or `1m 30s`"
                ))
            })
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(ns|us|ms|s|m|h)(\\s*[0-9]+\\s*(ns|us|ms|s|m|h))*$",
            "description": "A duration such as `500ms`, `2s`, `1m 30s`."
        })
    }
}

/// Text or binary frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Opcode {
    #[default]
    Text,
    Binary,
}

fn d_one() -> u32 {
    1
}
fn d_5s() -> Dur {
    Dur::ms(5000)
}
fn d_2s() -> Dur {
    Dur::ms(2000)
}

/// Open `clients` connections (kept open for the steps that follow).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_one")]
    pub clients: u32,
    /// New connections per second; absent = all at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<f64>,
    /// Offered in `Sec-WebSocket-Protocol`; the server must accept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// Per connection (TCP + TLS + upgrade).
    #[serde(default = "d_5s")]
    pub timeout: Dur,
}

/// Whether an echo rate is per client or shared by all clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatePer {
    #[default]
    Client,
    Total,
}

/// Open-loop echo over the open clients: messages at fixed intervals, latency from the
/// intended send time.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EchoStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Messages per second.
    pub rate: f64,
    #[serde(default)]
    pub per: RatePer,
    /// Payload bytes (at least 24: the sequence header).
    #[serde(default = "d_size")]
    pub size: u32,
    #[serde(default)]
    pub opcode: Opcode,
    pub duration: Dur,
    /// An echo later than this counts as late (it still counts in the latency).
    #[serde(default = "d_late")]
    pub late_after: Dur,
    /// An echo not back this long after its send time is lost; a message that could not
    /// be sent within it is unsent.
    #[serde(default = "d_2s")]
    pub timeout: Dur,
    /// Whether messages planned but never sent count against `loss` (they do unless
    /// set to false; `unsent` is reported either way).
    #[serde(default = "d_true")]
    pub unsent_is_loss: bool,
}
/// Capacity search: open-loop echo rungs at rising rates (then bisected) over clients
/// of its own, to find the highest rate the target sustains while none of `until` holds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Connections the load is spread over (opened by the step, closed at its end).
    #[serde(default = "d_one")]
    pub clients: u32,
    /// First rung's rate, messages per second over all clients.
    pub from: f64,
    /// Highest rate tried.
    pub to: f64,
    /// Conditions that end the search when one holds on a rung, written like thresholds
    /// on an echo step without its name: `latency.p99 > 50ms`, `loss > 0`.
    pub until: Vec<String>,
    /// How long each rung sends.
    #[serde(default = "d_rung")]
    pub rung: Dur,
    /// Rungs after the first break, halving the interval between the highest rate held
    /// and the lowest that broke.
    #[serde(default = "d_bisections")]
    pub bisections: u32,
    /// Payload bytes (at least 24).
    #[serde(default = "d_size")]
    pub size: u32,
    #[serde(default)]
    pub opcode: Opcode,
    /// Per message, as in `echo`.
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_rung() -> Dur {
    Dur(Duration::from_secs(3))
}
fn d_bisections() -> u32 {
    4
}
fn d_true() -> bool {
    true
}
fn d_size() -> u32 {
    64
}
fn d_late() -> Dur {
    Dur::ms(200)
}

/// How a fan-out message is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FanoutTrigger {
    /// Our device's `!burst` command (needs the wsbench firmware or simulated board).
    #[default]
    Burst,
    /// Send `message` from the first client; a broadcasting server relays it to all.
    Message,
    /// Wait for the server's periodic broadcast.
    Broadcast,
}

/// Messages delivered by the server to every open client.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FanoutStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub trigger: FanoutTrigger,
    /// Messages to expect.
    #[serde(default = "d_count")]
    pub count: u32,
    /// Frame size for `burst`.
    #[serde(default = "d_burst_size")]
    pub size: u32,
    /// Pause between messages (`burst` and `message`).
    #[serde(default = "d_interval")]
    pub interval: Dur,
    /// Text for `message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long to wait for the last delivery after the last message was due.
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_count() -> u32 {
    10
}
fn d_burst_size() -> u32 {
    128
}
fn d_interval() -> Dur {
    Dur::ms(10)
}

/// TLS handshakes (wss).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_ten")]
    pub handshakes: u32,
    #[serde(default = "d_one")]
    pub concurrency: u32,
    #[serde(default = "d_5s")]
    pub timeout: Dur,
}
fn d_ten() -> u32 {
    10
}

/// Open connections until the server refuses or purges, up to `cap`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExhaustStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_cap")]
    pub cap: u32,
    #[serde(default = "d_2s")]
    pub timeout: Dur,
    /// Wait after each new connection before checking whether an older one was closed.
    #[serde(default = "d_settle")]
    pub settle: Dur,
}
fn d_cap() -> u32 {
    32
}
fn d_settle() -> Dur {
    Dur::ms(150)
}

/// PING/PONG round trips on the open clients (or one connection of its own).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_ten")]
    pub count: u32,
    #[serde(default = "d_interval")]
    pub interval: Dur,
    /// Payload bytes (at most 125).
    #[serde(default = "d_ping_size")]
    pub size: u32,
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_ping_size() -> u32 {
    16
}

/// Connect, echo once, close; `cycles` times in a row.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChurnStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_cycles")]
    pub cycles: u32,
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_cycles() -> u32 {
    20
}

/// Connect then drop the TCP connection without a CLOSE frame, then check the server
/// still serves a new client.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbruptStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_five")]
    pub count: u32,
    /// Send a frame header announcing more payload than is sent before dropping.
    #[serde(default)]
    pub mid_frame: bool,
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_five() -> u32 {
    5
}

/// Echo payloads of chosen sizes, whole and fragmented.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FramesStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "d_sizes")]
    pub sizes: Vec<u32>,
    /// Also send each size as this many fragments (0 or 1 = never fragment).
    #[serde(default = "d_fragments")]
    pub fragments: u32,
    #[serde(default)]
    pub opcode: Opcode,
    /// The server's message limit: larger sizes are expected to be refused (close 1009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_len: Option<u32>,
    #[serde(default = "d_2s")]
    pub timeout: Dur,
}
fn d_sizes() -> Vec<u32> {
    vec![0, 1, 125, 126, 127, 1432, 1433, 1434, 4096, 16384]
}
fn d_fragments() -> u32 {
    3
}

/// Keep the open clients idle and count disconnects.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub duration: Dur,
}

/// Do nothing for a while.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub duration: Dur,
}

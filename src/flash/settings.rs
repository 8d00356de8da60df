//! The device settings written with the firmware: flags → `DeviceSettings` → the config
//! record the device crate defines, padded to its own erase sector.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use wsbench_device::config_record::{self, DeviceSettings, WifiMode};

use super::error::FlashError;

/// A Wi-Fi password. Its `Debug` and `Display` never show it, so neither a log line nor
/// a panic message nor `{:?}` of the arguments can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// The settings flags of `wsbench flash`. Unset flags keep the firmware's defaults
/// (the ESP-IDF example's values).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Device settings (bundled firmware only)")]
pub struct SettingsArgs {
    /// SoftAP name the board creates [default: ESP32-WS-Server].
    #[arg(long, value_name = "SSID")]
    pub ssid: Option<String>,
    /// SoftAP WPA2 password, 8-63 bytes, or "" for an open network [default: password].
    /// Visible to `ps`: prefer --password-file or WSBENCH_PASSWORD. Never printed or logged.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<Secret>,
    /// Read the SoftAP password from FILE (one trailing newline is dropped)
    /// [env: WSBENCH_PASSWORD holds the password itself].
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub password_file: Option<PathBuf>,
    /// SoftAP Wi-Fi channel, 1-13 [default: 1].
    #[arg(long, value_name = "N")]
    pub channel: Option<u8>,
    /// Sessions at once, ws and wss together (esp_http_server's max_open_sockets) [default: 7].
    #[arg(long, value_name = "N")]
    pub max_sockets: Option<u8>,
    /// Of those, how many may be TLS (0 turns wss off) [default: 2].
    #[arg(long, value_name = "N")]
    pub max_tls_sessions: Option<u8>,
    /// Refuse a client over the limit instead of closing the least recently active one.
    #[arg(long)]
    pub no_purge: bool,
    /// Period of the "Server broadcast" message in ms, 0 = off [default: 5000].
    #[arg(long, value_name = "MS")]
    pub broadcast_ms: Option<u32>,
    /// Join this network (station mode) instead of creating a SoftAP.
    #[arg(long, value_name = "SSID", conflicts_with_all = ["ssid", "password", "password_file", "channel"])]
    pub sta_ssid: Option<String>,
    /// Password of the network given with --sta-ssid. Visible to `ps`: prefer
    /// --sta-password-file or WSBENCH_STA_PASSWORD. Never printed or logged.
    #[arg(long, value_name = "PASSWORD", requires = "sta_ssid")]
    pub sta_password: Option<Secret>,
    /// Read the --sta-ssid network's password from FILE (one trailing newline is dropped)
    /// [env: WSBENCH_STA_PASSWORD holds the password itself].
    #[arg(
        long,
        value_name = "FILE",
        requires = "sta_ssid",
        conflicts_with = "sta_password"
    )]
    pub sta_password_file: Option<PathBuf>,
}

/// The environment variable that may hold the SoftAP password, so it stays off argv.
pub const PASSWORD_ENV: &str = "WSBENCH_PASSWORD";
/// The environment variable that may hold the station network's password.
pub const STA_PASSWORD_ENV: &str = "WSBENCH_STA_PASSWORD";

/// A password from the flag, else from its file, else from its environment variable
/// (read only where the mode uses it, so a variable set for another board does not get
/// in the way). `env` is passed in so tests need not touch the process environment.
fn secret_from(
    flag: Option<&Secret>,
    file: Option<&Path>,
    file_flag: &'static str,
    env_value: Option<String>,
) -> Result<Option<Secret>, FlashError> {
    if let Some(s) = flag {
        return Ok(Some(s.clone()));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| FlashError::SecretFile {
            flag: file_flag,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        return Ok(Some(Secret(text.to_owned())));
    }
    Ok(env_value.map(Secret))
}

impl SettingsArgs {
    /// The flags given, by name, for messages.
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut note = |set: bool, name| {
            if set {
                out.push(name);
            }
        };
        note(self.ssid.is_some(), "--ssid");
        note(self.password.is_some(), "--password");
        note(self.password_file.is_some(), "--password-file");
        note(self.channel.is_some(), "--channel");
        note(self.max_sockets.is_some(), "--max-sockets");
        note(self.max_tls_sessions.is_some(), "--max-tls-sessions");
        note(self.no_purge, "--no-purge");
        note(self.broadcast_ms.is_some(), "--broadcast-ms");
        note(self.sta_ssid.is_some(), "--sta-ssid");
        note(self.sta_password.is_some(), "--sta-password");
        note(self.sta_password_file.is_some(), "--sta-password-file");
        out
    }

    /// The settings the flags (and the password variables) describe, checked by the
    /// record's own rules.
    pub fn to_settings(&self) -> Result<DeviceSettings, FlashError> {
        self.to_settings_with_env(|name| std::env::var(name).ok())
    }

    fn to_settings_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DeviceSettings, FlashError> {
        let mut s = DeviceSettings::default();
        if let Some(ssid) = &self.sta_ssid {
            s.wifi_mode = WifiMode::Station;
            s.ssid = ssid.clone();
            s.password = secret_from(
                self.sta_password.as_ref(),
                self.sta_password_file.as_deref(),
                "--sta-password-file",
                env(STA_PASSWORD_ENV),
            )?
            .map_or_else(String::new, |p| p.0);
        } else {
            if let Some(ssid) = &self.ssid {
                s.ssid = ssid.clone();
            }
            if let Some(password) = secret_from(
                self.password.as_ref(),
                self.password_file.as_deref(),
                "--password-file",
                env(PASSWORD_ENV),
            )? {
                s.password = password.0;
            }
            if let Some(channel) = self.channel {
                s.channel = channel;
            }
        }
        if let Some(max) = self.max_sockets {
            s.max_open_sockets = max;
            // A smaller table keeps the default TLS share only where it fits.
            if self.max_tls_sessions.is_none() {
                s.max_tls_sessions = s.max_tls_sessions.min(max);
            }
        }
        if let Some(tls) = self.max_tls_sessions {
            s.max_tls_sessions = tls;
        }
        if self.no_purge {
            s.lru_purge = false;
        }
        if let Some(ms) = self.broadcast_ms {
            s.broadcast_interval_ms = ms;
        }
        s.validate().map_err(|e| FlashError::Settings {
            reason: e.to_string(),
        })?;
        Ok(s)
    }
}

/// The whole settings sector: the record, then erased bytes to the sector's end, so a
/// write leaves nothing of an older, longer record behind.
pub fn sector_bytes(settings: &DeviceSettings) -> Result<Vec<u8>, FlashError> {
    let mut sector = settings.encode().map_err(|e| FlashError::Settings {
        reason: e.to_string(),
    })?;
    sector.resize(config_record::FLASH_REGION_LEN, 0xFF);
    Ok(sector)
}

/// One line describing the settings, password left out.
pub fn describe(s: &DeviceSettings) -> String {
    let mode = match s.wifi_mode {
        WifiMode::AccessPoint => format!(
            "SoftAP \"{}\" on channel {} ({})",
            s.ssid,
            s.channel,
            if s.password.is_empty() {
                "open"
            } else {
                "WPA2"
            }
        ),
        WifiMode::Station => format!("station, joins \"{}\"", s.ssid),
    };
    let broadcast = match s.broadcast_interval_ms {
        0 => "off".to_owned(),
        ms => format!("every {ms} ms"),
    };
    format!(
        "{mode}; max sockets {}, of them TLS {}; LRU purge {}; broadcast {broadcast}",
        s.max_open_sockets,
        s.max_tls_sessions,
        if s.lru_purge { "on" } else { "off" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_debug_or_display() {
        let args = SettingsArgs {
            password: Some("hunter2hunter2".parse().unwrap()),
            sta_password: Some("sta-secret-123".parse().unwrap()),
            ..SettingsArgs::default()
        };
        let shown = format!("{args:?} {}", args.password.as_ref().unwrap());
        assert!(
            !shown.contains("hunter2") && !shown.contains("sta-secret"),
            "{shown}"
        );
    }

    #[test]
    fn flags_become_a_record_the_device_decodes() {
        let args = SettingsArgs {
            ssid: Some("bench".into()),
            max_sockets: Some(3),
            no_purge: true,
            broadcast_ms: Some(0),
            ..SettingsArgs::default()
        };
        let s = args.to_settings().unwrap();
        assert_eq!(s.max_open_sockets, 3);
        assert_eq!(s.max_tls_sessions, 2);
        let sector = sector_bytes(&s).unwrap();
        assert_eq!(sector.len(), config_record::FLASH_REGION_LEN);
        assert_eq!(config_record::decode(&sector).unwrap(), s);
        assert!(!describe(&s).contains("password"));
    }

    #[test]
    fn one_socket_lowers_the_default_tls_share_and_station_mode_takes_its_network() {
        let s = SettingsArgs {
            max_sockets: Some(1),
            ..SettingsArgs::default()
        }
        .to_settings()
        .unwrap();
        assert_eq!(s.max_tls_sessions, 1);
        let s = SettingsArgs {
            sta_ssid: Some("lab".into()),
            sta_password: Some("lab-password".parse().unwrap()),
            ..SettingsArgs::default()
        }
        .to_settings()
        .unwrap();
        assert_eq!(s.wifi_mode, WifiMode::Station);
        assert_eq!(
            (s.ssid.as_str(), s.password.as_str()),
            ("lab", "lab-password")
        );
    }

    #[test]
    fn settings_the_record_cannot_hold_are_refused() {
        for args in [
            SettingsArgs {
                password: Some("short".parse().unwrap()),
                ..SettingsArgs::default()
            },
            SettingsArgs {
                channel: Some(14),
                ..SettingsArgs::default()
            },
            SettingsArgs {
                max_sockets: Some(0),
                ..SettingsArgs::default()
            },
        ] {
            let err = args.to_settings().unwrap_err();
            assert!(matches!(err, FlashError::Settings { .. }), "{err:?}");
            assert!(!format!("{err}").contains("short"));
        }
    }

    #[test]
    fn a_password_comes_from_the_flag_then_its_file_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let env = |name: &str| (name == PASSWORD_ENV).then(|| "from-the-env".to_owned());
        let with_file = SettingsArgs {
            password_file: Some(file.clone()),
            ..SettingsArgs::default()
        };
        let s = with_file.to_settings_with_env(env).unwrap();
        assert_eq!(s.password, "from-the-file", "one trailing newline dropped");
        let s = SettingsArgs::default().to_settings_with_env(env).unwrap();
        assert_eq!(s.password, "from-the-env");
        let s = SettingsArgs {
            password: Some("from-the-flag".parse().unwrap()),
            ..SettingsArgs::default()
        }
        .to_settings_with_env(env)
        .unwrap();
        assert_eq!(s.password, "from-the-flag");
        // Station mode reads only its own variable.
        let s = SettingsArgs {
            sta_ssid: Some("lab".into()),
            ..SettingsArgs::default()
        }
        .to_settings_with_env(env)
        .unwrap();
        assert_eq!(s.password, "");
    }

    #[test]
    fn a_missing_password_file_is_named_and_is_a_usage_error() {
        let err = SettingsArgs {
            sta_ssid: Some("lab".into()),
            sta_password_file: Some("/nonexistent/wsbench-pw".into()),
            ..SettingsArgs::default()
        }
        .to_settings_with_env(|_| None)
        .unwrap_err();
        assert!(err.is_usage(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent/wsbench-pw") && text.contains("--sta-password-file"),
            "{text}"
        );
    }
}

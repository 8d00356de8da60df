//! The radio: a SoftAP (default, as the ESP-IDF example) or a station joining the network
//! the settings name.

use embassy_time::Timer;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config, Password, Ssid, WifiController,
    ap::{AccessPointConfig, EventInfo},
    sta::StationConfig,
};
use wsbench_device::config_record::{DeviceSettings, WifiMode};
use wsbench_device::idf_log::Level;

use crate::console;

/// Why the settings could not become a radio configuration (they were validated when the
/// record was decoded, so this means a limit of the radio itself).
#[derive(Debug)]
pub struct RadioConfigError(pub &'static str);

/// The radio configuration for `settings`.
pub fn radio_config(settings: &DeviceSettings) -> Result<Config, RadioConfigError> {
    let ssid = Ssid::try_from(settings.ssid.as_str())
        .map_err(|_| RadioConfigError("ssid not accepted"))?;
    let auth = if settings.password.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        let password = Password::try_from(settings.password.as_str())
            .map_err(|_| RadioConfigError("password not accepted"))?;
        AuthenticationMethodConfig::Wpa2Personal(password)
    };
    Ok(match settings.wifi_mode {
        WifiMode::AccessPoint => Config::AccessPoint(
            AccessPointConfig::default()
                .with_ssid(ssid)
                .with_channel(settings.channel)
                .with_authentication(auth)
                // Room for one more station than sessions: a tool checking the AP
                // while all sessions are open still gets in.
                .with_max_connections(u16::from(settings.max_open_sockets) + 1),
        ),
        WifiMode::Station => Config::Station(
            StationConfig::default()
                .with_ssid(ssid)
                .with_authentication(auth),
        ),
    })
}

/// Keeps the station joined: connect, wait for a disconnect, retry with a pause so a
/// missing network does not spin the radio.
#[embassy_executor::task]
pub async fn station_keeper(mut controller: WifiController<'static>) -> ! {
    loop {
        match controller.connect_async().await {
            Ok(_) => {
                console::log(Level::Info, &"wifi_joined");
                let _ = controller.wait_for_disconnect_async().await;
                console::log(Level::Warn, &"wifi_lost retry_ms=5000");
            }
            Err(e) => console::log(
                Level::Warn,
                &format_args!("wifi_join_failed error=\"{e:?}\" retry_ms=5000"),
            ),
        }
        Timer::after_secs(5).await;
    }
}

/// Holds the access point's controller for the life of the firmware (dropping it would
/// stop the radio) and reports stations joining.
#[embassy_executor::task]
pub async fn access_point_keeper(controller: WifiController<'static>) -> ! {
    loop {
        match controller
            .wait_for_access_point_connected_event_async()
            .await
        {
            Ok(EventInfo::Connected(info)) => console::log(
                Level::Info,
                &format_args!("wifi_station_join mac={}", Mac(&info.mac)),
            ),
            Ok(EventInfo::Disconnected(info)) => console::log(
                Level::Info,
                &format_args!("wifi_station_leave mac={}", Mac(&info.mac)),
            ),
            Err(_) => Timer::after_secs(1).await,
        }
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
struct Mac<'a>(&'a [u8; 6]);

impl core::fmt::Display for Mac<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

//! Boot-time settings: the record at [`config_record::FLASH_OFFSET`], or the defaults
//! with a W line saying why, then limited to what the image was built to hold.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use esp_storage::FlashStorage;
use wsbench_device::config_record::{self, ConfigRecordError, DeviceSettings};

use crate::budget::{WS_CAPACITY, WSS_CAPACITY};

/// The settings to run with, and the warnings to print once the console is up.
pub struct BootSettings {
    pub settings: DeviceSettings,
    pub warnings: Vec<String>,
}

/// Reads and validates the record. Never fails: every problem becomes a warning and the
/// board still boots with usable settings.
pub fn load(flash: &mut FlashStorage<'_>) -> BootSettings {
    let mut warnings = Vec::new();
    let mut region = [0u8; config_record::MAX_RECORD_LEN];
    let decoded = match flash.read(config_record::FLASH_OFFSET, &mut region) {
        Ok(()) => config_record::decode(&region),
        Err(e) => {
            warnings.push(format!(
                "settings_default reason=flash_read_failed offset={:#x} error=\"{e:?}\"",
                config_record::FLASH_OFFSET
            ));
            Ok(DeviceSettings::default())
        }
    };
    let mut settings = match decoded {
        Ok(s) => s,
        Err(e) => {
            let reason = match e {
                ConfigRecordError::Missing => "missing",
                _ => "corrupt",
            };
            warnings.push(format!(
                "settings_default reason={reason} offset={:#x} detail=\"{e}\"",
                config_record::FLASH_OFFSET
            ));
            DeviceSettings::default()
        }
    };
    clamp(
        &mut settings.max_open_sockets,
        WS_CAPACITY,
        "max_open_sockets",
        &mut warnings,
    );
    clamp(
        &mut settings.max_tls_sessions,
        WSS_CAPACITY.min(usize::from(settings.max_open_sockets)),
        "max_tls_sessions",
        &mut warnings,
    );
    BootSettings { settings, warnings }
}

fn clamp(value: &mut u8, capacity: usize, field: &str, warnings: &mut Vec<String>) {
    if usize::from(*value) > capacity {
        warnings.push(format!(
            "settings_limited field={field} requested={} capacity={capacity}",
            *value
        ));
        *value = capacity as u8;
    }
}

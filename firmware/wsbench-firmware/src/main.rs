//! wsbench's bundled firmware for ESP32-C3 and ESP32-C6: the shared device crate
//! (`wsbench-device`) bound to the board. Boot order: heap and scheduler, console,
//! settings record, radio (SoftAP or station), network stack, DHCP (AP), the device,
//! its listeners; the ready line last, once every port listens.
//!
//! Everything that decides what a client sees lives in the device crate; this crate only
//! moves bytes between it and the hardware.
#![no_std]
#![no_main]

extern crate alloc;

use esp_backtrace as _;
// C functions MbedTLS needs that the ROM lacks on some chips (memchr on the C6).
use tinyrlibc as _;

mod budget;
mod console;
mod dhcp;
mod listeners;
mod platform;
mod settings;
mod tls;
mod wifi;

use alloc::format;
use alloc::string::String;
use core::net::Ipv4Addr;

use embassy_executor::Spawner;
use embassy_net::{Config as NetConfig, Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use embassy_time::{Duration, Instant, Timer};
use esp_hal::clock::CpuClock;
use esp_hal::rng::{Rng, Trng};
use esp_hal::timer::timg::TimerGroup;
use esp_hal::uart::{self, UartTx};
use esp_hal::usb::usb_serial_jtag::UsbSerialJtag;
use esp_radio::wifi::{ControllerConfig, Interface, WifiController};
use esp_storage::FlashStorage;
use mbedtls_rs::{Credentials, Tls};
use static_cell::StaticCell;
use wsbench_device::config_record::{DeviceSettings, WifiMode};
use wsbench_device::idf_log::Level;
use wsbench_device::{Device, DeviceConfig};

use crate::budget::{
    HEAP_MAIN_LEN, HEAP_RECLAIMED_LEN, HEAP_RESERVE_LEN, MAX_MESSAGE_LEN, MAX_QUEUED_BYTES,
    STACK_SOCKETS,
};
use crate::listeners::{BoardDevice, Listening, Shared};
use crate::platform::Board;

esp_bootloader_esp_idf::esp_app_desc!();

/// Spawns a task. The pools are sized in [`budget`] for the counts the settings allow,
/// so a full pool is a build defect: reported on the console, never a panic.
macro_rules! spawn {
    ($spawner:expr, $task:expr) => {
        match $task {
            Ok(token) => $spawner.spawn(token),
            Err(_) => console::log(
                Level::Error,
                &concat!("task_spawn_failed task=\"", stringify!($task), "\""),
            ),
        }
    };
}

/// The access point's address, as in the ESP-IDF example.
const AP_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 1);

/// How long boot waits for every listener (and, in station mode, for an address) before
/// it says what is missing; it goes on waiting for the address, never for a listener.
const READY_WAIT: Duration = Duration::from_secs(5);

static STACK_RESOURCES: StaticCell<StackResources<STACK_SOCKETS>> = StaticCell::new();
static DEVICE: StaticCell<BoardDevice> = StaticCell::new();
static LISTENING: Listening = Listening::new();
static TLS: StaticCell<Tls<'static>> = StaticCell::new();
static TRNG: StaticCell<Trng> = StaticCell::new();
static CREDENTIALS: StaticCell<Credentials<'static>> = StaticCell::new();

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let peripherals = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: HEAP_RECLAIMED_LEN);
    esp_alloc::heap_allocator!(size: HEAP_MAIN_LEN);

    let timg0 = TimerGroup::new(peripherals.TIMG0);
    esp_rtos::start(timg0.timer0, peripherals.FROM_CPU_INTR0);

    // Console first, so every later problem can be reported.
    #[cfg(feature = "esp32c3")]
    let uart_tx_pin = peripherals.GPIO21;
    #[cfg(feature = "esp32c6")]
    let uart_tx_pin = peripherals.GPIO16;
    // Without UART0 the USB-Serial-JTAG console below still works.
    if let Ok(tx) = UartTx::new(peripherals.UART0, uart::Config::default()) {
        spawn!(
            spawner,
            console::uart_writer(tx.with_tx(uart_tx_pin).into_async())
        );
    }
    let (_, jtag_tx) = UsbSerialJtag::new(peripherals.USB_DEVICE)
        .into_async()
        .split();
    spawn!(spawner, console::jtag_writer(jtag_tx));

    let boot = settings::load(&mut FlashStorage::new(peripherals.FLASH));
    for warning in &boot.warnings {
        console::log(Level::Warn, warning);
    }
    let settings = boot.settings;

    let radio_config = match wifi::radio_config(&settings) {
        Ok(config) => config,
        Err(e) => halt(&format!("radio_config_invalid what=\"{}\"", e.0)).await,
    };
    let controller = match WifiController::new(
        peripherals.WIFI,
        ControllerConfig::default().with_initial_config(radio_config),
    ) {
        Ok(controller) => controller,
        Err(e) => halt(&format!("radio_start_failed error=\"{e:?}\"")).await,
    };

    let rng = Rng::new();
    let seed = (u64::from(rng.random()) << 32) | u64::from(rng.random());
    let (interface, net_config) = match settings.wifi_mode {
        WifiMode::AccessPoint => (
            Interface::access_point(),
            NetConfig::ipv4_static(StaticConfigV4 {
                address: Ipv4Cidr::new(AP_ADDRESS, 24),
                gateway: Some(AP_ADDRESS),
                dns_servers: Default::default(),
            }),
        ),
        WifiMode::Station => (Interface::station(), NetConfig::dhcpv4(Default::default())),
    };
    let (stack, runner) = embassy_net::new(
        interface,
        net_config,
        STACK_RESOURCES.init(StackResources::new()),
        seed,
    );
    spawn!(spawner, net_runner(runner));
    match settings.wifi_mode {
        WifiMode::AccessPoint => {
            spawn!(spawner, wifi::access_point_keeper(controller));
            spawn!(spawner, dhcp::dhcp_server(stack, AP_ADDRESS));
        }
        WifiMode::Station => spawn!(spawner, wifi::station_keeper(controller)),
    }

    let ip = match embassy_time::with_timeout(READY_WAIT, stack.wait_config_up()).await {
        Ok(()) => address_of(&stack),
        Err(_) => {
            console::log(
                Level::Warn,
                &format_args!("waiting_for_address ssid=\"{}\"", settings.ssid),
            );
            stack.wait_config_up().await;
            address_of(&stack)
        }
    };

    let device: &'static BoardDevice =
        DEVICE.init(Device::new(device_config(&settings, ip), Board));
    spawn!(spawner, device_background(device));

    let shared = Shared {
        stack,
        device,
        listening: &LISTENING,
    };
    let ws_acceptors = usize::from(settings.max_open_sockets) + 1;
    for _ in 0..ws_acceptors {
        spawn!(spawner, listeners::ws_acceptor(shared, settings.ws_port));
    }
    let mut wss_acceptors = usize::from(settings.max_tls_sessions);
    if wss_acceptors > 0 {
        match start_tls(peripherals.RNG, peripherals.ADC1) {
            Ok((tls, credentials)) => {
                for _ in 0..wss_acceptors {
                    spawn!(
                        spawner,
                        listeners::wss_acceptor(shared, settings.wss_port, tls, credentials)
                    );
                }
            }
            Err(what) => {
                console::log(
                    Level::Error,
                    &format_args!("tls_unavailable what=\"{what}\""),
                );
                wss_acceptors = 0;
            }
        }
    }

    let expected = ws_acceptors + wss_acceptors;
    let deadline = Instant::now() + READY_WAIT;
    while LISTENING.count() < expected && Instant::now() < deadline {
        Timer::after_millis(10).await;
    }
    if LISTENING.count() < expected {
        console::log(
            Level::Warn,
            &format_args!(
                "listeners_missing listening={} expected={expected}",
                LISTENING.count()
            ),
        );
    }
    device.announce_ready();

    loop {
        Timer::after_secs(3600).await;
    }
}

/// The device's configuration from the boot settings. `wss_port` 0 tells the device (and
/// the ready line) that TLS is not served.
fn device_config(settings: &DeviceSettings, ip: String) -> DeviceConfig {
    DeviceConfig {
        max_open_sockets: u16::from(settings.max_open_sockets),
        lru_purge: settings.lru_purge,
        broadcast_interval_ms: settings.broadcast_interval_ms,
        max_message_len: MAX_MESSAGE_LEN,
        max_queued_bytes: MAX_QUEUED_BYTES,
        heap_reserve_bytes: HEAP_RESERVE_LEN,
        ws_port: settings.ws_port,
        wss_port: if settings.max_tls_sessions > 0 {
            settings.wss_port
        } else {
            0
        },
        ssid: settings.ssid.clone(),
        ip,
        ..DeviceConfig::default()
    }
}

fn address_of(stack: &embassy_net::Stack<'_>) -> String {
    match stack.config_v4() {
        Some(config) => format!("{}", config.address.address()),
        None => String::from("0.0.0.0"),
    }
}

/// MbedTLS with the hardware TRNG (the radio is running, so its entropy source is on)
/// and the development identity.
fn start_tls(
    rng: esp_hal::peripherals::RNG<'static>,
    adc: esp_hal::peripherals::ADC1<'static>,
) -> Result<
    (
        mbedtls_rs::TlsReference<'static>,
        &'static Credentials<'static>,
    ),
    &'static str,
> {
    // Keeps the ADC entropy source on for the life of the firmware.
    let source = esp_hal::rng::TrngSource::new(rng, adc);
    core::mem::forget(source);
    let trng = Trng::try_new().map_err(|_| "no entropy source")?;
    let tls = Tls::new(TRNG.init(trng)).map_err(|_| "mbedtls already started")?;
    let credentials = tls::dev_credentials().map_err(|_| "development identity rejected")?;
    let tls: &'static Tls<'static> = TLS.init(tls);
    Ok((tls.reference(), CREDENTIALS.init(credentials)))
}

/// Reports a fault that leaves nothing to serve, then idles (the console keeps running,
/// so the line reaches the host; a reset retries).
async fn halt(what: &str) -> ! {
    console::log(Level::Error, &what);
    loop {
        Timer::after_secs(3600).await;
    }
}

#[embassy_executor::task]
async fn net_runner(mut runner: Runner<'static, Interface>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn device_background(device: &'static BoardDevice) -> ! {
    device.run_background().await;
    // run_background never returns; should it ever, idle rather than end the task.
    loop {
        Timer::after_secs(3600).await;
    }
}

//! The serial console: log lines go into a bounded queue and one task per output writes
//! them with the async UART0 and USB-Serial-JTAG drivers, so logging never busy-waits in
//! an async task and a host that is not reading (or not attached) cannot stall the
//! server. A slow output skips the lines it missed and says how many.

use core::fmt::Write as _;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pubsub::{PubSubChannel, WaitResult};
use embassy_time::{Duration, with_timeout};
use embedded_io_async::Write;
use esp_hal::Async;
use esp_hal::uart::UartTx;
use esp_hal::usb::usb_serial_jtag::UsbSerialJtagTx;
use wsbench_device::idf_log::{self, Level};

use crate::budget::{CONSOLE_LINE_LEN, CONSOLE_QUEUE_LINES};

/// One console line, cut to [`CONSOLE_LINE_LEN`] bytes.
pub type Line = heapless::String<CONSOLE_LINE_LEN>;

/// Two readers: UART0 and USB-Serial-JTAG.
const OUTPUTS: usize = 2;

static LINES: PubSubChannel<CriticalSectionRawMutex, Line, CONSOLE_QUEUE_LINES, OUTPUTS, 0> =
    PubSubChannel::new();

/// Tag of the firmware's own lines (the device's lines carry the device crate's tag).
pub const TAG: &str = "wsbench_fw";

/// Queues a line for both outputs; never waits. When an output lags, its oldest lines
/// are overwritten and it reports the gap.
pub fn push(text: &str) {
    let mut line = Line::new();
    for ch in text.chars() {
        if line.push(ch).is_err() {
            break;
        }
    }
    LINES.immediate_publisher().publish_immediate(line);
}

/// Formats and queues one of the firmware's own lines, in the device's ESP-IDF format.
pub fn log(level: Level, message: &dyn core::fmt::Display) {
    let ms = embassy_time::Instant::now().as_millis();
    push(&idf_log::format_line(level, ms, TAG, message));
}

/// A USB-Serial-JTAG write that takes longer than this means no host is reading: the
/// line is skipped rather than holding back the ones after it.
const JTAG_WRITE_TIMEOUT: Duration = Duration::from_millis(20);

#[embassy_executor::task]
pub async fn uart_writer(mut uart: UartTx<'static, Async>) -> ! {
    let Ok(mut lines) = LINES.subscriber() else {
        // Only two subscribers are ever taken, one per output task.
        loop {
            embassy_time::Timer::after_secs(3600).await;
        }
    };
    loop {
        let text = next_text(&mut lines).await;
        // A UART error (none expected on a TX-only port) loses this line only.
        let _ = uart.write_all(text.as_bytes()).await;
        let _ = uart.write_all(b"\r\n").await;
    }
}

#[embassy_executor::task]
pub async fn jtag_writer(mut jtag: UsbSerialJtagTx<'static, Async>) -> ! {
    let Ok(mut lines) = LINES.subscriber() else {
        loop {
            embassy_time::Timer::after_secs(3600).await;
        }
    };
    loop {
        let text = next_text(&mut lines).await;
        let write = async {
            jtag.write_all(text.as_bytes()).await?;
            jtag.write_all(b"\r\n").await
        };
        let _ = with_timeout(JTAG_WRITE_TIMEOUT, write).await;
    }
}

type Subscriber = embassy_sync::pubsub::Subscriber<
    'static,
    CriticalSectionRawMutex,
    Line,
    CONSOLE_QUEUE_LINES,
    OUTPUTS,
    0,
>;

/// The next line to write, or a W line counting the ones this output missed.
async fn next_text(lines: &mut Subscriber) -> Line {
    match lines.next_message().await {
        WaitResult::Message(line) => line,
        WaitResult::Lagged(missed) => {
            let ms = embassy_time::Instant::now().as_millis();
            let mut line = Line::new();
            let _ = write!(line, "W ({ms}) {TAG}: console_dropped lines={missed}");
            line
        }
    }
}

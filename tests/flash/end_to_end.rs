//! `wsbench flash --port <pty>` against the simulated board's ROM-loader emulator: the
//! flash then holds exactly the bundled parts, a second flash skips everything, and the
//! flashed settings are what the restarted firmware serves.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wsbench::bundled_firmware;
use wsbench_device::config_record;

use super::run::wsbench;
use super::sim::FlashableSim;

/// A whole flash of the bundled image through the emulator, which paces bytes at the baud
/// rate: about 10 s at 921600, far more on a loaded machine.
const FLASH_LIMIT: Duration = Duration::from_secs(180);

fn run_flash(sim: &FlashableSim, extra: &[&str]) -> super::run::Ran {
    let mut args = vec!["flash", "--port", &sim.console, "--baud", "921600"];
    args.extend_from_slice(extra);
    wsbench(&args, &[], FLASH_LIMIT)
}

#[test]
fn the_bundled_firmware_lands_at_the_manifests_offsets_then_is_skipped_and_its_settings_serve() {
    let sim = FlashableSim::start(&[]);
    let first = run_flash(&sim, &["--max-sockets", "3"]);
    assert_eq!(first.code, Some(0), "first flash:\n{}", first.all());
    assert!(
        first.stdout.contains("flashed:  4 region(s) written"),
        "{}",
        first.all()
    );
    assert!(first.stdout.contains("verified (MD5)"), "{}", first.all());
    assert!(
        first.stdout.contains(&format!("ready:    {}", sim.ws_url)),
        "the ready line's URL is the simulated board's:\n{}",
        first.all()
    );

    // The flash holds exactly the bundled parts at the manifest's offsets, and the record.
    let flash = sim.flash();
    let manifest = bundled_firmware::manifest().unwrap();
    let image = bundled_firmware::image_for("esp32c3").unwrap();
    let listed = manifest
        .images
        .iter()
        .find(|i| i.chip == "esp32c3")
        .unwrap();
    for (part, entry) in image.parts.iter().zip(&listed.parts) {
        let at = entry.offset as usize;
        assert!(
            flash[at..at + part.bytes.len()] == *part.bytes,
            "{} differs at {at:#x}",
            part.name
        );
    }
    let record_at = config_record::FLASH_OFFSET as usize;
    let settings =
        config_record::decode(&flash[record_at..record_at + config_record::FLASH_REGION_LEN])
            .expect("a settings record");
    assert_eq!(settings.max_open_sockets, 3);

    // A second flash finds every region unchanged.
    let second = run_flash(&sim, &["--max-sockets", "3"]);
    assert_eq!(second.code, Some(0), "second flash:\n{}", second.all());
    assert!(
        second
            .stdout
            .contains("nothing written: all 4 region(s) already on the board"),
        "{}",
        second.all()
    );
    assert_eq!(
        second
            .stdout
            .matches("unchanged (MD5 matches), skipped")
            .count(),
        4,
        "{}",
        second.all()
    );

    // The firmware restarted with a table of 3: the 4th client purges the least recent.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fourth_client_purges_the_first(&sim.ws_url));

    // --settings-only rewrites just the record; the firmware restarts with it.
    let ran = run_flash(
        &sim,
        &[
            "--settings-only",
            "--max-sockets",
            "5",
            "--no-purge",
            "--password",
            "s3cret-pass",
        ],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.stdout.contains("1 region(s) written"), "{}", ran.all());
    assert!(
        ran.stdout.contains("max sockets 5, LRU purge off"),
        "{}",
        ran.all()
    );
    assert!(
        !ran.all().contains("s3cret-pass"),
        "the password was printed"
    );
    let after = sim.flash();
    assert!(
        after[..record_at] == flash[..record_at],
        "only the record changed"
    );
    let s = config_record::decode(&after[record_at..record_at + config_record::FLASH_REGION_LEN])
        .unwrap();
    assert_eq!((s.max_open_sockets, s.lru_purge), (5, false));
}

async fn fourth_client_purges_the_first(url: &str) {
    let wait = Duration::from_secs(15);
    let mut clients = Vec::new();
    for i in 0..3 {
        let (mut ws, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        echo(&mut ws, &format!("client {i}"), wait).await;
        clients.push(ws);
    }
    // Within the limit nobody was purged: the first still echoes, and is now the most
    // recent; touch the second and third so the first is least recent again.
    for (i, ws) in clients.iter_mut().enumerate() {
        echo(ws, &format!("again {i}"), wait).await;
    }
    let (mut fourth, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("the 4th client is admitted (LRU purge)");
    echo(&mut fourth, "fourth", wait).await;
    let first = &mut clients[0];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, first.next()).await {
            Err(_) => panic!("the first client was not purged: the limit is not 3"),
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(_))) => continue, // a broadcast
        }
    }
}

async fn echo<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str, wait: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(text)).await.expect("send");
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(got)))) if got.as_str() == text => return,
            Ok(Some(Ok(_))) => continue,
            other => panic!("no echo of {text:?}: {other:?}"),
        }
    }
}

#[test]
fn settings_only_on_an_erased_flash_writes_the_record_and_says_the_chip_does_not_start() {
    let sim = FlashableSim::start(&[]);
    let ran = run_flash(
        &sim,
        &[
            "--settings-only",
            "--password",
            "s3cret-pass",
            "--ready-timeout",
            "5s",
        ],
    );
    assert_eq!(ran.code, Some(3), "{}", ran.all());
    assert!(
        ran.stderr.contains("wsbench::flash::no_ready_line"),
        "{}",
        ran.all()
    );
    assert!(
        ran.stderr.contains("no bootloader"),
        "the console's words are quoted:\n{}",
        ran.all()
    );
    assert!(!ran.stdout.contains("ready:"), "{}", ran.all());
    assert!(
        !ran.all().contains("s3cret-pass"),
        "the password was printed"
    );
    let flash = sim.flash();
    let at = config_record::FLASH_OFFSET as usize;
    let s = config_record::decode(&flash[at..at + config_record::FLASH_REGION_LEN]).unwrap();
    assert_eq!(s.password, "s3cret-pass");
    assert!(
        flash[..at].iter().all(|&b| b == 0xFF),
        "only the record was written"
    );
}

#[test]
fn without_the_stub_the_rom_loader_writes_verifies_and_starts_the_app() {
    let sim = FlashableSim::start(&["--chip", "esp32c6"]);
    let ran = run_flash(&sim, &["--no-stub", "--broadcast-ms", "0"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.stdout.contains("chip:     esp32c6"), "{}", ran.all());
    assert!(ran.stdout.contains("ROM loader"), "{}", ran.all());
    assert!(
        ran.stdout.contains("flashed:  4 region(s) written"),
        "{}",
        ran.all()
    );
    assert!(
        ran.stdout.contains(&format!("ready:    {}", sim.ws_url)),
        "{}",
        ran.all()
    );
    let flash = sim.flash();
    let image = bundled_firmware::image_for("esp32c6").unwrap();
    for part in &image.parts {
        let at = part.offset as usize;
        assert!(
            flash[at..at + part.bytes.len()] == *part.bytes,
            "{}",
            part.name
        );
    }
    // Nothing to write: no FLASH_END went out, so "run user code" starts the app.
    let again = run_flash(&sim, &["--no-stub", "--broadcast-ms", "0"]);
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("nothing written"), "{}", again.all());
    assert!(again.stdout.contains("ready:"), "{}", again.all());
}

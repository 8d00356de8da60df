//! The socket limit: an 8th client purges the least recently active one (purge on) or
//! is refused (purge off), with matching console lines.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

async fn seven_clients(sim: &Sim) -> Vec<Client> {
    let mut clients = Vec::new();
    for _ in 0..7 {
        clients.push(connect(&sim.ws_url).await);
    }
    // Make client 0 the least recently active: every other one talks after it.
    for (i, client) in clients.iter_mut().enumerate().skip(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_echo(client, Message::text(format!("client {i}"))).await;
    }
    clients
}

#[tokio::test]
async fn eighth_client_purges_the_least_recently_active() {
    let sim = Sim::start(&["--broadcast-ms", "0"]);
    let mut clients = seven_clients(&sim).await;
    let mark = sim.mark();
    let mut eighth = connect(&sim.ws_url).await;
    assert_echo(&mut eighth, Message::text("eighth")).await;

    // The oldest is gone: its stream ends (CLOSE or EOF) ...
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match clients[0].next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "least recently active client not closed");
    // ... and the others still work.
    for client in clients.iter_mut().skip(1) {
        assert_echo(client, Message::text("still here")).await;
    }
    let purge = sim
        .wait_line(mark, "for the purge", |l| l.contains(" purge id="))
        .await;
    assert!(purge.starts_with("W ("), "{purge}");
    sim.wait_line(mark, "closing the purged session", |l| {
        l.contains(" close id=") && l.contains("reason=purged")
    })
    .await;
    let stats = stats(&mut eighth).await;
    assert_eq!(stats["clients"], 7, "{stats}");
    assert_eq!(stats["purged"], 1, "{stats}");
}

#[tokio::test]
async fn eighth_client_is_refused_without_purge() {
    let sim = Sim::start(&["--broadcast-ms", "0", "--no-purge"]);
    let mut clients = seven_clients(&sim).await;
    let mark = sim.mark();
    let refused = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(sim.ws_url.as_str()))
        .await
        .expect("refusal must be prompt");
    assert!(refused.is_err(), "8th client was accepted with purge off");
    sim.wait_line(mark, "for the refusal", |l| l.contains(" refuse peer="))
        .await;
    for client in clients.iter_mut() {
        assert_echo(client, Message::text("still here")).await;
    }
    // A slot freed is a slot usable again.
    let mark = sim.mark();
    clients[0].send(Message::Close(None)).await.unwrap();
    sim.wait_line(mark, "for the close", |l| l.contains(" close id="))
        .await;
    let mut again = connect(&sim.ws_url).await;
    let stats = stats(&mut again).await;
    assert_eq!(stats["refused"], 1, "{stats}");
}

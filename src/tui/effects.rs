//! Runs [`Effect`]s as tokio tasks. A task talks to Graph and sends a [`Msg`] back tagged with
//! its request id; it never touches the model or a widget.

use crate::graph::client::GraphClient;
use crate::tui::event::{Effect, Msg};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// Spawns effect tasks; a new listing cancels the one before it.
#[derive(Debug)]
pub struct Effects {
    client: GraphClient,
    tx: UnboundedSender<Msg>,
    listing: Option<JoinHandle<()>>,
}

impl Effects {
    /// A runner that reports on `tx`.
    pub fn new(client: GraphClient, tx: UnboundedSender<Msg>) -> Effects {
        Effects { client, tx, listing: None }
    }

    /// Starts one effect.
    pub fn run(&mut self, effect: Effect) {
        let client = self.client.clone();
        let tx = self.tx.clone();
        match effect {
            Effect::List { request_id, query } => {
                if let Some(previous) = self.listing.take() {
                    previous.abort();
                }
                tracing::debug!(request_id, "listing");
                let stream = client.list(&query);
                self.listing = Some(tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(outcome) = stream.next().await {
                        if tx.send(Msg::Page { request_id, outcome: Box::new(outcome) }).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Msg::ListEnded { request_id });
                }));
            }
            Effect::Get { request_id, device_id } => {
                tracing::debug!(request_id, %device_id, "get");
                tokio::spawn(async move {
                    let outcome = client.get(&device_id).await;
                    let _ = tx.send(Msg::Fetched { request_id, outcome: Box::new(outcome) });
                });
            }
            Effect::Patch { request_id, device_id, body } => {
                tracing::info!(request_id, %device_id, fields = ?body.properties.keys().collect::<Vec<_>>(), "patch");
                tokio::spawn(async move {
                    let outcome = client.patch(&device_id, &body).await;
                    let mut exchanges = vec![outcome.exchange];
                    let result = match outcome.result {
                        Ok(Some(device)) => Ok(device),
                        // 204: the server kept its answer to itself; ask for the device.
                        Ok(None) => {
                            let again = client.get(&device_id).await;
                            exchanges.push(again.exchange);
                            again.result
                        }
                        Err(e) => Err(e),
                    };
                    let _ =
                        tx.send(Msg::Patched { request_id, device_id, exchanges, result: Box::new(result) });
                });
            }
        }
    }
}

impl Drop for Effects {
    fn drop(&mut self) {
        if let Some(listing) = self.listing.take() {
            listing.abort();
        }
    }
}

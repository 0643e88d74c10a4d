//! Runs [`Effect`]s as tokio tasks. A task talks to Graph and sends a [`Msg`] back tagged with
//! its request id; it never touches the model or a widget. Each task's client tells the loop
//! of retry waits (as [`Msg::Retrying`]), and a task can be stopped by its request id.

use crate::connect::DeviceCodeSignIn;
use crate::graph::client::GraphClient;
use crate::tui::event::{Effect, Msg, SignInPrompt};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// Spawns effect tasks; a new listing cancels the one before it.
#[derive(Debug)]
pub struct Effects {
    client: Option<GraphClient>,
    sign_in: Option<DeviceCodeSignIn>,
    tx: UnboundedSender<Msg>,
    /// Running tasks by request id (finished ones are pruned as new ones start).
    tasks: HashMap<u64, JoinHandle<()>>,
    /// The listing's request id (a new listing stops it).
    listing: Option<u64>,
}

impl Effects {
    /// A runner that reports on `tx`.
    pub fn new(client: GraphClient, tx: UnboundedSender<Msg>) -> Effects {
        Effects { client: Some(client), sign_in: None, tx, tasks: HashMap::new(), listing: None }
    }

    /// A runner that must sign in first ([`Effect::SignIn`]); Graph effects wait for the client.
    pub fn signing_in(sign_in: DeviceCodeSignIn, tx: UnboundedSender<Msg>) -> Effects {
        Effects { client: None, sign_in: Some(sign_in), tx, tasks: HashMap::new(), listing: None }
    }

    /// Hands over the client a finished sign-in built.
    pub fn set_client(&mut self, client: GraphClient) {
        self.client = Some(client);
    }

    /// A client for one request id: it reports its retry waits tagged with that id.
    fn client_for(&self, request_id: u64) -> Option<GraphClient> {
        let tx = self.tx.clone();
        let observer = Arc::new(move |notice| {
            let _ = tx.send(Msg::Retrying { request_id, notice, at: Instant::now() });
        });
        self.client.clone().map(|c| c.with_retry_observer(observer))
    }

    fn spawn(&mut self, request_id: u64, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.retain(|_, t| !t.is_finished());
        self.tasks.insert(request_id, tokio::spawn(task));
    }

    fn stop(&mut self, request_id: u64) {
        if let Some(task) = self.tasks.remove(&request_id) {
            task.abort();
        }
    }

    /// Starts one effect.
    pub fn run(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        if let Effect::Cancel { request_id } = effect {
            tracing::info!(request_id, "cancelled by the user");
            self.stop(request_id);
            return;
        }
        if let Effect::Sort { generation, job } = effect {
            tracing::debug!(generation, rows = job.len(), "sorting off the draw path");
            tokio::spawn(async move {
                if let Ok(sorted) = tokio::task::spawn_blocking(move || job.run()).await {
                    let _ = tx.send(Msg::Sorted { generation, sorted: Box::new(sorted) });
                }
            });
            return;
        }
        if let Effect::ForgetRecovery { path } = effect {
            tokio::spawn(async move {
                let removed = tokio::task::spawn_blocking(move || crate::tui::recovery::remove(&path)).await;
                let error = match removed {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(%error, "recovery file not removed");
                let _ = tx.send(Msg::RecoveryKept { error });
            });
            return;
        }
        if let Effect::SaveExchange { name, text } = effect {
            tokio::spawn(async move {
                let saved = tokio::task::spawn_blocking(move || save_exchange(&name, &text)).await;
                let result = saved.unwrap_or_else(|e| Err(e.to_string()));
                let _ = tx.send(Msg::ExchangeSaved { result });
            });
            return;
        }
        if let Effect::SignIn { request_id } = effect {
            let Some(sign_in) = self.sign_in.clone() else {
                tracing::warn!("sign-in asked for without a sign-in to run");
                return;
            };
            // One sign-in at a time: starting again stops the last one.
            let running: Vec<u64> = self.tasks.keys().copied().collect();
            for id in running {
                self.stop(id);
            }
            self.spawn(request_id, sign_in_task(sign_in, request_id, tx));
            return;
        }
        let request_id = match &effect {
            Effect::List { request_id, .. }
            | Effect::Get { request_id, .. }
            | Effect::Patch { request_id, .. } => *request_id,
            Effect::Cancel { request_id } | Effect::SignIn { request_id } => *request_id,
            Effect::Sort { generation, .. } => *generation,
            Effect::ForgetRecovery { .. } | Effect::SaveExchange { .. } => return,
        };
        let Some(client) = self.client_for(request_id) else {
            tracing::warn!(request_id, "a Graph request before sign-in finished; dropped");
            return;
        };
        match effect {
            Effect::List { request_id, query } => {
                if let Some(previous) = self.listing.replace(request_id) {
                    self.stop(previous);
                }
                tracing::debug!(request_id, "listing");
                let stream = client.list(&query);
                self.spawn(request_id, async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(outcome) = stream.next().await {
                        if tx.send(Msg::Page { request_id, outcome: Box::new(outcome) }).is_err() {
                            return;
                        }
                    }
                    let _ = tx.send(Msg::ListEnded { request_id });
                });
            }
            Effect::Get { request_id, device_id } => {
                tracing::debug!(request_id, %device_id, "get");
                self.spawn(request_id, async move {
                    let outcome = client.get(&device_id).await;
                    let _ = tx.send(Msg::Fetched { request_id, outcome: Box::new(outcome) });
                });
            }
            Effect::Patch { request_id, device_id, body } => {
                tracing::info!(request_id, %device_id, fields = ?body.properties.keys().collect::<Vec<_>>(), "patch");
                self.spawn(request_id, async move {
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
            Effect::Cancel { .. }
            | Effect::SignIn { .. }
            | Effect::Sort { .. }
            | Effect::ForgetRecovery { .. }
            | Effect::SaveExchange { .. } => {}
        }
    }
}

/// Writes an exchange into `exchanges/` of the state directory, readable by the user only.
fn save_exchange(name: &str, text: &str) -> Result<std::path::PathBuf, String> {
    let dir = crate::paths::state_dir().ok_or("no state directory (set XDG_STATE_HOME or HOME)")?;
    let path = dir.join("exchanges").join(name);
    crate::paths::write_private(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "exchange saved");
    Ok(path)
}

/// The device code flow: a code to show, polls reported as they answer, then the client.
/// The device code and the tokens stay inside this task and the client's token source.
async fn sign_in_task(sign_in: DeviceCodeSignIn, request_id: u64, tx: UnboundedSender<Msg>) {
    let prompt = match sign_in.request_code().await {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(Msg::SignedIn { request_id, result: Box::new(Err(e)) });
            return;
        }
    };
    tracing::info!(request_id, "device code sign-in: waiting for the user");
    let shown = SignInPrompt {
        user_code: prompt.user_code.clone(),
        verification_uri: prompt.verification_uri.clone(),
        message: prompt.message.clone(),
        expires_at: prompt.expires_at,
        interval: prompt.interval,
    };
    let _ = tx.send(Msg::SignInPrompt { request_id, prompt: shown });
    let polled = tx.clone();
    let result = sign_in
        .finish(&prompt, move |state| {
            let _ = polled.send(Msg::SignInPolled { request_id, state });
        })
        .await;
    tracing::info!(request_id, ok = result.is_ok(), "device code sign-in finished");
    let _ = tx.send(Msg::SignedIn { request_id, result: Box::new(result) });
}

impl Drop for Effects {
    fn drop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
    }
}

//! `serve --tls`: a self-signed certificate generated at start for the listen address (rcgen),
//! written to a file clients can trust, and a listener that completes TLS handshakes (rustls on
//! the aws-lc-rs provider reqwest already uses) before axum sees a connection.
//!
//! Handshakes run on their own tasks, so a client that stalls mid-handshake holds up nobody
//! else; the accepted streams reach axum through a channel.

use super::ServerError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for axum to take them.
const ACCEPT_QUEUE: usize = 64;
/// How long the certificate is valid from now (and how far back it starts, for skewed clocks).
const VALID_FOR: time::Duration = time::Duration::days(30);
const VALID_BEFORE: time::Duration = time::Duration::days(1);

/// How `serve --tls` is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Where to write the certificate (PEM). `None`: a new file in the temp directory, removed
    /// when the server stops; a path given here is left in place.
    pub certificate_file: Option<PathBuf>,
}

/// The certificate the server presents, written where clients can read it.
#[derive(Debug)]
pub(super) struct ServerCertificate {
    /// The certificate in PEM (public; the private key never leaves memory).
    pub(super) pem: String,
    /// The file holding `pem`.
    pub(super) path: PathBuf,
    /// Remove the file when the server goes (it was our own temp file).
    remove_on_drop: bool,
}

impl Drop for ServerCertificate {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A self-signed certificate for `addr` (and the loopback names), written to a file, and the
/// rustls configuration that serves it.
pub(super) fn prepare(
    addr: SocketAddr,
    options: &TlsOptions,
) -> Result<(ServerCertificate, Arc<rustls::ServerConfig>), ServerError> {
    let tls_error = |what: &str, e: &dyn std::fmt::Display| ServerError::Tls(format!("{what}: {e}"));
    let key = rcgen::KeyPair::generate().map_err(|e| tls_error("cannot generate the key", &e))?;
    let mut params = rcgen::CertificateParams::new(subject_names(addr))
        .map_err(|e| tls_error("cannot name the certificate", &e))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "autopilot-tui serve (imitation)");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - VALID_BEFORE;
    params.not_after = now + VALID_FOR;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let certificate = params.self_signed(&key).map_err(|e| tls_error("cannot sign the certificate", &e))?;
    let pem = certificate.pem();

    let (path, remove_on_drop) = match &options.certificate_file {
        Some(path) => (path.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "autopilot-tui-serve-{}-{}.pem",
                std::process::id(),
                addr.port()
            )),
            true,
        ),
    };
    write_new(&path, &pem, !remove_on_drop)
        .map_err(|e| ServerError::Tls(format!("cannot write the certificate to {}: {e}", path.display())))?;
    let written = ServerCertificate { pem, path, remove_on_drop };

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("no TLS version to offer", &e))?
        .with_no_client_auth()
        .with_single_cert(vec![certificate.der().clone()], key_der)
        .map_err(|e| tls_error("the certificate does not fit its key", &e))?;
    // axum here speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((written, Arc::new(config)))
}

/// The names the certificate is valid for: the listen address (when it is one address), the
/// loopback addresses and `localhost`.
fn subject_names(addr: SocketAddr) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    for ip in std::iter::once(addr.ip()).filter(|ip| !ip.is_unspecified()).chain(loopback) {
        let name = ip.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.push("localhost".to_string());
    names
}

/// Writes `text` to a fresh file: an existing file (or a link planted where the temp file goes)
/// is removed first rather than written through. A path the user chose is simply replaced.
fn write_new(path: &Path, text: &str, replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    if replace {
        return std::fs::write(path, text);
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// A TCP listener whose connections arrive already through the TLS handshake.
pub(super) struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`, handshaking each connection with `config`.
    pub(super) fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (sender, incoming) = mpsc::channel(ACCEPT_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(accept_loop(listener, acceptor, sender));
        Ok(TlsListener { incoming, local_addr, accepting })
    }
}

impl Drop for TlsListener {
    // axum drops the listener when it shuts down: stop accepting then.
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop only ends when it is aborted, i.e. when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = sender.send((tls, peer)).await;
                }
                // A client that does not trust the certificate ends here: say so in the log.
                Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_the_address_and_loopback() {
        assert_eq!(subject_names("127.0.0.1:0".parse().unwrap()), ["127.0.0.1", "::1", "localhost"]);
        assert_eq!(subject_names("0.0.0.0:8443".parse().unwrap()), ["127.0.0.1", "::1", "localhost"]);
        assert_eq!(
            subject_names("192.168.1.5:8443".parse().unwrap()),
            ["192.168.1.5", "127.0.0.1", "::1", "localhost"]
        );
    }
}

//! Ready-made rustls configurations for the usual cases, and PEM loading with errors that name
//! the file and what is wrong with it.
//!
//! Every configuration is built with [`provider()`] passed explicitly, so enabling both
//! provider features never meets rustls's "no process-level CryptoProvider" panic. For anything
//! else (client certificates, one TLS version only, other cipher suites), build a
//! `rustls::ClientConfig` or `ServerConfig` with
//! `builder_with_provider(ringport_tls::config::provider())` and wrap it in a
//! [`TlsConnector`](crate::TlsConnector) or [`TlsAcceptor`](crate::TlsAcceptor).

use crate::error::{TlsError, TlsErrorKind};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The crypto provider every configuration here uses: aws-lc-rs when the `aws-lc-rs` feature
/// is on, ring otherwise (the default feature).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(chosen_provider())).clone()
}

#[cfg(feature = "aws-lc-rs")]
fn chosen_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn chosen_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("ringport-tls needs a crypto provider: enable `ring` (the default) or `aws-lc-rs`");

/// A server configuration from a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1), offering the ALPN protocols `alpn` in order of preference.
/// TLS 1.2 and 1.3; sessions resume: stateless tickets on both versions (keys made at start
/// and rotated every 6 hours, rustls's ticketer; nginx's default is tickets on too), and a
/// 4,096-entry session-ID cache for TLS 1.2 clients that take no ticket.
///
/// Errors name the file: unreadable, not PEM, no certificate, no key, or a key that does not
/// belong to the certificate.
pub fn server_from_pem(cert: &Path, key: &Path, alpn: &[&[u8]]) -> io::Result<Arc<ServerConfig>> {
    let certs = load_certs(cert)?;
    let private_key = load_key(key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| key_error(e, cert, key))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    config.ticketer = ticketer()?;
    Ok(Arc::new(config))
}

/// Session tickets from the chosen provider.
fn ticketer() -> io::Result<Arc<dyn rustls::server::ProducesTickets>> {
    chosen_ticketer().map_err(|e| io::Error::other(format!("TLS: cannot make ticket keys: {e}")))
}

#[cfg(feature = "aws-lc-rs")]
fn chosen_ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    rustls::crypto::aws_lc_rs::Ticketer::new()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn chosen_ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, rustls::Error> {
    rustls::crypto::ring::Ticketer::new()
}

/// A client configuration that trusts only the CA certificates in the PEM file `ca` (as
/// curl's `--cacert` does), offering the ALPN protocols `alpn`.
pub fn client_with_ca(ca: &Path, alpn: &[&[u8]]) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots.add(cert).map_err(|e| {
            pem_error(format!(
                "TLS: {} holds a certificate that cannot be a root: {e}",
                ca.display()
            ))
        })?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(with_alpn(config, alpn))
}

/// A client configuration that trusts the operating system's roots (the platform verifier:
/// the system CA bundle on Linux, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`; the OS
/// verifier on macOS and Windows). It reads the store each time: build it once and share it.
#[cfg(feature = "platform-verifier")]
pub fn client_platform(alpn: &[&[u8]]) -> io::Result<Arc<ClientConfig>> {
    let verifier = rustls_platform_verifier::Verifier::new(provider()).map_err(|e| {
        TlsError::new(
            TlsErrorKind::Roots,
            format!(
                "TLS: cannot load this system's CA certificates ({e}); install them (Debian: \
                 ca-certificates) or give a CA file"
            ),
        )
        .into_io()
    })?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS: {e}")))?
        .dangerous() // a custom verifier, which here is the platform's full verification
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(with_alpn(config, alpn))
}

/// A client configuration that accepts **any** server certificate: any issuer, any name, any
/// date (curl's `--insecure`). The handshake is still encrypted and the server still proves
/// it holds the key of the certificate it sent, but anyone in the path can send their own:
/// use it only for testing.
pub fn client_insecure(alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the provider's defaults support TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
            algorithms: provider().signature_verification_algorithms,
        }))
        .with_no_client_auth();
    with_alpn(config, alpn)
}

fn with_alpn(mut config: ClientConfig, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The certificates in a PEM file, in file order. An error if the file cannot be read, is
/// not PEM, or holds no `CERTIFICATE` block.
pub fn load_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let bytes = read(path, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(format!(
            "TLS: {} holds no certificate (a PEM block starting -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1). An error if the file cannot
/// be read, is not PEM, or holds no private key.
pub fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let bytes = read(path, "private key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => pem_error(format!(
            "TLS: {} holds no private key (a PEM block such as -----BEGIN PRIVATE KEY-----)",
            path.display()
        )),
        e => bad_pem(path, e),
    })
}

fn read(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let kind = e.kind();
        io::Error::new(
            kind,
            TlsError::new(
                TlsErrorKind::Pem,
                format!("TLS: cannot read the {what} file {}: {e}", path.display()),
            ),
        )
    })
}

fn bad_pem(path: &Path, e: pem::Error) -> io::Error {
    let why = match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a block has no -----END {}----- line",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "a malformed -----BEGIN line: {:?}",
            String::from_utf8_lossy(&line)
        ),
        pem::Error::Base64Decode(e) => format!("a block is not valid base64 ({e})"),
        e => e.to_string(),
    };
    pem_error(format!("TLS: {} is not valid PEM: {why}", path.display()))
}

fn pem_error(message: String) -> io::Error {
    TlsError::new(TlsErrorKind::Pem, message).into_io()
}

fn key_error(e: rustls::Error, cert: &Path, key: &Path) -> io::Error {
    let (kind, message) = match &e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => (
            TlsErrorKind::KeyMismatch,
            format!(
                "TLS: the private key in {} does not belong to the certificate in {} (give the \
                 key the certificate was issued for)",
                key.display(),
                cert.display()
            ),
        ),
        _ => (
            TlsErrorKind::Pem,
            format!(
                "TLS: cannot use the key {} with the certificate {}: {e}",
                key.display(),
                cert.display()
            ),
        ),
    };
    TlsError::new(kind, message).into_io()
}

/// `client_insecure`'s verifier: any certificate passes; handshake signatures are still checked
/// against the certificate sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::NamedGroup;

    #[test]
    fn the_provider_is_the_one_the_features_choose() {
        let groups: Vec<NamedGroup> = provider().kx_groups.iter().map(|g| g.name()).collect();
        // Only aws-lc-rs offers the post-quantum hybrid; ring does not.
        assert_eq!(
            groups.contains(&NamedGroup::X25519MLKEM768),
            cfg!(feature = "aws-lc-rs"),
            "{groups:?}"
        );
        assert!(groups.contains(&NamedGroup::X25519), "{groups:?}");
    }
}

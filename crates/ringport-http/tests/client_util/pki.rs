//! Certificates made in the test: a CA, and leaves it signed (for `localhost` and
//! `127.0.0.1` by default), as PEM files in a temporary directory.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use ringport_tls::config;
use ringport_tls::rustls::{ServerConfig, SupportedProtocolVersion};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A date as rcgen takes it: (year, month, day).
pub type Ymd = (i32, u8, u8);

/// A CA and the files of what it signed.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// A leaf for `localhost` and `127.0.0.1`, valid 2020 to 2099, and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own, so that two CAs of one test are strangers to each other.
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!(
                "{} test CA {} {n}",
                env!("CARGO_PKG_NAME"),
                std::process::id()
            ),
        );
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        let mut pki = Pki {
            cert: PathBuf::new(),
            key: PathBuf::new(),
            dir,
            ca_key,
            ca_params,
            ca,
        };
        (pki.cert, pki.key) = pki.leaf("leaf", &["localhost", "127.0.0.1"], None);
        pki
    }

    /// A leaf for `names` signed by this CA, valid over `validity` (2020 to 2099 when
    /// `None`): its certificate and key files.
    pub fn leaf(
        &self,
        file: &str,
        names: &[&str],
        validity: Option<(Ymd, Ymd)>,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let (from, to) = validity.unwrap_or(((2020, 1, 1), (2099, 1, 1)));
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_path = self.dir.path().join(format!("{file}.pem"));
        let key_path = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// A server configuration for the default leaf (ALPN http/1.1, both TLS versions).
    pub fn server(&self) -> Arc<ServerConfig> {
        config::server_from_pem(&self.cert, &self.key, &[b"http/1.1"]).unwrap()
    }

    /// A server configuration for another certificate.
    pub fn server_for(&self, cert: &Path, key: &Path) -> Arc<ServerConfig> {
        config::server_from_pem(cert, key, &[b"http/1.1"]).unwrap()
    }

    /// A server configuration for the default leaf that allows only `version`.
    pub fn server_only(&self, version: &'static SupportedProtocolVersion) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(config::provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                config::load_certs(&self.cert).unwrap(),
                config::load_key(&self.key).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

//! Certificates made in the test: a CA and a leaf for `localhost` and `127.0.0.1` signed by
//! it, as PEM files, and the TLS configurations over them.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use ringport_tls::rustls::{ClientConfig, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// The PEM files, in a temporary directory removed on drop.
pub struct Certs {
    _dir: tempfile::TempDir,
    /// The CA certificate: what `curl --cacert` and the client trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    pub fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        ca.distinguished_name
            .push(DnType::CommonName, "ringport-compat test CA");
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf_pem = leaf
            .signed_by(&leaf_key, &Issuer::from_params(&ca, &ca_key))
            .unwrap()
            .pem();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("ca.pem"), ca_pem).unwrap();
        std::fs::write(path("cert.pem"), leaf_pem).unwrap();
        std::fs::write(path("key.pem"), leaf_key.serialize_pem()).unwrap();
        Certs {
            ca: path("ca.pem"),
            cert: path("cert.pem"),
            key: path("key.pem"),
            _dir: dir,
        }
    }

    /// The server's configuration, offering `alpn`.
    pub fn server(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        ringport_tls::config::server_from_pem(&self.cert, &self.key, alpn).unwrap()
    }

    /// A client's configuration trusting the CA, asking for `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        ringport_tls::config::client_with_ca(&self.ca, alpn).unwrap()
    }
}

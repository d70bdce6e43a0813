//! Helpers shared by the TLS tests: runtimes on the chosen backend, certificates made in the
//! test (a CA and leaves signed by it), configurations and connected pairs.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod alloc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use ringport::net::{TcpListener, TcpStream};
use ringport::{Backend, Runtime};
use ringport_tls::rustls::{
    self, ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion,
};
use ringport_tls::{config, TlsAcceptor, TlsConnector};
use std::path::PathBuf;
use std::sync::Arc;

/// A runtime on the backend `RINGPORT_BACKEND` names (`.ci/run` runs the suite once per
/// backend), or the automatic choice.
pub fn runtime() -> Runtime {
    Runtime::builder()
        .backend(Backend::Auto)
        .build()
        .expect("runtime")
}

/// Runs `f` in a fresh runtime.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A connected loopback pair: (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// A date as rcgen takes it: (year, month, day).
pub type Ymd = (i32, u8, u8);

/// A CA and the PEM files of certificates it signed, in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca_key: KeyPair,
    ca_params: CertificateParams,
    /// The CA certificate.
    pub ca: PathBuf,
    /// A leaf for `localhost` and `127.0.0.1`, valid now, and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: a second CA with the same name would look like this one's issuer
        // with a bad signature, not like an unknown CA.
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("ringport test CA {} {n}", std::process::id()),
        );
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).unwrap();
        let mut pki = Pki {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            dir,
            ca_key,
            ca_params,
            ca,
        };
        let (cert, key) = pki.leaf("leaf", &["localhost", "127.0.0.1"], None);
        pki.cert = cert;
        pki.key = key;
        pki
    }

    /// A leaf for `names` signed by this CA, valid over `validity` ((year, month, day) to
    /// (year, month, day); 2020 to 2099 when `None`). Returns its certificate and key files.
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

    /// The server configuration for the default leaf.
    pub fn server(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        config::server_from_pem(&self.cert, &self.key, alpn).unwrap()
    }

    /// A client configuration trusting this CA.
    pub fn client(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        config::client_with_ca(&self.ca, alpn).unwrap()
    }

    /// Server and client configurations that allow only `version`, and (when given) only one
    /// cipher suite.
    pub fn pinned(
        &self,
        version: &'static SupportedProtocolVersion,
        suite: Option<rustls::SupportedCipherSuite>,
    ) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let mut provider = (*config::provider()).clone();
        if let Some(suite) = suite {
            provider.cipher_suites = vec![suite];
        }
        let provider = Arc::new(provider);
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                config::load_certs(&self.cert).unwrap(),
                config::load_key(&self.key).unwrap(),
            )
            .unwrap();
        let mut roots = RootCertStore::empty();
        for c in config::load_certs(&self.ca).unwrap() {
            roots.add(c).unwrap();
        }
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }
}

/// The provider's cipher suite with this id.
pub fn suite(id: rustls::CipherSuite) -> rustls::SupportedCipherSuite {
    *config::provider()
        .cipher_suites
        .iter()
        .find(|s| s.suite() == id)
        .unwrap_or_else(|| panic!("the provider has no {id:?}"))
}

/// A TLS pair over loopback TCP: (client, server), both handshaken.
pub async fn tls_pair(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (
    ringport_tls::TlsStream<TcpStream>,
    ringport_tls::TlsStream<TcpStream>,
) {
    let (c, s) = tcp_pair().await;
    let acceptor = TlsAcceptor::new(server);
    let connector = TlsConnector::new(client);
    let server = ringport::spawn(async move { acceptor.accept(s).await });
    let client = connector
        .connect(ringport_tls::server_name("localhost").unwrap(), c)
        .await
        .expect("client handshake");
    let server = server.await.unwrap().expect("server handshake");
    (client, server)
}

/// A deterministic byte pattern: byte `i` of a stream.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How many fds this process has open.
#[cfg(unix)]
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// How many handles this process has open (`GetProcessHandleCount`; always 0 under Wine 8,
/// where it is a stub: callers skip their check then).
#[cfg(windows)]
pub fn open_fds() -> usize {
    let mut n = 0u32;
    // SAFETY: writes one u32 for the current process's pseudo-handle.
    unsafe {
        windows_sys::Win32::System::Threading::GetProcessHandleCount(
            windows_sys::Win32::System::Threading::GetCurrentProcess(),
            &mut n,
        )
    };
    n as usize
}

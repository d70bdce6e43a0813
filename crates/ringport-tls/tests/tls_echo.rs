//! Handshake and data through `TlsStream`, ringport client and ringport server: echo both
//! ways over TLS 1.2 and 1.3 with each cipher suite, payloads from 0 B to 8 MiB through
//! readers of 1 B to 64 KiB, ALPN, session resumption, close_notify and truncation.

mod util;

use ringport::buf::{BufResult, IoBuf};
use ringport::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, OwnedRead, OwnedWrite};
use ringport::net::TcpStream;
use ringport_tls::rustls::{self, version, CipherSuite as C};
use ringport_tls::{server_name, TlsAcceptor, TlsConnector, TlsError, TlsErrorKind, TlsStream};
use util::{pattern, tls_pair, Pki};

/// Writes `len` pattern bytes in chunks of `chunk`, then flushes.
async fn send_pattern<S: OwnedRead + OwnedWrite>(s: &mut TlsStream<S>, len: u64, chunk: usize) {
    let mut at = 0u64;
    while at < len {
        let n = chunk.min((len - at) as usize);
        let buf: Vec<u8> = (at..at + n as u64).map(pattern).collect();
        s.write_all(buf).await.0.unwrap();
        at += n as u64;
    }
    s.flush().await.unwrap();
}

/// Reads `len` bytes with reads of at most `chunk`, checking each against the pattern.
async fn expect_pattern<S: OwnedRead + OwnedWrite>(s: &mut TlsStream<S>, len: u64, chunk: usize) {
    read_pattern(s, len, chunk, |_, _| {}).await
}

/// As `expect_pattern`, calling `after(stream, n)` after each read of `n` bytes.
async fn read_pattern<S: OwnedRead + OwnedWrite>(
    s: &mut TlsStream<S>,
    len: u64,
    chunk: usize,
    mut after: impl FnMut(&TlsStream<S>, usize),
) {
    let mut at = 0u64;
    let mut buf = Vec::with_capacity(chunk);
    while at < len {
        buf.clear();
        let BufResult(res, b) = s.read(buf).await;
        buf = b;
        let n = res.unwrap();
        assert!(n > 0, "end of stream after {at} of {len} bytes");
        for (i, &x) in buf[..n].iter().enumerate() {
            assert_eq!(x, pattern(at + i as u64), "byte {}", at + i as u64);
        }
        at += n as u64;
        after(s, n);
    }
    assert_eq!(at, len);
}

/// The client sends `len` bytes, the server echoes them back as they come, then both close
/// with close_notify; each side's final read is a clean `Ok(0)`.
async fn echo(
    client: &mut TlsStream<TcpStream>,
    mut server: TlsStream<TcpStream>,
    len: u64,
    chunk: usize,
) {
    let echo = ringport::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let BufResult(res, b) = server.read(buf).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            let BufResult(res, b) = server.write_all(b.slice(..n)).await;
            res.unwrap();
            buf = b.into_inner();
        }
        server.shutdown_write().await.unwrap();
    });
    let reader_len = len;
    // Write in slices, reading back what came in between: bounded memory on both sides.
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut rbuf = Vec::with_capacity(chunk);
    while got < reader_len {
        if sent < len {
            let n = (64 * 1024).min((len - sent) as usize);
            let buf: Vec<u8> = (sent..sent + n as u64).map(pattern).collect();
            client.write_all(buf).await.0.unwrap();
            sent += n as u64;
            if sent == len {
                client.shutdown_write().await.unwrap();
            } else {
                client.flush().await.unwrap();
            }
        }
        // Read back what is there, at least one chunk's worth once all is sent.
        let target = if sent == len {
            reader_len
        } else {
            sent.saturating_sub(256 * 1024)
        };
        while got < target {
            rbuf.clear();
            let BufResult(res, b) = client.read(rbuf).await;
            rbuf = b;
            let n = res.unwrap();
            assert!(n > 0, "echo ended after {got} of {len} bytes");
            for (i, &x) in rbuf[..n].iter().enumerate() {
                assert_eq!(x, pattern(got + i as u64), "echoed byte {}", got + i as u64);
            }
            got += n as u64;
        }
    }
    if len == 0 {
        client.shutdown_write().await.unwrap();
    }
    let BufResult(res, _) = client.read(Vec::with_capacity(16)).await;
    assert_eq!(
        res.unwrap(),
        0,
        "close_notify reads as a clean end of stream"
    );
    echo.await.unwrap();
}

#[test]
fn echo_sizes_and_reader_buffers() {
    util::run(async {
        let pki = Pki::new();
        for (len, chunk) in [
            (0u64, 64 * 1024),
            (1, 1),
            (100, 1),
            (16 * 1024, 100),
            (16 * 1024 + 1, 64 * 1024),
            (1 << 20, 100),
            (8 << 20, 64 * 1024),
        ] {
            let (mut client, server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
            echo(&mut client, server, len, chunk).await;
        }
    });
}

#[test]
fn receive_buffer_sizes_from_part_of_a_record_to_many_records() {
    util::run(async {
        let pki = Pki::new();
        for size in [100usize, 4096, 17 * 1024, 64 * 1024, 256 * 1024] {
            let (mut client, mut server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
            assert_eq!(
                client.receive_buffer_size(),
                ringport_tls::DEFAULT_RECEIVE_BUFFER
            );
            client.set_receive_buffer_size(size);
            assert_eq!(client.receive_buffer_size(), size);
            let len = 2u64 << 20;
            let sender = ringport::spawn(async move {
                send_pattern(&mut server, len, 256 * 1024).await;
                server.shutdown_write().await.unwrap();
                server
            });
            // Let the whole 2 MiB arrive, so that one receive can bring a full buffer.
            ringport::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut largest = 0;
            read_pattern(&mut client, len, 512 * 1024, |_, n| {
                largest = largest.max(n)
            })
            .await;
            let BufResult(res, _) = client.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap(), 0);
            // One read returns what one receive brought (and what was left before it): with
            // room for many records, a read gives several at once.
            if size >= 64 * 1024 {
                assert!(largest > 16 * 1024, "{size}: largest read {largest}");
            }
            if size <= 17 * 1024 {
                assert!(largest <= 2 * 17 * 1024, "{size}: largest read {largest}");
            }
            drop(sender.await.unwrap());
        }
    });
}

/// Without a size set, the receive grows while receives come back full (a bulk transfer
/// waiting in the socket) up to MAX_RECEIVE_BUFFER, and shrinks back towards one record
/// once receives bring little (a request-response exchange).
#[test]
fn the_receive_buffer_grows_for_bulk_and_shrinks_back() {
    use ringport_tls::{DEFAULT_RECEIVE_BUFFER, MAX_RECEIVE_BUFFER};
    util::run(async {
        let pki = Pki::new();
        let (mut client, mut server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
        let len = 4u64 << 20;
        let sender = ringport::spawn(async move {
            send_pattern(&mut server, len, 256 * 1024).await;
            server
        });
        // Let the bulk arrive first, so that receives fill their buffers.
        ringport::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut largest_size = client.receive_buffer_size();
        read_pattern(&mut client, len, 256 * 1024, |s, _| {
            largest_size = largest_size.max(s.receive_buffer_size())
        })
        .await;
        assert_eq!(largest_size, MAX_RECEIVE_BUFFER, "the receive never grew");
        assert!(client.receive_buffer_size() <= MAX_RECEIVE_BUFFER);
        // Small messages, one at a time: each receive brings one short record.
        let mut server = sender.await.unwrap();
        for i in 0..8u8 {
            let BufResult(res, _) = server.write_all(vec![i; 10]).await;
            res.unwrap();
            server.flush().await.unwrap();
            let BufResult(res, b) = client.read(Vec::with_capacity(64)).await;
            assert_eq!(res.unwrap(), 10);
            assert_eq!(b, vec![i; 10]);
        }
        assert_eq!(client.receive_buffer_size(), DEFAULT_RECEIVE_BUFFER);
    });
}

#[test]
fn each_version_and_cipher_suite() {
    util::run(async {
        let pki = Pki::new();
        let cases = [
            (&version::TLS13, C::TLS13_AES_128_GCM_SHA256),
            (&version::TLS13, C::TLS13_AES_256_GCM_SHA384),
            (&version::TLS13, C::TLS13_CHACHA20_POLY1305_SHA256),
            (&version::TLS12, C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            (&version::TLS12, C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
            (
                &version::TLS12,
                C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ),
        ];
        for (v, id) in cases {
            let suite = util::suite(id);
            let (server, client) = pki.pinned(v, Some(suite));
            let (mut client, server) = tls_pair(server, client).await;
            assert_eq!(client.protocol_version(), Some(v.version));
            assert_eq!(
                client.cipher_suite().map(|s| s.suite()),
                Some(suite.suite())
            );
            echo(&mut client, server, 200_000, 64 * 1024).await;
        }
    });
}

#[test]
fn the_server_speaks_first_and_the_client_reads_lazily() {
    util::run(async {
        let pki = Pki::new();
        let (c, s) = util::tcp_pair().await;
        let acceptor = TlsAcceptor::new(pki.server(&[]));
        let server = ringport::spawn(async move {
            // The handshake runs inside the first write.
            let mut tls = acceptor.accept_lazy(s).unwrap();
            send_pattern(&mut tls, 300_000, 1000).await;
            tls.shutdown_write().await.unwrap();
            let BufResult(res, _) = tls.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 0);
        });
        let connector = TlsConnector::new(pki.client(&[]));
        // The handshake runs inside the first read.
        let mut tls = connector
            .connect_lazy(server_name("localhost").unwrap(), c)
            .unwrap();
        expect_pattern(&mut tls, 300_000, 4096).await;
        let BufResult(res, _) = tls.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
        tls.shutdown_write().await.unwrap();
        server.await.unwrap();
    });
}

#[test]
fn alpn_picks_the_servers_first_common_protocol() {
    util::run(async {
        let pki = Pki::new();
        let (client, server) = tls_pair(
            pki.server(&[b"h2", b"http/1.1"]),
            pki.client(&[b"http/1.1", b"h2"]),
        )
        .await;
        assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));
        assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
        let (client, _server) = tls_pair(
            pki.server(&[b"h2", b"http/1.1"]),
            pki.client(&[b"http/1.1"]),
        )
        .await;
        assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (client, _server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
        assert_eq!(client.alpn_protocol(), None);
    });
}

#[test]
fn sessions_resume_on_tls13_and_tls12() {
    util::run(async {
        let pki = Pki::new();
        for v in [&version::TLS13, &version::TLS12] {
            let (server, client) = pki.pinned(v, None);
            let mut resumed = Vec::new();
            for _ in 0..3 {
                let (mut c, mut s) = tls_pair(server.clone(), client.clone()).await;
                resumed.push((c.is_resumed(), s.is_resumed()));
                // A round trip, so the client takes in the server's session tickets.
                s.write_all(b"hi".to_vec()).await.0.unwrap();
                s.flush().await.unwrap();
                let BufResult(res, _) = c.read_exact(vec![0u8; 2]).await;
                res.unwrap();
                assert_eq!(c.sni_hostname(), None);
                assert_eq!(s.sni_hostname(), Some("localhost"));
            }
            assert_eq!(
                resumed,
                [(false, false), (true, true), (true, true)],
                "{:?}",
                v.version
            );
        }
    });
}

#[test]
fn a_connection_cut_without_close_notify_is_truncation() {
    util::run(async {
        let pki = Pki::new();
        let (mut client, server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
        let (tcp, mut conn) = server.into_inner();
        // The server writes a record, then the TCP stream ends with no close_notify.
        conn.writer().write_all_compat(b"partial");
        let mut wire = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut wire).unwrap();
        }
        tcp.write_all(wire).await.0.unwrap();
        tcp.shutdown_write().await.unwrap();
        let BufResult(res, buf) = client.read(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"partial");
        let BufResult(res, _) = client.read(Vec::with_capacity(64)).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(
            TlsError::of(&err).map(TlsError::kind),
            Some(TlsErrorKind::Truncated)
        );
        assert!(err.to_string().contains("without close_notify"), "{err}");
        // Sticky: the next read says the same.
        let BufResult(res, _) = client.read(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn shutdown_sends_close_notify_and_refuses_later_writes() {
    util::run(async {
        let pki = Pki::new();
        let (mut client, mut server) = tls_pair(pki.server(&[]), pki.client(&[])).await;
        client.write_all(b"last words".to_vec()).await.0.unwrap();
        client.shutdown_write().await.unwrap();
        client.shutdown_write().await.unwrap(); // a second call does nothing
        let BufResult(res, _) = client.write(b"more".to_vec()).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        // The server reads the data, then a clean end, and can still answer: half-close.
        let BufResult(res, buf) = server.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(buf, b"last words");
        server.write_all(b"bye".to_vec()).await.0.unwrap();
        server.shutdown_write().await.unwrap();
        let BufResult(res, buf) = client.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(buf, b"bye");
    });
}

#[cfg(unix)] // Unix-domain sockets; Windows has named pipes instead (no TLS test over them yet)
#[test]
fn tls_over_a_unix_stream() {
    util::run(async {
        let pki = Pki::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let listener = ringport::net::UnixListener::bind(&path).unwrap();
        let acceptor = TlsAcceptor::new(pki.server(&[]));
        let server = ringport::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(s).await.unwrap();
            let BufResult(res, buf) = tls.read_exact(vec![0u8; 5]).await;
            res.unwrap();
            tls.write_all(buf).await.0.unwrap();
            tls.shutdown_write().await.unwrap();
        });
        let s = ringport::net::UnixStream::connect(&path).await.unwrap();
        let connector = TlsConnector::new(pki.client(&[]));
        let mut tls = connector
            .connect(server_name("localhost").unwrap(), s)
            .await
            .unwrap();
        tls.write_all(b"unix!".to_vec()).await.0.unwrap();
        tls.flush().await.unwrap();
        let BufResult(res, buf) = tls.read_to_end(Vec::new()).await;
        res.unwrap();
        assert_eq!(buf, b"unix!");
        server.await.unwrap();
    });
}

/// `Writer::write_all` through `std::io::Write`, as a one-liner for the test above.
trait WriteAllCompat {
    fn write_all_compat(&mut self, b: &[u8]);
}

impl WriteAllCompat for rustls::Writer<'_> {
    fn write_all_compat(&mut self, b: &[u8]) {
        std::io::Write::write_all(self, b).unwrap();
    }
}

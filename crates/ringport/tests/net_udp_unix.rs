//! UDP and Unix-domain sockets: round trips, addresses, path and abstract names.
#![cfg(unix)] // Unix-only: see the Windows notes in ARCHITECTURE.md

mod util;

use ringport::buf::{BufResult, IoBuf};
use ringport::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};

#[test]
fn udp_round_trip_with_addresses() {
    util::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        for i in 0..100u8 {
            let BufResult(res, _) = a.send_to(vec![i; 100], b_addr).await;
            assert_eq!(res.unwrap(), 100);
            let BufResult(res, buf) = b.recv_from(vec![0u8; 1500]).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, from), (100, a_addr));
            assert!(buf[..n].iter().all(|&x| x == i));
            let BufResult(res, _) = b.send_to(buf.slice(..n), from).await;
            res.unwrap();
            let BufResult(res, buf) = a.recv_from(Vec::with_capacity(1500)).await;
            assert_eq!(res.unwrap(), (100, b_addr));
            assert_eq!(buf.len(), 100);
        }
    });
}

#[test]
fn udp_connected_send_and_recv_and_options() {
    util::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"datagram".as_slice()).await.0.unwrap();
        let BufResult(res, buf) = b.recv(vec![0u8; 64]).await;
        assert_eq!(&buf[..res.unwrap()], b"datagram");
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
        a.set_ttl(7).unwrap();
        a.set_multicast_loop_v4(true).unwrap();
        a.set_multicast_ttl_v4(1).unwrap();
        // Each datagram is received whole and alone, even when sent back to back.
        for n in [1usize, 10, 1000] {
            b.send(vec![9u8; n]).await.0.unwrap();
        }
        for n in [1usize, 10, 1000] {
            let BufResult(res, _) = a.recv(vec![0u8; 2000]).await;
            assert_eq!(res.unwrap(), n);
        }
    });
}

#[test]
fn unix_stream_on_a_path_and_in_the_abstract_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    util::run(async move {
        let name = format!("ringport-test-{}", std::process::id());
        for abstract_name in [false, true] {
            let listener = if abstract_name {
                UnixListener::bind_abstract(name.as_bytes()).unwrap()
            } else {
                UnixListener::bind(&path).unwrap()
            };
            let server = ringport::spawn(async move {
                let (s, peer) = listener.accept().await.unwrap();
                assert!(peer.is_unnamed(), "the client never bound: {peer:?}");
                let (res, got) = s.read_to_end(Vec::new()).await.into_parts();
                res.unwrap();
                s.write_all(got).await.0.unwrap();
            });
            let c = if abstract_name {
                UnixStream::connect_abstract(name.as_bytes()).await.unwrap()
            } else {
                UnixStream::connect(&path).await.unwrap()
            };
            c.write_all(b"over unix".as_slice()).await.0.unwrap();
            c.shutdown_write().await.unwrap();
            let (res, back) = c.read_to_end(Vec::new()).await.into_parts();
            res.unwrap();
            assert_eq!(back, b"over unix");
            server.await.unwrap();
        }
        let (a, b) = UnixStream::pair().unwrap();
        assert!(a.peer_addr().unwrap().is_unnamed());
        a.write_all(b"pair".as_slice()).await.0.unwrap();
        let (res, got) = b.read_exact(vec![0u8; 4]).await.into_parts();
        res.unwrap();
        assert_eq!(got, b"pair");
    });
}

#[test]
fn unix_datagrams_by_path_and_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
    util::run(async move {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        a.send_to(b"hello b".as_slice(), &pb).await.0.unwrap();
        let BufResult(res, buf) = b.recv_from(vec![0u8; 64]).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"hello b");
        assert_eq!(from.as_pathname(), Some(pa.as_path()));

        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"one".as_slice()).await.0.unwrap();
        x.send(b"two!".as_slice()).await.0.unwrap();
        assert_eq!(y.recv(vec![0u8; 64]).await.0.unwrap(), 3);
        assert_eq!(y.recv(vec![0u8; 64]).await.0.unwrap(), 4);

        let lone = UnixDatagram::unbound().unwrap();
        lone.send_to(b"anon".as_slice(), &pb).await.0.unwrap();
        assert_eq!(b.recv(vec![0u8; 8]).await.0.unwrap(), 4);
    });
}

//! Sockets on Windows (IOCP; run under Wine in CI): UDP through `WSASendTo`/`WSARecvFrom`,
//! ring receives through a zero-byte `WSARecv` (no buffer held while idle), queued accepts.
#![cfg(windows)]

mod util;

use ringport::buf::{BufResult, BufRing};
use ringport::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = ringport::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap(), server)
}

#[test]
fn udp_datagrams_carry_their_sender() {
    util::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        for i in 0..20u8 {
            let BufResult(res, _) = a.send_to(vec![i; 10 + i as usize], b_addr).await;
            assert_eq!(res.unwrap(), 10 + i as usize);
            let BufResult(res, buf) = b.recv_from(Vec::with_capacity(256)).await;
            let (n, from) = res.unwrap();
            assert_eq!(n, 10 + i as usize);
            assert_eq!(from, a_addr);
            assert_eq!(buf, vec![i; n]);
        }
        // A datagram to a closed port is not an error for the next receive (SIO_UDP_CONNRESET
        // is off).
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let gone_addr = gone.local_addr().unwrap();
        drop(gone);
        let BufResult(res, _) = a.send_to(b"lost".to_vec(), gone_addr).await;
        res.unwrap();
        let BufResult(res, _) = b.send_to(b"kept".to_vec(), a_addr).await;
        res.unwrap();
        let BufResult(res, buf) = a.recv_from(vec![0u8; 16]).await;
        let (n, _) = res.unwrap();
        assert_eq!(&buf[..n], b"kept");
    });
}

#[test]
fn ring_receives_take_a_buffer_only_when_data_arrives() {
    util::run(async {
        let ring = BufRing::new(4, 64).unwrap();
        let (a, b) = pair().await;
        let b = std::rc::Rc::new(b);
        let b2 = b.clone();
        let r2 = ring.clone();
        let pending = ringport::spawn(async move { b2.recv_buf(&r2).await });
        ringport::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(ring.buffers_in_use(), 0, "an idle receive holds no buffer");
        a.write_all(b"hello".to_vec()).await.0.unwrap();
        let buf = pending.await.unwrap().unwrap().unwrap();
        assert_eq!(&buf[..], b"hello");
        assert_eq!(ring.buffers_in_use(), 1);
        drop(buf);
        assert_eq!(ring.buffers_in_use(), 0);
        a.shutdown_write().await.unwrap();
        assert!(b.recv_buf(&ring).await.unwrap().is_none(), "end of stream");
    });
}

#[test]
fn multishot_ring_receive_delivers_every_byte_then_eof() {
    util::run(async {
        let ring = BufRing::new(8, 128).unwrap();
        let (a, b) = pair().await;
        let writer = ringport::spawn(async move {
            let a = a;
            for i in 0..100u8 {
                a.write_all(vec![i; 50]).await.0.unwrap();
                if i % 10 == 0 {
                    ringport::time::sleep(Duration::from_millis(1)).await;
                }
            }
            a.shutdown_write().await.unwrap();
            a
        });
        let mut rx = b.recv_multishot(&ring);
        let mut got = Vec::new();
        while let Some(buf) = rx.next().await {
            got.extend_from_slice(&buf.unwrap());
        }
        drop(writer.await.unwrap());
        let expected: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 50]).collect();
        assert_eq!(got, expected);
        assert_eq!(ring.buffers_in_use(), 0);
    });
}

#[test]
fn incoming_keeps_several_accepts_queued_and_cancels_them_when_dropped() {
    util::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = util::open_fds();
        let mut incoming = listener.incoming();
        // Nobody connects yet: `next` times out, and its accepts stay queued, each holding a
        // socket created for AcceptEx.
        let r = ringport::time::timeout(Duration::from_millis(20), incoming.next()).await;
        assert!(r.is_err());
        let counted = util::handle_count_works();
        if counted {
            let queued = util::open_fds() - before;
            assert!(
                queued >= 8,
                "{queued} handles for the queued accepts, expected 8"
            );
        }
        let clients = ringport::spawn(async move {
            let mut v = Vec::new();
            for _ in 0..20 {
                v.push(TcpStream::connect(addr).await.unwrap());
            }
            v
        });
        for _ in 0..20 {
            let s = incoming.next().await.unwrap();
            assert_eq!(s.local_addr().unwrap(), addr);
            // The accepted socket's context was updated: its peer is known.
            assert!(s.peer_addr().is_ok());
        }
        let clients = clients.await.unwrap();
        assert_eq!(clients.len(), 20);
        drop(clients);
        // Dropping the stream cancels its accepts and closes their sockets.
        drop(incoming);
        if !counted {
            skip_under_wine!(
                "GetProcessHandleCount is a stub in Wine 8 (always 0): the queued accepts' sockets \
                 and their closing are counted on Windows only"
            );
            return;
        }
        for _ in 0..200 {
            if util::open_fds() <= before {
                break;
            }
            ringport::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            util::open_fds() <= before,
            "the cancelled accepts' sockets were closed: {} then {}",
            before,
            util::open_fds()
        );
    });
}

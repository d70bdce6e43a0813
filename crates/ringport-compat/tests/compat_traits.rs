//! The futures-io and tokio::io faces, driven by those crates' own helpers inside a ringport
//! runtime: copies, buffered line reads, a bidirectional copy through a relay.

mod util;

use ringport_compat::{Compat, PollIo};

#[test]
fn futures_copy_and_read_line() {
    use futures_util::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let data: Vec<u8> = (0..200_000u64).map(util::pattern).collect();
        let expect = data.clone();
        let send = ringport::spawn(async move {
            let mut w = Compat::new(a);
            w.write_all(b"first line\nsecond\n").await.unwrap();
            futures_util::io::copy(&mut &data[..], &mut w)
                .await
                .unwrap();
            w.close().await.unwrap();
        });
        let mut r = Compat::new(b);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "second\n");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        assert!(rest == expect, "copied bytes differ");
        send.await.unwrap();
    });
}

#[test]
fn tokio_copy_bidirectional_through_a_relay() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    util::run(async {
        // client <-> (relay: copy_bidirectional between two adapters) <-> echo-ish server
        let (client, relay_a) = util::tcp_pair().await;
        let (relay_b, server) = util::tcp_pair().await;
        let relay = ringport::spawn(async move {
            let mut a = Compat::new(relay_a);
            let mut b = PollIo::new(relay_b);
            tokio::io::copy_bidirectional(&mut a, &mut b).await.unwrap()
        });
        let server = ringport::spawn(async move {
            let mut s = Compat::new(server);
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got.reverse();
            s.write_all(&got).await.unwrap();
            s.shutdown().await.unwrap();
            got.len()
        });
        let mut c = PollIo::new(client);
        let msg: Vec<u8> = (0..100_000u64).map(util::pattern).collect();
        c.write_all(&msg).await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        let mut want = msg.clone();
        want.reverse();
        assert!(back == want, "relayed bytes differ");
        assert_eq!(server.await.unwrap(), msg.len());
        let (up, down) = relay.await.unwrap();
        assert_eq!((up, down), (msg.len() as u64, msg.len() as u64));
    });
}

#[test]
fn reads_copy_with_put_slice_and_never_zero_fill_the_caller_buffer() {
    use std::future::poll_fn;
    use std::mem::MaybeUninit;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, ReadBuf};
    util::run(async {
        let (a, b) = util::tcp_pair().await;
        let mut w = Compat::new(a);
        tokio::io::AsyncWriteExt::write_all(&mut w, b"seven b")
            .await
            .unwrap();
        tokio::io::AsyncWriteExt::flush(&mut w).await.unwrap();
        let mut r = Compat::new(b);
        let mut raw = [MaybeUninit::<u8>::uninit(); 4096];
        let mut buf = ReadBuf::uninit(&mut raw);
        poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(buf.filled(), b"seven b");
        // A zero-fill (`initialize_unfilled`) would have marked all 4,096 bytes initialised.
        assert_eq!(
            buf.initialized().len(),
            7,
            "only the copied bytes were written"
        );
    });
}

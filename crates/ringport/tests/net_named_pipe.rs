//! Named pipes on Windows (IOCP; run under Wine in CI): ping-pong, many clients at once, and
//! no client ever finding the name missing between two accepts.
#![cfg(windows)]

mod util;

use ringport::buf::BufResult;
use ringport::net::{NamedPipeListener, NamedPipeStream};
use std::rc::Rc;

fn name(tag: &str) -> String {
    format!(r"\\.\pipe\ringport-test-{tag}-{}", std::process::id())
}

#[test]
fn ping_pong_over_a_named_pipe() {
    util::run(async {
        let name = name("pingpong");
        let listener = NamedPipeListener::bind(&name).unwrap();
        let n2 = name.clone();
        let client = ringport::spawn(async move {
            let c = NamedPipeStream::connect(&n2).await.unwrap();
            for i in 0..200u32 {
                c.write_all(i.to_le_bytes().to_vec()).await.0.unwrap();
                let BufResult(res, buf) = c.read_exact(vec![0u8; 4]).await;
                res.unwrap();
                assert_eq!(u32::from_le_bytes(buf.try_into().unwrap()), i + 1);
            }
        });
        let s = listener.accept().await.unwrap();
        for _ in 0..200 {
            let BufResult(res, buf) = s.read_exact(vec![0u8; 4]).await;
            res.unwrap();
            let v = u32::from_le_bytes(buf.try_into().unwrap());
            s.write_all((v + 1).to_le_bytes().to_vec()).await.0.unwrap();
        }
        client.await.unwrap();
        // The client is gone: the server reads the end of the stream.
        let BufResult(res, _) = s.read(vec![0u8; 4]).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn many_clients_connect_at_once_and_none_finds_the_name_missing() {
    util::run(async {
        let name = name("many");
        let listener = Rc::new(NamedPipeListener::bind(&name).unwrap());
        let clients: Vec<_> = (0..32u8)
            .map(|i| {
                let name = name.clone();
                ringport::spawn(async move {
                    // Any error here (file not found in the accept race) fails the test.
                    let c = NamedPipeStream::connect(&name).await.unwrap();
                    c.write_all(vec![i; 3]).await.0.unwrap();
                    let BufResult(res, buf) = c.read_exact(vec![0u8; 3]).await;
                    res.unwrap();
                    assert_eq!(buf, vec![i + 1; 3]);
                })
            })
            .collect();
        let mut servers = Vec::new();
        for _ in 0..32 {
            let s = listener.accept().await.unwrap();
            servers.push(ringport::spawn(async move {
                let BufResult(res, buf) = s.read_exact(vec![0u8; 3]).await;
                res.unwrap();
                s.write_all(vec![buf[0] + 1; 3]).await.0.unwrap();
                // Keep the instance until the client has read.
                let _ = s.read(vec![0u8; 1]).await;
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        for s in servers {
            s.await.unwrap();
        }
    });
}

#[test]
fn a_taken_name_is_refused() {
    util::run(async {
        let name = name("taken");
        let err = NamedPipeStream::connect(format!("{name}-nobody"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains("-nobody"),
            "the error names the pipe: {err}"
        );
        let _first = NamedPipeListener::bind(&name).unwrap();
        skip_under_wine!("Wine 8 does not enforce FILE_FLAG_FIRST_PIPE_INSTANCE");
        let err = NamedPipeListener::bind(&name).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
    });
}

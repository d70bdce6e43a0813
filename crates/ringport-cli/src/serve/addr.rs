//! `--addr`: the forms people type (`8080`, `:8080`, `localhost:8080`, `[::]:8080`,
//! `0.0.0.0:8080`), the socket they mean, and the URL to print.

use anyhow::Context as _;
use ringport::net::{ListenOptions, TcpListener};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where to listen, as `--addr` said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// The address to bind.
    pub addr: SocketAddr,
    /// `:PORT`: every interface, IPv6 and IPv4 both (IPv4 alone where there is no IPv6).
    pub every_interface: bool,
    /// As typed, for messages.
    pub text: String,
}

/// Parses `--addr`.
pub fn parse(s: &str) -> Result<Listen, String> {
    let text = s.trim().to_string();
    let bad = || {
        format!("{s:?} is not an address: use PORT, :PORT, localhost:PORT, IP:PORT or [IPv6]:PORT")
    };
    let port = |p: &str| p.parse::<u16>().map_err(|_| bad());
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port(&text)?));
        return Ok(Listen {
            addr,
            every_interface: false,
            text,
        });
    }
    if let Some(p) = text.strip_prefix(':') {
        let addr = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port(p)?));
        return Ok(Listen {
            addr,
            every_interface: true,
            text,
        });
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Listen {
            addr,
            every_interface: false,
            text,
        });
    }
    let (host, p) = text.rsplit_once(':').ok_or_else(bad)?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        h if h.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h.parse::<IpAddr>().map_err(|_| bad())?,
    };
    let addr = SocketAddr::new(ip, port(p)?);
    Ok(Listen {
        addr,
        every_interface: false,
        text,
    })
}

impl Listen {
    /// Binds. `:PORT` takes `[::]` (which also accepts IPv4 here), or `0.0.0.0` on a machine
    /// without IPv6.
    /// `shared`: with `SO_REUSEPORT`, for other loops to bind the same port
    /// ([`bind_shared`]).
    pub fn bind(&self, shared: bool) -> anyhow::Result<TcpListener> {
        let opts = ListenOptions {
            reuse_port: shared,
            ..ListenOptions::default()
        };
        let bind = |addr: SocketAddr| {
            if shared && addr.port() != 0 {
                // SO_REUSEPORT would share the port with another server of this user that
                // listens there already: a plain bind first says it is taken.
                drop(std::net::TcpListener::bind(addr)?);
            }
            TcpListener::bind_with(addr, opts)
        };
        let listener = match bind(self.addr) {
            Err(e) if self.every_interface && crate::sys::no_ipv6(&e) => {
                bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.addr.port())))
            }
            other => other,
        };
        listener.with_context(|| format!("cannot listen on {}", self.text))
    }

    /// `http://HOST:PORT/` to open on this machine, and where else it answers.
    pub fn describe(&self, local: SocketAddr) -> String {
        let port = local.port();
        match local.ip() {
            ip if ip.is_unspecified() => {
                let v4 = match ip {
                    IpAddr::V4(_) => true,
                    // Linux's default (bindv6only=0): `[::]` takes IPv4 too.
                    IpAddr::V6(_) => !v6_only(),
                };
                let url = if v4 {
                    format!("http://127.0.0.1:{port}/")
                } else {
                    format!("http://[::1]:{port}/")
                };
                let which = match (ip, v4) {
                    (IpAddr::V6(_), true) => "IPv4 and IPv6",
                    (IpAddr::V6(_), false) => "IPv6",
                    _ => "IPv4",
                };
                format!("{url} and every interface ({which}, port {port})")
            }
            _ => format!("http://{local}/"),
        }
    }
}

/// Another loop's listener on the address loop 0 bound (`SO_REUSEPORT`: the kernel spreads
/// connections over every listener of the port).
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let opts = ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    };
    TcpListener::bind_with(addr, opts)
}

/// Whether `[::]` sockets take IPv6 only on this machine (`net.ipv6.bindv6only`).
fn v6_only() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|s| s.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_people_type() {
        let p = |s| parse(s).unwrap();
        assert_eq!(p("8080").addr, "127.0.0.1:8080".parse().unwrap());
        assert!(!p("8080").every_interface);
        assert_eq!(p(":8080").addr, "[::]:8080".parse().unwrap());
        assert!(p(":8080").every_interface);
        assert_eq!(p("localhost:0").addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(p("LOCALHOST:9").addr, "127.0.0.1:9".parse().unwrap());
        assert_eq!(p("[::]:8080").addr, "[::]:8080".parse().unwrap());
        assert_eq!(p("[::1]:80").addr, "[::1]:80".parse().unwrap());
        assert_eq!(p("0.0.0.0:1").addr, "0.0.0.0:1".parse().unwrap());
        for bad in ["", "nonsense", ":", "host:80", "99999", ":x", "1.2.3.4"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let local: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert_eq!(p("127.0.0.1:0").describe(local), "http://127.0.0.1:5/");
        let any: SocketAddr = "0.0.0.0:5".parse().unwrap();
        assert!(p("0.0.0.0:0")
            .describe(any)
            .starts_with("http://127.0.0.1:5/ and every"));
    }
}

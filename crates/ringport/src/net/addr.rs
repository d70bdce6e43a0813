//! Addresses: `ToSocketAddrs` resolves host names on the blocking pool, never on the loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// What a socket can be bound or connected to: addresses, or host names with a port.
///
/// Host names are resolved on the blocking pool (`getaddrinfo` blocks); IP literals are
/// parsed in place.
pub trait ToSocketAddrs {
    #[doc(hidden)]
    fn to_target(&self) -> Target;
}

/// What a [`ToSocketAddrs`] value stands for.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Target {
    Addrs(Vec<SocketAddr>),
    Host(String, u16),
    /// `host:port` in one string.
    HostPort(String),
}

impl Target {
    /// The addresses without resolving: `None` when a host name needs a lookup.
    pub(crate) fn literal(&self) -> Option<Vec<SocketAddr>> {
        match self {
            Target::Addrs(a) => Some(a.clone()),
            Target::Host(h, port) => {
                let host = h.trim_start_matches('[').trim_end_matches(']');
                if host == "localhost" {
                    return Some(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, *port))]);
                }
                host.parse::<IpAddr>()
                    .ok()
                    .map(|ip| vec![SocketAddr::new(ip, *port)])
            }
            Target::HostPort(s) => {
                if let Ok(a) = s.parse::<SocketAddr>() {
                    return Some(vec![a]);
                }
                let (host, port) = s.rsplit_once(':')?;
                let port = port.parse().ok()?;
                Target::Host(host.to_string(), port).literal()
            }
        }
    }

    /// The addresses, looking host names up on the blocking pool.
    pub(crate) async fn resolve(self) -> io::Result<Vec<SocketAddr>> {
        if let Some(addrs) = self.literal() {
            return Ok(addrs);
        }
        let addrs = crate::spawn_blocking(move || -> io::Result<Vec<SocketAddr>> {
            use std::net::ToSocketAddrs as _;
            match self {
                Target::Host(h, p) => Ok((h.as_str(), p).to_socket_addrs()?.collect()),
                Target::HostPort(s) => Ok(s.to_socket_addrs()?.collect()),
                Target::Addrs(a) => Ok(a),
            }
        })
        .await??;
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the host name has no addresses",
            ));
        }
        Ok(addrs)
    }
}

/// Looks up a host name (`"example.com:443"`) on the blocking pool.
pub async fn lookup_host(host: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    host.to_target().resolve().await
}

/// The address to bind: IP literals and `localhost` only, since binding is synchronous and
/// must not block the loop on a lookup.
pub(crate) fn bind_addr(addr: &impl ToSocketAddrs) -> io::Result<SocketAddr> {
    let target = addr.to_target();
    let addrs = target.literal().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "bind takes an IP address (or localhost); look host names up with net::lookup_host",
        )
    })?;
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))
}

macro_rules! addr_impls {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {
            fn to_target(&self) -> Target {
                Target::Addrs(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
addr_impls!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {
    fn to_target(&self) -> Target {
        Target::HostPort(self.to_string())
    }
}

impl ToSocketAddrs for String {
    fn to_target(&self) -> Target {
        Target::HostPort(self.clone())
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_target(&self) -> Target {
        Target::Host(self.0.to_string(), self.1)
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_target(&self) -> Target {
        Target::Host(self.0.clone(), self.1)
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_target(&self) -> Target {
        Target::Addrs(self.to_vec())
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {
    fn to_target(&self) -> Target {
        Target::Addrs(self.clone())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_target(&self) -> Target {
        (**self).to_target()
    }
}

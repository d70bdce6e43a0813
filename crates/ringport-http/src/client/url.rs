//! `Url`: the absolute `http`/`https` URLs the client asks for, and how a redirect's
//! `Location` is resolved against one (RFC 3986 section 5.2).

use std::fmt;

/// The scheme of a URL the client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`, port 80 by default.
    Http,
    /// `https://`, port 443 by default.
    Https,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An absolute `http` or `https` URL, split into what a request needs.
///
/// ```
/// use ringport_http::client::Url;
/// let url = Url::parse("http://example.com:8080/a/b?x=1#frag").unwrap();
/// assert_eq!(url.host(), "example.com");
/// assert_eq!(url.port(), 8080);
/// assert_eq!(url.target(), "/a/b?x=1");
/// assert_eq!(url.join("../c").unwrap().as_str(), "http://example.com:8080/c");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    scheme: Scheme,
    host: String,
    port: u16,
    explicit_port: bool,
    /// Path and query, starting with `/` (the fragment is dropped: it never goes on the wire).
    target: String,
}

impl Url {
    /// Parses an absolute URL; the error says what is wrong with it.
    pub fn parse(s: &str) -> Result<Url, String> {
        let s = s.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} is not an absolute URL (no scheme://)"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(format!("{s:?}: the scheme {other:?} is not http or https")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(format!(
                "{s:?}: user names and passwords in URLs are not supported"
            ));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| format!("{s:?}: bad host"))?;
        if host.is_empty() || !host.bytes().all(host_byte) {
            return Err(format!("{s:?}: bad host {host:?}"));
        }
        let tail = tail.split('#').next().unwrap_or_default();
        if tail.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("{s:?}: spaces or control characters in the path"));
        }
        let target = match tail.strip_prefix('?') {
            Some(q) => format!("/?{q}"),
            None if tail.is_empty() => "/".to_string(),
            None => tail.to_string(),
        };
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(scheme.default_port()),
            explicit_port: port.is_some_and(|p| p != scheme.default_port()),
            target,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: a name, an IPv4 address, or an IPv6 address in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL names none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    /// The `Host` header's value: the host, and the port when it is not the default.
    pub fn authority(&self) -> String {
        if self.explicit_port {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.clone()
        }
    }

    /// Whether `other` has the same scheme, host and port (credentials may follow it).
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// The URL as text.
    pub fn as_str(&self) -> String {
        self.to_string()
    }

    /// Resolves a reference (a redirect's `Location`) against this URL.
    pub fn join(&self, reference: &str) -> Result<Url, String> {
        let r = reference.trim();
        if r.contains("://") && r.find("://") < r.find(['/', '?', '#']) {
            return Url::parse(r);
        }
        let base = format!("{}://{}", self.scheme.as_str(), self.authority());
        if let Some(rest) = r.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme.as_str()));
        }
        let r = r.split('#').next().unwrap_or_default();
        if r.is_empty() {
            return Ok(self.clone());
        }
        if let Some(query) = r.strip_prefix('?') {
            return Url::parse(&format!("{base}{}?{query}", self.path()));
        }
        let (path, query) = match r.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (r, None),
        };
        let merged = if path.starts_with('/') {
            path.to_string()
        } else {
            let dir = &self.path()[..self.path().rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{path}")
        };
        let mut out = format!("{base}{}", remove_dot_segments(&merged));
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        Url::parse(&out)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.target
        )
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (h, rest) = authority.split_at(close + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some("") | None => None,
        Some(p) => Some(p.parse().ok().filter(|&p: &u16| p != 0)?),
    };
    Some((host, port))
}

fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':' | b'%')
}

/// RFC 3986 section 5.2.4, on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let u = Url::parse("HTTP://Example.COM").unwrap();
        assert_eq!((u.host(), u.port(), u.target()), ("example.com", 80, "/"));
        assert_eq!(u.to_string(), "http://example.com/");
        let u = Url::parse("http://[::1]:8080?q").unwrap();
        assert_eq!((u.host(), u.port(), u.target()), ("[::1]", 8080, "/?q"));
        assert_eq!(Url::parse("https://h:443/x").unwrap().authority(), "h");
        for bad in [
            "ftp://h/",
            "h/x",
            "http://",
            "http://u:p@h/",
            "http://h:0/",
            "http://h:x/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn joins_references() {
        let base = Url::parse("http://a/b/c/d;p?q").unwrap();
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../../../g", "http://a/g"),
            ("https://other:8443/z", "https://other:8443/z"),
        ];
        for (r, want) in cases {
            assert_eq!(base.join(r).unwrap().to_string(), want, "{r}");
        }
    }
}

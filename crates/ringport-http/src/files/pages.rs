//! The small responses `ServeDir` makes itself: error pages, the redirect of a directory
//! without its slash, a CORS preflight; and setting a header from trusted parts.

use crate::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};

/// A CORS preflight: 204, the methods, the headers asked for, cached for a day.
pub(crate) fn preflight(headers: &HeaderMap) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    res
}

/// 301 to the same path with a trailing slash (and the same query). Leading slashes are
/// collapsed to one: `//host/dir` would otherwise send the client to another host.
pub(crate) fn redirect_to_dir<B>(req: &Request<B>) -> Response<Body> {
    let uri = req.uri();
    let path = uri.path().trim_start_matches('/');
    let location = match uri.query() {
        Some(q) => format!("/{path}/?{q}"),
        None => format!("/{path}/"),
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::MOVED_PERMANENTLY;
    set(&mut res, header::LOCATION, &location);
    res
}

pub(crate) fn error_page(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::from(format!("{status}\n")));
    *res.status_mut() = status;
    set(&mut res, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if status == StatusCode::SERVICE_UNAVAILABLE {
        set(&mut res, header::RETRY_AFTER, "1");
    }
    res
}

/// Sets a header whose value is built from trusted parts (skipped if it were invalid).
pub(crate) fn set(res: &mut Response<Body>, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, value);
    }
}

pub(crate) fn h_insert(res: &mut Response<Body>, name: HeaderName, value: HeaderValue) {
    res.headers_mut().insert(name, value);
}

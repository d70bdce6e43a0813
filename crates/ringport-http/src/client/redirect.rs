//! Redirect policy: how many redirects a request follows (reqwest's names).

/// How many redirects to follow. The default follows up to 10; a loop (a URL seen twice) is
/// an error whatever the limit.
///
/// ```
/// use ringport_http::client::redirect::Policy;
/// let p = Policy::limited(3);
/// assert_eq!(p.max(), 3);
/// assert_eq!(Policy::none().max(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    max: usize,
}

impl Policy {
    /// Follow at most `max` redirects; one more is an error.
    pub fn limited(max: usize) -> Policy {
        Policy { max }
    }

    /// Follow none: a 3xx response is returned as it is.
    pub fn none() -> Policy {
        Policy { max: 0 }
    }

    /// The most redirects followed.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::limited(10)
    }
}

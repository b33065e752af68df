//! Following redirects, as curl's `-L` does: the same request goes on to the
//! `Location`, keeping its slot and its overall deadline.
//!
//! A response is a redirect to follow when redirects are on and its status is 301,
//! 302, 303, 307 or 308 (decided as its head arrives, so that its body, counted, never
//! reaches the sink: `-o` saves only the final body). When it is
//! complete, the connection goes back to the pool or closes as usual, and then:
//! * the `Location` is resolved against the current URL (RFC 3986 §5, `Url::join`); a
//!   missing or unusable one ends the request with `redirect`, and a hop beyond the
//!   limit (a loop is one) with `too-many-redirects`;
//! * 303 (unless the request is a HEAD), and 301 and 302 after a POST, turn the request
//!   into a GET without a body; 307 and 308 keep method and body (RFC 9110 §15.4);
//! * once the request has left the origin it started at (scheme, host or port), it
//!   sends no configured `Authorization`, `Cookie` or `Host`, and no credentials but
//!   those the new URL itself carries (curl does the same since 7.83);
//! * the request then goes back through `dispatch`, so each hop uses the pools and the
//!   DNS cache like any request.

use super::keys::ReqKey;
use super::{Client, Error, ErrorKind, Sink, Source};
use crate::http1::Headers;
use crate::reactor::Context;

/// What becomes of a request whose response is complete.
pub(super) enum Next {
    /// The response is the outcome.
    Done,
    /// The request went on to its redirect's `Location`.
    Followed,
    /// The redirect cannot be followed.
    Failed(Error),
}

impl<I: Source, S: Sink> Client<I, S> {
    /// Follows `req`'s response if it is a redirect to follow.
    pub(super) fn follow(&mut self, cx: &mut Context<'_>, req: ReqKey) -> Next {
        let active = &mut self.requests[req];
        let (Some(max), true) = (self.config.max_redirects, active.received.redirecting) else {
            return Next::Done;
        };
        if active.redirects >= max {
            return Next::Failed(Error::new(ErrorKind::TooManyRedirects, format!("more than {max} redirects")));
        }
        let status = active.received.status;
        let headers = Headers::new(&active.received.head);
        let Some(location) = headers.get("location") else {
            return Next::Failed(Error::new(ErrorKind::Redirect, format!("{status} without a Location")));
        };
        let location = String::from_utf8_lossy(location).into_owned();
        let next = match active.url.join(&location) {
            Ok(next) => next,
            Err(e) => {
                let why = format!("{status} to an unusable Location {location:?}: {e}");
                return Next::Failed(Error::new(ErrorKind::Redirect, why));
            }
        };
        let method = active.method(&self.plain);
        active.as_get |= (status == 303 && method != "HEAD") || (matches!(status, 301 | 302) && method == "POST");
        let same_origin = next.is_https() == active.url.is_https()
            && next.port() == active.url.port()
            && next.host().eq_ignore_ascii_case(active.url.host());
        active.elsewhere |= !same_origin;
        let origin = self.origins.hold(&next);
        self.origins.release(active.origin);
        active.origin = origin;
        let previous = std::mem::replace(&mut active.url, next);
        active.first_url.get_or_insert_with(|| previous.as_str().into());
        active.redirects += 1;
        active.start_over();
        self.stats.redirects += 1;
        self.dispatch(cx, req);
        Next::Followed
    }
}

//! The dial hook, called before every WebSocket dial and every fallback request.

use super::Driver;
use crate::driver::dial_hook::{apply, DialContext};
use crate::driver::event::TransportKind;
use crate::driver::secret::Headers;
use crate::driver::target::Target;

impl Driver {
    /// The URL and headers of the next dial over `transport`: the client's, with the
    /// hook's extras if there is a hook.
    pub(super) fn dial_with(&self, transport: TransportKind) -> (Target, Headers) {
        let Some(hook) = self.dial_hook.as_ref() else {
            return (self.target.clone(), self.headers.clone());
        };
        let context = DialContext {
            transport,
            resume_from: self.acked.as_ref().and_then(|a| a.resume_from()),
        };
        apply(&self.target, &self.headers, hook(&context))
    }
}

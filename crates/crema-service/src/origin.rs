//! Trust as a value: who asks for an operation decides what it may reach.

use crate::auth::Principal;

/// Who asks for an operation. Passed to the operations whose reach depends
/// on it ([`crate::Service::submit`], [`crate::Service::add_watch_rule`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The local user of this machine (the desktop app, the service's own
    /// watch rules): a `path` source may be any file the process can read,
    /// `output.dir` is allowed, and a watch rule's folders may be anywhere.
    /// Never use it on behalf of a network client.
    Local,
    /// A network client, authenticated as this principal (the `/v1` API):
    /// `path` sources and every folder of a watch rule must be under the
    /// service's source roots, and `output.dir` is refused.
    Network(Principal),
}

impl Origin {
    /// Whether this is the local user, who may reach past the source roots.
    pub fn is_local(&self) -> bool {
        matches!(self, Origin::Local)
    }
}

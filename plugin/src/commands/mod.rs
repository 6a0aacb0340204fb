//! One module per CNI command. ADD, CHECK and DEL work on one attachment through the
//! [`Netlink`](crate::netlink::Netlink) seam; STATUS and GC only forward to the IPAM delegate.

pub mod add;
pub mod check;
pub mod del;
pub mod delegated;

use crate::config::{NetConf, Placement};
use crate::error::Error;
use crate::ipam::Delegate;
use crate::netlink::NetlinkError;

/// Everything an attachment command needs, validated.
#[derive(Debug)]
pub struct Invocation<'a> {
    pub conf: &'a NetConf,
    pub placement: Placement,
    /// `CNI_NETNS` as given (the result's `sandbox`); empty on a DEL without one.
    pub sandbox: &'a str,
    pub ipam: Option<Delegate>,
    /// Stdin, unchanged, for the delegate.
    pub stdin: &'a [u8],
}

/// Context for a failed netlink operation.
fn netlink_error(operation: impl Into<String>) -> impl FnOnce(NetlinkError) -> Error {
    let operation = operation.into();
    move |source| Error::Netlink { operation, source }
}

#[cfg(test)]
mod tests;

//! One module per CNI command. ADD, CHECK and DEL work on one attachment through the
//! [`Netlink`](crate::netlink::Netlink) seam; STATUS and GC only forward to the IPAM delegate.

pub mod add;
pub mod check;
pub mod del;
pub mod delegated;

use crate::config::{NetConf, Placement};
use crate::error::Error;
use crate::ipam::Delegate;
use crate::netlink::{Link, Netlink, NetlinkError};

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
    /// What ADD creates the VLAN as before renaming it ([`temp_name`]).
    pub temp_name: String,
}

/// The temporary name ADD creates the VLAN under. Stable for an attachment (container id,
/// `CNI_NETNS`, final name), so a DEL after an ADD killed between create and rename finds the
/// half-made link and removes it; distinct between attachments, so concurrent ADDs never share
/// one. FNV-1a, because std's hashers are keyed at random per process.
pub fn temp_name(container_id: &str, sandbox: &str, link_name: &str) -> String {
    let fields = [container_id, sandbox, link_name];
    let bytes = fields.iter().flat_map(|f| f.bytes().chain([0]));
    let hash = bytes.fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("vlt{:012x}", hash & 0xffff_ffff_ffff)
}

/// The master link where the mode says it lives; ADD and CHECK both need it.
fn find_master<K: Netlink>(kernel: &K, inv: &Invocation<'_>) -> Result<Link, Error> {
    let placement = &inv.placement;
    kernel
        .link_by_name(placement.master_namespace, &placement.master)
        .map_err(netlink_error(format!(
            "looking up master {:?}",
            placement.master
        )))?
        .ok_or_else(|| master_not_found(inv))
}

fn master_not_found(inv: &Invocation<'_>) -> Error {
    Error::MasterNotFound {
        master: inv.placement.master.clone(),
        netns: inv.placement.master_namespace.describe(),
    }
}

/// Context for a failed netlink operation.
fn netlink_error(operation: impl Into<String>) -> impl FnOnce(NetlinkError) -> Error {
    let operation = operation.into();
    move |source| Error::Netlink { operation, source }
}

#[cfg(test)]
mod tests;

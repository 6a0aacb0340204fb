//! DEL, best effort and repeatable: delete the VLAN if it is still there (and only if it is a
//! VLAN), then release the IPAM allocation whatever happened to the namespace. Only a failure
//! that leaves something behind is an error.

use nix::errno::Errno;

use super::{Invocation, netlink_error};
use crate::env::Command;
use crate::error::Error;
use crate::log;
use crate::netlink::{Namespace, Netlink};

/// What DEL can do in `CNI_NETNS`.
pub enum Sandbox<K> {
    Reachable(K),
    /// Empty, gone, or no longer a namespace: the VLAN went with it.
    Gone(String),
    /// There but unusable (permissions, sockets): the VLAN may be left behind.
    Unreachable(Error),
}

pub fn del<K: Netlink>(sandbox: Sandbox<&K>, inv: &Invocation<'_>) -> Result<(), Error> {
    let mut failures = Vec::new();
    match sandbox {
        Sandbox::Reachable(kernel) => {
            // Also the temporary name: an ADD killed between create and rename leaves the
            // VLAN under it.
            for name in [&inv.placement.link_name, &inv.temp_name] {
                if let Err(e) = remove_vlan(kernel, name) {
                    failures.push(e);
                }
            }
        }
        Sandbox::Gone(why) => log(&format!("DEL: {why}; nothing to delete there")),
        Sandbox::Unreachable(e) => failures.push(e),
    }
    if let Some(ipam) = &inv.ipam
        && let Err(e) = ipam.run(Command::Del, inv.stdin)
    {
        failures.push(e);
    }
    Error::collect(failures)
}

/// Deletes the VLAN named `name` in `CNI_NETNS`, if there is one; any other kind of link is
/// left alone.
pub(super) fn remove_vlan<K: Netlink>(kernel: &K, name: &str) -> Result<(), Error> {
    let link = kernel
        .link_by_name(Namespace::Container, name)
        .map_err(netlink_error(format!("looking up {name:?}")))?;
    match link {
        None => Ok(()),
        Some(link) if link.kind.as_deref() != Some("vlan") => {
            log(&format!(
                "DEL: {name:?} is a {} link, not a VLAN; left untouched",
                link.kind_name()
            ));
            Ok(())
        }
        Some(link) => match kernel.delete_link(link.index) {
            Err(e) if e.errno() != Some(Errno::ENODEV) => Err(Error::Netlink {
                operation: format!("deleting {name:?}"),
                source: e,
            }),
            _ => Ok(()),
        },
    }
}

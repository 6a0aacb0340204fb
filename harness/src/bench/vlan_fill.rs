//! Filling a master with many VLANs quickly, in-process: one netlink socket with many requests
//! in flight, instead of [`Sandbox::add_vlan`]'s create-then-settle per link (which is right for
//! a scenario's handful of links and far too slow for 4094).

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};

use crate::sandbox::{Context, Sandbox, SandboxError, netlink};
use crate::topology::{VlanProtocol, VlanTag};

/// Requests in flight at once: enough to hide the round trips; the kernel serializes them
/// under RTNL anyway.
const IN_FLIGHT: usize = 64;

/// The name of filler VLAN `id`.
pub fn filler_name(id: u16) -> String {
    format!("fill{id}")
}

/// Creates 802.1Q VLANs with `ids` on `master` in `netns`, named [`filler_name`], left down.
/// Returns how long the kernel took for all of them.
pub fn add_vlans(
    sandbox: &Sandbox,
    netns: &str,
    master: &str,
    ids: RangeInclusive<u16>,
) -> Result<Duration, SandboxError> {
    sandbox.block_on(async {
        let handle = sandbox.handle(netns)?;
        let parent = netlink::find_link(&handle, master)
            .await
            .context(|| format!("looking up link {netns}/{master}"))?
            .ok_or_else(|| SandboxError::NoSuchLink {
                netns: netns.into(),
                name: master.into(),
            })?
            .header
            .index;
        let started = Instant::now();
        futures_util::stream::iter(ids)
            .map(|id| {
                let handle = handle.clone();
                async move {
                    let tag = VlanTag::new(id, VlanProtocol::Ieee8021Q);
                    netlink::add_link(&handle, netlink::vlan(&filler_name(id), parent, tag))
                        .await
                        .context(|| format!("adding VLAN {id} on {netns}/{master}"))
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(started.elapsed())
    })
}

//! The calling process's own network namespace, raw (ifindexes and real MACs kept): tests take
//! it before and after a sandbox's whole life to prove the sandbox never touched the host.

use std::path::Path;

use serde::Serialize;

use super::kernel_view::dump_links_and_addresses;
use super::{Address, address};
use crate::netns::Netns;
use crate::sandbox::{Context, SandboxError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostNetworkState {
    /// Sorted by ifindex.
    pub links: Vec<HostLink>,
    /// Every address, link-locals and loopback included, sorted by link, then value.
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostLink {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub mtu: u32,
    pub up: bool,
    pub mac: Option<String>,
}

impl HostNetworkState {
    /// Reads the namespace of the process (its main thread's, which every sandbox leaves alone).
    pub fn capture() -> Result<HostNetworkState, SandboxError> {
        let own = Netns::open("host", Path::new("/proc/self/ns/net"))
            .context(|| "opening /proc/self/ns/net".into())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context(|| "starting a tokio runtime".into())?;
        let (links, addresses) = runtime.block_on(async {
            let handle = own
                .handle()
                .context(|| "opening a netlink socket in the host netns".into())?;
            dump_links_and_addresses(&handle, "host").await
        })?;
        let name_of = |index: u32| {
            links
                .iter()
                .find(|l| l.index == index)
                .map_or_else(|| format!("#{index}"), |l| l.name.clone())
        };
        let mut addresses: Vec<Address> = addresses
            .iter()
            .map(|a| address(&name_of(a.index), a.cidr))
            .collect();
        addresses.sort_by(|a, b| (&a.link, &a.cidr).cmp(&(&b.link, &b.cidr)));
        let mut links: Vec<HostLink> = links
            .into_iter()
            .map(|l| HostLink {
                index: l.index,
                name: l.name,
                kind: l.kind,
                mtu: l.mtu,
                up: l.up,
                mac: l.mac,
            })
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(HostNetworkState { links, addresses })
    }
}

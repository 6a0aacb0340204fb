//! A recording fake of the kernel seam: a tiny in-memory link table per namespace that answers
//! like the kernel for the cases the plugin meets (EEXIST, ENODEV, ENETDOWN), records every
//! request in order for snapshots, and fails on demand.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;

use cni_types::Route;
use ipnet::IpNet;
use nix::errno::Errno;
use serde::Serialize;

use super::{InstalledRoute, Link, LowerLink, Namespace, Netlink, NetlinkError, NewVlan, VlanTag};

/// One request as the plugin sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Request {
    LinkByName {
        ns: Namespace,
        name: String,
    },
    CreateVlan {
        ns: Namespace,
        temp_name: String,
        parent_index: u32,
        tag: VlanTag,
        mtu: Option<u32>,
        into_container: bool,
    },
    Rename {
        index: u32,
        name: String,
    },
    SetUp {
        index: u32,
    },
    Delete {
        index: u32,
    },
    AddAddress {
        index: u32,
        address: IpNet,
    },
    AddRoute {
        index: u32,
        route: Route,
    },
    Addresses {
        index: u32,
    },
    Routes {
        index: u32,
    },
    RuntimeNetnsId,
    EnableIpv6 {
        ifname: String,
    },
}

/// The request kinds a failure can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    CreateVlan,
    Rename,
    SetUp,
    Delete,
    AddAddress,
    AddRoute,
}

/// The id `CNI_NETNS` gives the runtime's namespace in this fake world.
pub const RUNTIME_NETNS_ID: i32 = 0;

#[derive(Debug, Default)]
struct World {
    links: Vec<(Namespace, Link)>,
    addresses: HashMap<u32, Vec<IpNet>>,
    routes: HashMap<u32, Vec<InstalledRoute>>,
    next_index: u32,
    failures: HashMap<Op, Errno>,
}

#[derive(Debug, Default)]
pub struct FakeKernel {
    world: RefCell<World>,
    requests: RefCell<Vec<Request>>,
}

impl FakeKernel {
    pub fn new() -> FakeKernel {
        let fake = FakeKernel::default();
        fake.world.borrow_mut().next_index = 1;
        fake
    }

    /// Adds a physical-looking link (kind `None`), up, MTU 1500.
    pub fn with_link(self, ns: Namespace, name: &str) -> FakeKernel {
        self.insert(ns, name, None, None, None);
        self
    }

    /// Adds a link of `kind` (for DEL's "never delete a non-VLAN" rule).
    pub fn with_link_of_kind(self, ns: Namespace, name: &str, kind: &str) -> FakeKernel {
        self.insert(ns, name, Some(kind.to_string()), None, None);
        self
    }

    pub fn with_link_down(self, ns: Namespace, name: &str) -> FakeKernel {
        self.insert(ns, name, None, None, None);
        self.link_mut(ns, name, |link| link.up = false);
        self
    }

    pub fn failing(self, op: Op, errno: Errno) -> FakeKernel {
        self.world.borrow_mut().failures.insert(op, errno);
        self
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.borrow().clone()
    }

    pub fn links(&self, ns: Namespace) -> Vec<Link> {
        let world = self.world.borrow();
        world
            .links
            .iter()
            .filter(|(n, _)| *n == ns)
            .map(|(_, l)| l.clone())
            .collect()
    }

    pub fn link(&self, ns: Namespace, name: &str) -> Option<Link> {
        self.links(ns).into_iter().find(|l| l.name == name)
    }

    pub fn addresses_of(&self, index: u32) -> Vec<IpNet> {
        self.world
            .borrow()
            .addresses
            .get(&index)
            .cloned()
            .unwrap_or_default()
    }

    pub fn routes_of(&self, index: u32) -> Vec<InstalledRoute> {
        self.world
            .borrow()
            .routes
            .get(&index)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes a link behind the plugin's back (CHECK drift tests).
    pub fn link_mut(&self, ns: Namespace, name: &str, change: impl FnOnce(&mut Link)) {
        let mut world = self.world.borrow_mut();
        if let Some((_, link)) = world
            .links
            .iter_mut()
            .find(|(n, l)| *n == ns && l.name == name)
        {
            change(link);
        }
    }

    pub fn remove_address(&self, index: u32, address: IpNet) {
        if let Some(list) = self.world.borrow_mut().addresses.get_mut(&index) {
            list.retain(|a| *a != address);
        }
    }

    pub fn remove_routes(&self, index: u32) {
        self.world.borrow_mut().routes.remove(&index);
    }

    fn insert(
        &self,
        ns: Namespace,
        name: &str,
        kind: Option<String>,
        vlan: Option<VlanTag>,
        lower: Option<LowerLink>,
    ) {
        let mut world = self.world.borrow_mut();
        let index = world.next_index;
        world.next_index += 1;
        let mac = format!("02:00:00:00:00:{index:02x}");
        world.links.push((
            ns,
            Link {
                index,
                name: name.to_string(),
                kind,
                vlan,
                lower,
                mtu: 1500,
                up: true,
                loopback: false,
                mac: Some(mac),
                master: None,
                mode: None,
            },
        ));
    }

    fn record(&self, request: Request) {
        self.requests.borrow_mut().push(request);
    }

    fn injected(&self, op: Op) -> Result<(), NetlinkError> {
        match self.world.borrow().failures.get(&op) {
            Some(errno) => Err(NetlinkError::Kernel(*errno)),
            None => Ok(()),
        }
    }

    fn find(&self, ns: Namespace, matches: impl Fn(&Link) -> bool) -> Option<Link> {
        self.world
            .borrow()
            .links
            .iter()
            .find(|(n, l)| *n == ns && matches(l))
            .map(|(_, l)| l.clone())
    }

    fn container_link(&self, index: u32) -> Result<Link, NetlinkError> {
        self.find(Namespace::Container, |l| l.index == index)
            .ok_or(NetlinkError::Kernel(Errno::ENODEV))
    }
}

impl Netlink for FakeKernel {
    fn link_by_name(&self, ns: Namespace, name: &str) -> Result<Option<Link>, NetlinkError> {
        self.record(Request::LinkByName {
            ns,
            name: name.to_string(),
        });
        Ok(self.find(ns, |l| l.name == name))
    }

    fn create_vlan(&self, ns: Namespace, vlan: &NewVlan<'_>) -> Result<(), NetlinkError> {
        self.record(Request::CreateVlan {
            ns,
            temp_name: vlan.temp_name.to_string(),
            parent_index: vlan.parent_index,
            tag: vlan.tag,
            mtu: vlan.mtu,
            into_container: vlan.into_container,
        });
        self.injected(Op::CreateVlan)?;
        let parent = self
            .find(ns, |l| l.index == vlan.parent_index)
            .ok_or(NetlinkError::Kernel(Errno::ENODEV))?;
        let target = if vlan.into_container {
            Namespace::Container
        } else {
            ns
        };
        let duplicate = self.world.borrow().links.iter().any(|(_, l)| {
            l.vlan == Some(vlan.tag) && l.lower.is_some_and(|p| p.index == parent.index)
        });
        if duplicate || self.find(target, |l| l.name == vlan.temp_name).is_some() {
            return Err(NetlinkError::Kernel(Errno::EEXIST));
        }
        if vlan.mtu.is_some_and(|m| m > parent.mtu) {
            return Err(NetlinkError::Kernel(Errno::EINVAL));
        }
        self.insert(
            target,
            vlan.temp_name,
            Some("vlan".into()),
            Some(vlan.tag),
            Some(LowerLink {
                index: parent.index,
                nsid: (target != ns).then_some(RUNTIME_NETNS_ID),
            }),
        );
        self.link_mut(target, vlan.temp_name, |link| {
            link.up = false;
            link.mtu = vlan.mtu.unwrap_or(parent.mtu);
            link.mac = parent.mac.clone();
        });
        Ok(())
    }

    fn rename_link(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.record(Request::Rename {
            index,
            name: name.to_string(),
        });
        self.injected(Op::Rename)?;
        let link = self.container_link(index)?;
        if link.up {
            return Err(NetlinkError::Kernel(Errno::EBUSY));
        }
        if self
            .find(Namespace::Container, |l| l.name == name)
            .is_some()
        {
            return Err(NetlinkError::Kernel(Errno::EEXIST));
        }
        self.link_mut(Namespace::Container, &link.name, |l| {
            l.name = name.to_string()
        });
        Ok(())
    }

    fn set_link_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.record(Request::SetUp { index });
        self.injected(Op::SetUp)?;
        let link = self.container_link(index)?;
        if let Some(parent) = link.lower {
            let ns = match parent.nsid {
                Some(_) => Namespace::Runtime,
                None => Namespace::Container,
            };
            if self
                .find(ns, |l| l.index == parent.index)
                .is_some_and(|p| !p.up)
            {
                return Err(NetlinkError::Kernel(Errno::ENETDOWN));
            }
        }
        self.link_mut(Namespace::Container, &link.name, |l| l.up = true);
        Ok(())
    }

    fn delete_link(&self, index: u32) -> Result<(), NetlinkError> {
        self.record(Request::Delete { index });
        self.injected(Op::Delete)?;
        self.container_link(index)?;
        let mut world = self.world.borrow_mut();
        world
            .links
            .retain(|(n, l)| !(*n == Namespace::Container && l.index == index));
        world.addresses.remove(&index);
        world.routes.remove(&index);
        Ok(())
    }

    fn add_address(&self, index: u32, address: IpNet) -> Result<(), NetlinkError> {
        self.record(Request::AddAddress { index, address });
        self.injected(Op::AddAddress)?;
        self.container_link(index)?;
        let mut world = self.world.borrow_mut();
        let list = world.addresses.entry(index).or_default();
        if list.contains(&address) {
            return Err(NetlinkError::Kernel(Errno::EEXIST));
        }
        list.push(address);
        Ok(())
    }

    fn add_route(&self, index: u32, route: &Route) -> Result<(), NetlinkError> {
        self.record(Request::AddRoute {
            index,
            route: route.clone(),
        });
        self.injected(Op::AddRoute)?;
        if !self.container_link(index)?.up {
            return Err(NetlinkError::Kernel(Errno::ENETDOWN));
        }
        self.world
            .borrow_mut()
            .routes
            .entry(index)
            .or_default()
            .push(InstalledRoute {
                dst: route.dst.trunc(),
                gateway: route.gw,
                table: route.table.unwrap_or(254),
            });
        Ok(())
    }

    fn addresses(&self, index: u32) -> Result<Vec<IpNet>, NetlinkError> {
        self.record(Request::Addresses { index });
        Ok(self.addresses_of(index))
    }

    fn routes(&self, index: u32) -> Result<Vec<InstalledRoute>, NetlinkError> {
        self.record(Request::Routes { index });
        Ok(self.routes_of(index))
    }

    fn runtime_netns_id(&self) -> Result<Option<i32>, NetlinkError> {
        self.record(Request::RuntimeNetnsId);
        Ok(Some(RUNTIME_NETNS_ID))
    }

    fn enable_ipv6(&self, ifname: &str) -> Result<(), io::Error> {
        self.record(Request::EnableIpv6 {
            ifname: ifname.to_string(),
        });
        Ok(())
    }
}

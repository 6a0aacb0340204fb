//! What the kernel's rtnetlink messages say, as plain data. The reference plugin reads links and
//! addresses to decide and to check; the conformance harness reads them to snapshot a sandbox.
//! Both read them here, so an attribute is interpreted one way only.

mod address;
mod link;
mod vlan;

pub use address::AddressFacts;
pub use link::{LinkFacts, LowerLink};
pub use vlan::{VlanProtocol, VlanTag};

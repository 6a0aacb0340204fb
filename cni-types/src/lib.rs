//! CNI wire types shared by the reference `vlan` plugin and the `cni-conform` harness.
//!
//! The plugin and the harness must agree on what a result or an error looks like in each spec
//! version, so both use this crate; neither depends on the other's internals.

pub mod error;
pub mod names;
pub mod result;
pub mod version;

pub use error::{CniError, ErrorCode};
pub use result::{CniResult, Dns, Interface, IpConfig, ResultError, Route};
pub use version::CniVersion;

//! `cni-conform`: runs chained CNI network configurations against any plugin binary inside
//! throwaway network namespaces, the way a container runtime would, and snapshots the resulting
//! kernel state.
//!
//! Data flow: scenario -> [`sandbox`] (node + pod netns, veth topology) -> [`runtime`] (libcni
//! semantics, every exec recorded) -> [`snapshot`] (normalized dump of every netns) -> compare.

pub mod bench;
pub mod fixtures;
pub mod fuzz;
pub mod kernel;
pub mod netns;
pub mod report;
pub mod runtime;
pub mod sandbox;
pub mod scenario;
pub mod snapshot;
pub mod source_tree;
pub mod topology;
pub mod uml;

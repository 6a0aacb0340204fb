//! The plugin's one error type. Every variant maps to exactly one CNI error code; the edge
//! (`lib.rs`) turns it into the error JSON on stdout and exit status 1.

use std::io;

use cni_types::error::codes;
use cni_types::{CniError, CniVersion, ErrorCode};

use crate::netlink::{NetlinkError, VlanProtocol};

/// Plugin-specific codes (100+). docs/error-codes.md lists them.
pub mod plugin_codes {
    use cni_types::ErrorCode;

    /// The master link does not exist in the namespace the mode looks in (the runtime's for host
    /// master, `CNI_NETNS` for container master and chained).
    pub const MASTER_NOT_FOUND: ErrorCode = 100;
    /// A link with the VLAN's name already exists in `CNI_NETNS`; it was left untouched.
    pub const TARGET_EXISTS: ErrorCode = 101;
    /// The master already carries a VLAN with this id and protocol (in any namespace).
    pub const DUPLICATE_VLAN: ErrorCode = 102;
    /// The kernel refused to create the VLAN link for another reason (for example no 802.1Q
    /// support, or a master that cannot carry VLANs).
    pub const KERNEL_REFUSED_LINK: ErrorCode = 103;
    /// The master is administratively down, so the VLAN cannot be brought up.
    pub const MASTER_DOWN: ErrorCode = 104;
    /// A netlink operation other than creating the link failed (rename, address, route, up,
    /// delete, lookup).
    pub const NETLINK_FAILED: ErrorCode = 105;
    /// IPv6 could not be enabled on the VLAN (`disable_ipv6` not writable: IPv6 off in this
    /// kernel).
    pub const IPV6_UNAVAILABLE: ErrorCode = 106;
    /// The IPAM plugin named by `ipam.type` is not in any `CNI_PATH` directory.
    pub const IPAM_NOT_FOUND: ErrorCode = 107;
    /// The IPAM plugin could not be run, or was killed by a signal.
    pub const IPAM_EXEC_FAILED: ErrorCode = 108;
    /// The IPAM plugin's output is neither a valid result (on success) nor a valid CNI error (on
    /// failure); the message quotes it.
    pub const IPAM_BAD_OUTPUT: ErrorCode = 109;
    /// The IPAM plugin returned a result without any IP address (as upstream: an L2-only VLAN
    /// is configured by leaving `ipam` out).
    pub const IPAM_NO_ADDRESSES: ErrorCode = 110;
    /// CHECK found the attachment differs from `prevResult` and the configuration; the message
    /// names the drift.
    pub const CHECK_FAILED: ErrorCode = 111;
    /// A local I/O failure: opening `CNI_NETNS` or a route socket, reading stdin.
    pub const IO_FAILED: ErrorCode = 112;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("incompatible CNI version {version:?}")]
    IncompatibleVersion { version: String },

    #[error("cniVersion {version} does not allow {command} (it needs {needs} or later)")]
    CommandNotInVersion {
        command: &'static str,
        version: CniVersion,
        needs: CniVersion,
    },

    #[error("CNI_NETNS {path:?} does not exist")]
    NetnsMissing { path: String },

    #[error("CNI_NETNS {path:?} is not a network namespace")]
    NotANetns { path: String },

    /// A missing or invalid `CNI_*` variable; `problem` names the value.
    #[error("{variable} {problem}")]
    Env {
        variable: &'static str,
        problem: String,
    },

    #[error("stdin is not a JSON network configuration: {0}")]
    Decode(String),

    /// An invalid network configuration; the message names the field and the value.
    #[error("{0}")]
    Config(String),

    /// The IPAM delegate's own error, passed through with its name in front.
    #[error("{plugin}: {}", error.msg)]
    Delegate { plugin: String, error: CniError },

    #[error("master {master:?} not found in {netns}")]
    MasterNotFound { master: String, netns: &'static str },

    #[error("a link named {name:?} already exists in CNI_NETNS {netns:?}; it was left untouched")]
    TargetExists { name: String, netns: String },

    #[error(
        "master {master:?} already has a {protocol} VLAN with id {id} (maybe in another network \
         namespace)"
    )]
    DuplicateVlan {
        master: String,
        id: u16,
        protocol: VlanProtocol,
    },

    #[error(
        "the kernel refused to create VLAN {id} on master {master:?}: {source}{}",
        hint(source)
    )]
    KernelRefusedLink {
        master: String,
        id: u16,
        source: NetlinkError,
    },

    #[error("master {master:?} is down; bring it up before adding VLANs on it")]
    MasterDown { master: String },

    #[error("{operation}: {source}")]
    Netlink {
        operation: String,
        source: NetlinkError,
    },

    #[error("enabling IPv6 on {ifname:?} failed (is IPv6 disabled in this kernel?): {source}")]
    Ipv6Unavailable { ifname: String, source: io::Error },

    #[error("IPAM plugin {plugin:?} not found in CNI_PATH {cni_path:?}")]
    IpamNotFound { plugin: String, cni_path: String },

    #[error("IPAM plugin {plugin:?} {problem}")]
    IpamExec { plugin: String, problem: String },

    #[error("IPAM plugin {plugin:?} {problem}; its output: {output:?}")]
    IpamBadOutput {
        plugin: String,
        problem: String,
        output: String,
    },

    #[error(
        "IPAM plugin {plugin:?} returned no IP addresses (leave \"ipam\" out for an L2-only VLAN)"
    )]
    IpamNoAddresses { plugin: String },

    #[error("CHECK: {0}")]
    CheckFailed(String),

    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },

    /// A failure followed by more failures while cleaning up (ADD rollback) or while carrying on
    /// (DEL is best effort): reported as the first, the others in `details`.
    #[error("{first}")]
    Several { first: Box<Error>, more: Vec<Error> },
}

fn hint(source: &NetlinkError) -> &'static str {
    match source.errno() {
        Some(nix::errno::Errno::EOPNOTSUPP) => {
            " (the kernel lacks 802.1Q support (module 8021q), or the master cannot carry VLANs)"
        }
        Some(nix::errno::Errno::EINVAL) => " (is the MTU above the master's?)",
        _ => "",
    }
}

impl Error {
    /// Wraps `self` with the failures that followed it, if any.
    pub fn followed_by(self, more: Vec<Error>) -> Error {
        if more.is_empty() {
            self
        } else {
            Error::Several {
                first: Box::new(self),
                more,
            }
        }
    }

    /// The first of `errors` followed by the rest; `Ok` when there are none.
    pub fn collect(mut errors: Vec<Error>) -> Result<(), Error> {
        if errors.is_empty() {
            return Ok(());
        }
        let first = errors.remove(0);
        Err(first.followed_by(errors))
    }

    pub fn code(&self) -> ErrorCode {
        use plugin_codes::*;
        match self {
            Error::IncompatibleVersion { .. } | Error::CommandNotInVersion { .. } => {
                codes::INCOMPATIBLE_VERSION
            }
            Error::NetnsMissing { .. } | Error::NotANetns { .. } => codes::UNKNOWN_CONTAINER,
            Error::Env { .. } => codes::INVALID_ENVIRONMENT,
            Error::Decode(_) => codes::DECODING_FAILURE,
            Error::Config(_) => codes::INVALID_NETWORK_CONFIG,
            Error::Delegate { error, .. } => error.code,
            Error::MasterNotFound { .. } => MASTER_NOT_FOUND,
            Error::TargetExists { .. } => TARGET_EXISTS,
            Error::DuplicateVlan { .. } => DUPLICATE_VLAN,
            Error::KernelRefusedLink { source, .. } => transient_or(source, KERNEL_REFUSED_LINK),
            Error::MasterDown { .. } => MASTER_DOWN,
            Error::Netlink { source, .. } => transient_or(source, NETLINK_FAILED),
            Error::Ipv6Unavailable { .. } => IPV6_UNAVAILABLE,
            Error::IpamNotFound { .. } => IPAM_NOT_FOUND,
            Error::IpamExec { .. } => IPAM_EXEC_FAILED,
            Error::IpamBadOutput { .. } => IPAM_BAD_OUTPUT,
            Error::IpamNoAddresses { .. } => IPAM_NO_ADDRESSES,
            Error::CheckFailed(_) => CHECK_FAILED,
            Error::Io { .. } => IO_FAILED,
            Error::Several { first, .. } => first.code(),
        }
    }

    fn details(&self) -> Option<String> {
        match self {
            Error::IncompatibleVersion { version } => Some(format!(
                "config is {version:?}, plugin supports [{}]",
                CniVersion::ALL.map(|v| v.as_str()).join(", ")
            )),
            Error::Delegate { error, .. } => error.details.clone(),
            Error::Several { first, more } => {
                let also: Vec<String> = more.iter().map(|e| e.to_string()).collect();
                let also = format!("then also: {}", also.join("; "));
                Some(match first.details() {
                    Some(d) => format!("{d}; {also}"),
                    None => also,
                })
            }
            _ => None,
        }
    }

    /// The CNI error object for stdout.
    pub fn to_cni(&self) -> CniError {
        let error = CniError::new(self.code(), self.to_string());
        match self.details() {
            Some(d) => error.with_details(d),
            None => error,
        }
    }
}

/// Kernel contention that outlasted the retries is "try again later" (11), whatever the
/// operation; anything else keeps the operation's own code.
fn transient_or(source: &NetlinkError, code: ErrorCode) -> ErrorCode {
    if source.is_contention() {
        codes::TRY_AGAIN_LATER
    } else {
        code
    }
}

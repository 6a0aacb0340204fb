//! `conform-ipam`: a static-address IPAM plugin like upstream `static` (research/cni-spec.md
//! §6.4), with fault switches and a call log so tests can see exactly how a plugin under test
//! delegates to its IPAM.
//!
//! The `ipam` object of the network configuration:
//!
//! ```json
//! {
//!   "type": "conform-ipam",
//!   "addresses": [{"address": "10.1.2.3/24", "gateway": "10.1.2.1"}],
//!   "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.2.1"}],
//!   "dns": {"nameservers": ["10.1.2.53"]},
//!   "callLog": "/tmp/sandbox/ipam-calls.jsonl",
//!   "fail": {"DEL": {"code": 11, "msg": "busy", "details": "try again"}},
//!   "noIps": true,
//!   "malformed": ["ADD"],
//!   "sleepMs": 500
//! }
//! ```
//!
//! - Addresses: `addresses`, replaced by `args.cni.ips`, replaced by `runtimeConfig.ips` (both
//!   lists of CIDRs, as static). Before 0.3.0 a result holds one address per family, so more is
//!   an error, as in static.
//! - `callLog`: every call is appended before it is checked or answered
//!   ([`cni_conform::fixtures::call_log`]).
//! - `sleepMs` delays every answer; then `fail` makes a command fail with that error object;
//!   `malformed` makes a command print broken JSON with exit status 0; `noIps` makes ADD return
//!   no addresses.
//! - ADD returns `ips` (without `interface`), `routes` and `dns`; CHECK needs `prevResult` and
//!   fails when a configured address is missing from it; DEL, GC and STATUS only succeed: static
//!   reserves nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cni_conform::fixtures::CHECK_FAILED;
use cni_conform::fixtures::call_log::{self, CallRecord};
use cni_conform::fixtures::skel::{self, Call, CniVars, Plugin, Reply};
use cni_conform::runtime::CniCommand;
use cni_types::error::codes;
use cni_types::{CniError, CniResult, Dns, IpConfig, Route};
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpamConfig {
    #[serde(default)]
    addresses: Vec<StaticAddress>,
    #[serde(default)]
    routes: Vec<Route>,
    #[serde(default)]
    dns: Dns,
    #[serde(default)]
    fail: BTreeMap<CniCommand, CniError>,
    #[serde(default)]
    no_ips: bool,
    #[serde(default)]
    malformed: Vec<CniCommand>,
    #[serde(default)]
    sleep_ms: u64,
}

#[derive(Debug, Deserialize)]
struct StaticAddress {
    address: IpNet,
    #[serde(default)]
    gateway: Option<IpAddr>,
}

/// Where overriding address lists live in the network configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Overrides {
    #[serde(default)]
    runtime_config: IpsHolder,
    #[serde(default)]
    args: ArgsHolder,
}

#[derive(Debug, Default, Deserialize)]
struct ArgsHolder {
    #[serde(default)]
    cni: IpsHolder,
}

#[derive(Debug, Default, Deserialize)]
struct IpsHolder {
    #[serde(default)]
    ips: Option<Vec<IpNet>>,
}

struct ConformIpam;

impl Plugin for ConformIpam {
    fn observe(&self, vars: &CniVars, config: &Map<String, Value>) -> Result<(), CniError> {
        let Some(path) = config
            .get("ipam")
            .and_then(|ipam| ipam.get("callLog"))
            .and_then(Value::as_str)
        else {
            return Ok(());
        };
        let record = CallRecord {
            vars: vars.clone(),
            stdin: Value::Object(config.clone()),
        };
        call_log::append(&PathBuf::from(path), &record)
            .map_err(|e| CniError::new(codes::IO_FAILURE, format!("writing call log {path}: {e}")))
    }

    fn handle(&self, call: &Call) -> Result<Reply, CniError> {
        let ipam = ipam_config(&call.config)?;
        std::thread::sleep(Duration::from_millis(ipam.sleep_ms));
        if let Some(error) = ipam.fail.get(&call.command) {
            return Err(error.clone());
        }
        if ipam.malformed.contains(&call.command) {
            return Ok(Reply::Raw(
                format!("{{\"cniVersion\": \"{}\", \"ips\": [", call.version).into_bytes(),
            ));
        }
        match call.command {
            CniCommand::Add => add(call, &ipam).map(Reply::Result),
            CniCommand::Check => check(call, &ipam).map(|()| Reply::Nothing),
            _ => Ok(Reply::Nothing),
        }
    }
}

fn ipam_config(config: &Map<String, Value>) -> Result<IpamConfig, CniError> {
    let ipam = config.get("ipam").ok_or_else(|| {
        CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            "IPAM config missing 'ipam' key",
        )
    })?;
    serde_json::from_value(ipam.clone()).map_err(|e| {
        CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            format!("invalid ipam config: {e}"),
        )
    })
}

/// The addresses to hand out, after `args.cni.ips` and `runtimeConfig.ips` overrides.
fn addresses(call: &Call, ipam: &IpamConfig) -> Result<Vec<IpConfig>, CniError> {
    if ipam.no_ips {
        return Ok(Vec::new());
    }
    let overrides: Overrides =
        serde_json::from_value(Value::Object(call.config.clone())).map_err(|e| {
            CniError::new(
                codes::INVALID_NETWORK_CONFIG,
                format!("an entry in the 'ips' field is NOT in CIDR notation: {e}"),
            )
        })?;
    let requested = overrides.runtime_config.ips.or(overrides.args.cni.ips);
    let addresses: Vec<IpConfig> = match requested {
        Some(ips) => ips
            .into_iter()
            .map(|address| IpConfig {
                address,
                gateway: None,
                interface: None,
            })
            .collect(),
        None => ipam
            .addresses
            .iter()
            .map(|a| IpConfig {
                address: a.address,
                gateway: a.gateway,
                interface: None,
            })
            .collect(),
    };
    let v4 = addresses
        .iter()
        .filter(|ip| ip.address.addr().is_ipv4())
        .count();
    if call.version.has_legacy_result() && (v4 > 1 || addresses.len() - v4 > 1) {
        return Err(CniError::new(
            codes::INVALID_NETWORK_CONFIG,
            format!(
                "CNI version {} does not support more than 1 address per family",
                call.version
            ),
        ));
    }
    Ok(addresses)
}

fn add(call: &Call, ipam: &IpamConfig) -> Result<CniResult, CniError> {
    Ok(CniResult {
        interfaces: Vec::new(),
        ips: addresses(call, ipam)?,
        routes: ipam.routes.clone(),
        dns: ipam.dns.clone(),
    })
}

fn check(call: &Call, ipam: &IpamConfig) -> Result<(), CniError> {
    let prev = call.config.get("prevResult").ok_or_else(|| {
        CniError::new(codes::INVALID_NETWORK_CONFIG, "Required prevResult missing")
    })?;
    let (_, prev) = CniResult::parse(prev, call.version)
        .map_err(|e| CniError::new(codes::DECODING_FAILURE, format!("invalid prevResult: {e}")))?;
    for wanted in addresses(call, ipam)? {
        if !prev.ips.iter().any(|ip| ip.address == wanted.address) {
            return Err(CniError::new(
                CHECK_FAILED,
                format!(
                    "conform-ipam: address {} missing from prevResult",
                    wanted.address
                ),
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    skel::run(&ConformIpam)
}

//! The CNI Result and its shapes across versions.
//!
//! [`CniResult`] is the 1.1.0 model, the richest one. Older results are parsed into it and it is
//! rendered back into any version's shape, the way libcni's converters do: 0.1.0/0.2.0 use the
//! legacy `ip4`/`ip6` layout, 0.3.x/0.4.0 add `ips[].version`, 1.1.0 adds interface `mtu`,
//! `socketPath`, `pciID` and the extra route fields.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::version::CniVersion;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address with prefix length, host bits kept (`10.1.2.3/24`).
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`; absent in IPAM results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.as_deref().unwrap_or("").is_empty()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

/// A CNI result in the 1.1.0 model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    #[serde(default)]
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub dns: Dns,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("result is not a JSON object")]
    NotAnObject,
    #[error("result has unsupported cniVersion {0:?}")]
    UnknownVersion(String),
    #[error("result is malformed: {0}")]
    Malformed(String),
    #[error("ips[{index}].interface is {value} but there are only {count} interfaces")]
    InterfaceIndexOutOfRange {
        index: usize,
        value: usize,
        count: usize,
    },
}

/// The legacy (0.1.0/0.2.0) per-family block.
#[derive(Deserialize)]
struct LegacyIp {
    ip: IpNet,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    routes: Vec<LegacyRoute>,
}

#[derive(Deserialize)]
struct LegacyRoute {
    dst: IpNet,
    #[serde(default)]
    gw: Option<IpAddr>,
}

#[derive(Deserialize)]
struct LegacyResult {
    #[serde(default)]
    ip4: Option<LegacyIp>,
    #[serde(default)]
    ip6: Option<LegacyIp>,
    #[serde(default)]
    dns: Dns,
}

impl CniResult {
    /// Parses a result of any supported version. The version is the object's `cniVersion`; when
    /// that is absent, `default_version` (libcni does the same for results lacking it).
    pub fn parse(
        value: &Value,
        default_version: CniVersion,
    ) -> Result<(CniVersion, CniResult), ResultError> {
        let obj = value.as_object().ok_or(ResultError::NotAnObject)?;
        let version = match obj.get("cniVersion") {
            None | Some(Value::Null) => default_version,
            Some(Value::String(s)) => s
                .parse()
                .map_err(|_| ResultError::UnknownVersion(s.clone()))?,
            Some(other) => return Err(ResultError::UnknownVersion(other.to_string())),
        };
        let result = if version.has_legacy_result() {
            let legacy: LegacyResult = serde_json::from_value(value.clone())
                .map_err(|e| ResultError::Malformed(e.to_string()))?;
            CniResult::from_legacy(legacy)
        } else {
            // Fields of newer versions in an older result are ignored, as libcni's typed
            // decoders ignore them.
            let mut r: CniResult = serde_json::from_value(value.clone())
                .map_err(|e| ResultError::Malformed(e.to_string()))?;
            if !version.has_interface_mtu() {
                r.strip_1_1_fields();
            }
            r
        };
        result.check_indexes()?;
        Ok((version, result))
    }

    fn from_legacy(legacy: LegacyResult) -> CniResult {
        let mut result = CniResult {
            dns: legacy.dns,
            ..CniResult::default()
        };
        for block in [legacy.ip4, legacy.ip6].into_iter().flatten() {
            result.ips.push(IpConfig {
                address: block.ip,
                gateway: block.gateway,
                interface: None,
            });
            result
                .routes
                .extend(block.routes.into_iter().map(|r| Route::new(r.dst, r.gw)));
        }
        result
    }

    fn strip_1_1_fields(&mut self) {
        for i in &mut self.interfaces {
            i.mtu = None;
            i.socket_path = None;
            i.pci_id = None;
        }
        for r in &mut self.routes {
            *r = Route::new(r.dst, r.gw);
        }
    }

    fn check_indexes(&self) -> Result<(), ResultError> {
        for (index, ip) in self.ips.iter().enumerate() {
            if let Some(value) = ip.interface
                && value >= self.interfaces.len()
            {
                return Err(ResultError::InterfaceIndexOutOfRange {
                    index,
                    value,
                    count: self.interfaces.len(),
                });
            }
        }
        Ok(())
    }

    /// Renders the result in `version`'s shape, `cniVersion` included.
    pub fn to_json(&self, version: CniVersion) -> Value {
        if version.has_legacy_result() {
            return self.to_legacy_json(version);
        }
        let mut shaped = self.clone();
        if !version.has_interface_mtu() {
            shaped.strip_1_1_fields();
        }
        // Keys in libcni's order: interfaces, ips, routes, dns.
        let mut out = Map::new();
        out.insert("cniVersion".into(), version.as_str().into());
        if !shaped.interfaces.is_empty() {
            out.insert("interfaces".into(), json!(shaped.interfaces));
        }
        if !shaped.ips.is_empty() {
            let ips: Vec<Value> = shaped
                .ips
                .iter()
                .map(|ip| {
                    let mut v = Map::new();
                    if version.has_ip_version_field() {
                        let family = if ip.address.addr().is_ipv4() {
                            "4"
                        } else {
                            "6"
                        };
                        v.insert("version".into(), family.into());
                    }
                    if let Some(i) = ip.interface {
                        v.insert("interface".into(), i.into());
                    }
                    v.insert("address".into(), ip.address.to_string().into());
                    if let Some(gw) = ip.gateway {
                        v.insert("gateway".into(), gw.to_string().into());
                    }
                    Value::Object(v)
                })
                .collect();
            out.insert("ips".into(), ips.into());
        }
        if !shaped.routes.is_empty() {
            out.insert("routes".into(), json!(shaped.routes));
        }
        // 1.0.0+ omit an empty `dns`; 0.3.x/0.4.0 always print it (types040 has no omitempty).
        if !shaped.dns.is_empty() || version < CniVersion::V1_0_0 {
            out.insert("dns".into(), json!(shaped.dns));
        }
        Value::Object(out)
    }

    /// 0.1.0/0.2.0: the first IPv4 and the first IPv6 address, each with the routes of its
    /// family. A result without addresses (an L2-only attachment) has neither block.
    fn to_legacy_json(&self, version: CniVersion) -> Value {
        let mut out = Map::new();
        out.insert("cniVersion".into(), version.as_str().into());
        for (key, want_v4) in [("ip4", true), ("ip6", false)] {
            let Some(ip) = self
                .ips
                .iter()
                .find(|ip| ip.address.addr().is_ipv4() == want_v4)
            else {
                continue;
            };
            let mut block = Map::new();
            block.insert("ip".into(), ip.address.to_string().into());
            if let Some(gw) = ip.gateway {
                block.insert("gateway".into(), gw.to_string().into());
            }
            let routes: Vec<Value> = self
                .routes
                .iter()
                .filter(|r| r.dst.addr().is_ipv4() == want_v4)
                .map(|r| json!(Route::new(r.dst, r.gw)))
                .collect();
            if !routes.is_empty() {
                block.insert("routes".into(), routes.into());
            }
            out.insert(key.into(), Value::Object(block));
        }
        out.insert("dns".into(), json!(self.dns));
        Value::Object(out)
    }
}

impl Route {
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

#[cfg(test)]
mod tests;

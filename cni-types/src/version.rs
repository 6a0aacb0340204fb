//! CNI specification versions and what each one allows.

use std::fmt;
use std::str::FromStr;

/// A CNI specification version this project knows. Ordered oldest first, so `>=` compares
/// versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CniVersion {
    V0_1_0,
    V0_2_0,
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

impl CniVersion {
    /// Every version, oldest first: what `VERSION` reports as `supportedVersions`.
    pub const ALL: [CniVersion; 7] = [
        CniVersion::V0_1_0,
        CniVersion::V0_2_0,
        CniVersion::V0_3_0,
        CniVersion::V0_3_1,
        CniVersion::V0_4_0,
        CniVersion::V1_0_0,
        CniVersion::V1_1_0,
    ];

    pub const LATEST: CniVersion = CniVersion::V1_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            CniVersion::V0_1_0 => "0.1.0",
            CniVersion::V0_2_0 => "0.2.0",
            CniVersion::V0_3_0 => "0.3.0",
            CniVersion::V0_3_1 => "0.3.1",
            CniVersion::V0_4_0 => "0.4.0",
            CniVersion::V1_0_0 => "1.0.0",
            CniVersion::V1_1_0 => "1.1.0",
        }
    }

    /// Results use the pre-0.3.0 `ip4`/`ip6` shape.
    pub fn has_legacy_result(self) -> bool {
        self <= CniVersion::V0_2_0
    }

    /// `ips[].version` ("4"/"6") exists in 0.3.0 through 0.4.0 only.
    pub fn has_ip_version_field(self) -> bool {
        (CniVersion::V0_3_0..=CniVersion::V0_4_0).contains(&self)
    }

    pub fn has_check(self) -> bool {
        self >= CniVersion::V0_4_0
    }

    /// GC and STATUS arrived in 1.1.0.
    pub fn has_gc_and_status(self) -> bool {
        self >= CniVersion::V1_1_0
    }

    /// Interface `mtu`/`socketPath`/`pciID` and the extra route fields arrived in 1.1.0.
    pub fn has_interface_mtu(self) -> bool {
        self >= CniVersion::V1_1_0
    }

    /// From 0.4.0 a runtime passes the cached result as `prevResult` on DEL and CHECK.
    pub fn has_prev_result_on_del(self) -> bool {
        self >= CniVersion::V0_4_0
    }
}

impl fmt::Display for CniVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported CNI version {0:?}; supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
)]
pub struct UnknownVersion(pub String);

impl FromStr for CniVersion {
    type Err = UnknownVersion;

    /// Exact match only, as libcni's skel does; the empty string means 0.1.0 (the spec's rule
    /// for configurations that predate `cniVersion`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Ok(CniVersion::V0_1_0);
        }
        CniVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersion(s.to_string()))
    }
}

impl serde::Serialize for CniVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CniVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The `VERSION` command's reply: `cniVersion` echoes the input's value (spec §VERSION).
pub fn version_reply(input_version: &str) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": input_version,
        "supportedVersions": CniVersion::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_version_and_round_trips() {
        for v in CniVersion::ALL {
            assert_eq!(v.as_str().parse::<CniVersion>(), Ok(v));
        }
    }

    #[test]
    fn empty_means_0_1_0_and_near_misses_are_rejected() {
        assert_eq!("".parse::<CniVersion>(), Ok(CniVersion::V0_1_0));
        for bad in ["1.1", "1.2.0", "v1.0.0", " 1.0.0", "0.3.2"] {
            assert!(bad.parse::<CniVersion>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn feature_gates_follow_the_spec_table() {
        use CniVersion::*;
        assert!(!V0_3_1.has_check() && V0_4_0.has_check());
        assert!(!V1_0_0.has_gc_and_status() && V1_1_0.has_gc_and_status());
        assert!(V0_2_0.has_legacy_result() && !V0_3_0.has_legacy_result());
        assert!(V0_3_0.has_ip_version_field() && V0_4_0.has_ip_version_field());
        assert!(!V1_0_0.has_ip_version_field());
    }

    #[test]
    fn version_reply_echoes_the_input() {
        let r = version_reply("0.4.0");
        assert_eq!(r["cniVersion"], "0.4.0");
        assert_eq!(r["supportedVersions"].as_array().unwrap().len(), 7);
    }
}

//! The spec's error result: `{"cniVersion", "code", "msg", "details"?}` on stdout, exit 1.

use serde::{Deserialize, Serialize};

/// A CNI error code. 0-99 are the spec's well-known codes; 100+ are plugin specific.
pub type ErrorCode = u32;

/// Well-known codes from the spec's error table.
pub mod codes {
    use super::ErrorCode;
    pub const INCOMPATIBLE_VERSION: ErrorCode = 1;
    pub const UNSUPPORTED_FIELD: ErrorCode = 2;
    pub const UNKNOWN_CONTAINER: ErrorCode = 3;
    pub const INVALID_ENVIRONMENT: ErrorCode = 4;
    pub const IO_FAILURE: ErrorCode = 5;
    pub const DECODING_FAILURE: ErrorCode = 6;
    pub const INVALID_NETWORK_CONFIG: ErrorCode = 7;
    pub const TRY_AGAIN_LATER: ErrorCode = 11;
    pub const PLUGIN_NOT_AVAILABLE: ErrorCode = 50;
    pub const PLUGIN_NOT_AVAILABLE_LIMITED: ErrorCode = 51;

    /// Codes the spec defines; anything else below 100 is reserved and unassigned.
    pub const WELL_KNOWN: [ErrorCode; 10] = [1, 2, 3, 4, 5, 6, 7, 11, 50, 51];

    /// Whether a code is one a plugin may legitimately return: a well-known one or 100+.
    pub fn is_valid(code: ErrorCode) -> bool {
        WELL_KNOWN.contains(&code) || code >= 100
    }
}

/// A CNI error as printed on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("CNI error {code}: {msg}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct CniError {
    pub code: ErrorCode,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl CniError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// The JSON object a plugin prints, with the configuration's `cniVersion` (or the latest when
    /// the configuration could not be read).
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "cniVersion": cni_version,
            "code": self.code,
            "msg": self.msg,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone().into();
        }
        v
    }

    /// Parses a plugin's failure output. `cniVersion` is optional (Go plugins omit it); `code`
    /// and `msg` are required.
    pub fn parse(stdout: &[u8]) -> Result<CniError, serde_json::Error> {
        serde_json::from_slice(stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_the_spec_fields() {
        let e = CniError::new(7, "bad vlanId").with_details("range 0..4094");
        let v = e.to_json("1.0.0");
        assert_eq!(
            v,
            serde_json::json!({"cniVersion":"1.0.0","code":7,"msg":"bad vlanId","details":"range 0..4094"})
        );
        assert!(
            CniError::new(4, "x")
                .to_json("1.1.0")
                .get("details")
                .is_none()
        );
    }

    #[test]
    fn parses_go_style_errors_without_cni_version() {
        let e = CniError::parse(br#"{"code": 999, "msg": "failed"}"#).unwrap();
        assert_eq!(e, CniError::new(999, "failed"));
        assert!(CniError::parse(b"garbage").is_err());
        assert!(CniError::parse(br#"{"msg": "no code"}"#).is_err());
    }

    #[test]
    fn valid_codes_are_well_known_or_plugin_specific() {
        assert!(codes::is_valid(7) && codes::is_valid(11) && codes::is_valid(100));
        assert!(!codes::is_valid(0) && !codes::is_valid(8) && !codes::is_valid(99));
    }
}

//! Stdin, read once and decoded once. Every command reads the JSON object; delegates get the
//! raw bytes unchanged (the SPEC's "same configuration"); an error reply takes its version from
//! the object when it has a supported one.

use cni_types::CniVersion;
use serde_json::{Map, Value};

use crate::config;
use crate::error::Error;

pub struct Stdin {
    raw: Vec<u8>,
    /// The configuration object, or why the bytes are none (kept as the decode error's text,
    /// so each command that needs the object reports the same code 6 error).
    object: Result<Map<String, Value>, String>,
}

impl Stdin {
    pub fn new(raw: Vec<u8>) -> Stdin {
        let object = config::decode(&raw).map_err(|e| match e {
            Error::Decode(reason) => reason,
            other => other.to_string(),
        });
        Stdin { raw, object }
    }

    /// The bytes as received, for delegates.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Nothing but whitespace: VERSION may be called so.
    pub fn is_blank(&self) -> bool {
        self.raw.iter().all(u8::is_ascii_whitespace)
    }

    /// The configuration object; a code 6 error when stdin holds none.
    pub fn object(&self) -> Result<&Map<String, Value>, Error> {
        self.object
            .as_ref()
            .map_err(|reason| Error::Decode(reason.clone()))
    }

    /// The version to print in an error: the configuration's when it is a supported one.
    pub fn version_for_errors(&self) -> CniVersion {
        self.object
            .as_ref()
            .ok()
            .and_then(|c| config::version(c).ok())
            .unwrap_or(CniVersion::LATEST)
    }
}

#[cfg(test)]
mod tests {
    use cni_types::error::codes;

    use super::*;

    #[test]
    fn decoded_once_and_asked_many_times() {
        let stdin = Stdin::new(br#"{"cniVersion": "0.4.0", "name": "n"}"#.to_vec());
        assert_eq!(stdin.object().unwrap()["name"], "n");
        assert_eq!(stdin.version_for_errors(), CniVersion::V0_4_0);
        assert!(!stdin.is_blank());

        for bytes in [&b"{oops"[..], b"[1]", b" \n"] {
            let stdin = Stdin::new(bytes.to_vec());
            for _ in 0..2 {
                assert_eq!(stdin.object().unwrap_err().code(), codes::DECODING_FAILURE);
            }
            assert_eq!(stdin.version_for_errors(), CniVersion::LATEST);
            assert_eq!(stdin.raw(), bytes);
        }
        assert!(Stdin::new(b" \n".to_vec()).is_blank());
        let unknown = Stdin::new(br#"{"cniVersion": "9.9.9"}"#.to_vec());
        assert_eq!(unknown.version_for_errors(), CniVersion::LATEST);
    }
}

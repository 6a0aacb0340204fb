//! The result cache, in libcni's format so its tools can read ours: one JSON file per attachment
//! at `<dir>/results/<network>-<containerID>-<ifname>` (file 0600, folders 0700) holding
//! `{"kind":"cniCacheV1","containerId","config","ifName","networkName","netns","cniArgs",
//! "capabilityArgs","result"}`, where `config` is the list's JSON base64-encoded (Go's encoding
//! of `[]byte`). The folder is always the sandbox's own, never the host's /var/lib/cni.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attachment::{Attachment, AttachmentKey};
use super::conflist::NetworkConfigList;

const CACHE_KIND: &str = "cniCacheV1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCache {
    dir: PathBuf,
}

/// One cache file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedAttachment {
    pub kind: String,
    pub container_id: String,
    /// The configuration list JSON, base64-encoded.
    pub config: String,
    pub if_name: String,
    pub network_name: String,
    pub netns: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cni_args: Vec<[String; 2]>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub capability_args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

impl CachedAttachment {
    pub fn new(list: &NetworkConfigList, attachment: &Attachment, result: &Value) -> Self {
        CachedAttachment {
            kind: CACHE_KIND.into(),
            container_id: attachment.container_id.clone(),
            config: base64(list.to_json().to_string().as_bytes()),
            if_name: attachment.ifname.clone(),
            network_name: list.name.clone(),
            netns: attachment.netns.clone(),
            cni_args: attachment
                .cni_args
                .iter()
                .map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
            capability_args: attachment.capability_args.clone(),
            result: Some(result.clone()),
        }
    }

    pub fn key(&self) -> AttachmentKey {
        AttachmentKey {
            container_id: self.container_id.clone(),
            ifname: self.if_name.clone(),
        }
    }

    /// The attachment as the runtime described it at ADD time (what GC uses to DEL it).
    pub fn attachment(&self) -> Attachment {
        Attachment {
            container_id: self.container_id.clone(),
            ifname: self.if_name.clone(),
            netns: self.netns.clone(),
            cni_args: self
                .cni_args
                .iter()
                .map(|[k, v]| (k.clone(), v.clone()))
                .collect(),
            capability_args: self.capability_args.clone(),
        }
    }
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn results_dir(&self) -> PathBuf {
        self.dir.join("results")
    }

    pub fn path(&self, network: &str, key: &AttachmentKey) -> io::Result<PathBuf> {
        if network.is_empty() || key.container_id.is_empty() || key.ifname.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cache file path requires network name ({network:?}), container ID ({:?}), and interface name ({:?})",
                    key.container_id, key.ifname
                ),
            ));
        }
        Ok(self
            .results_dir()
            .join(format!("{network}-{}-{}", key.container_id, key.ifname)))
    }

    pub fn store(&self, entry: &CachedAttachment) -> io::Result<PathBuf> {
        let path = self.path(&entry.network_name, &entry.key())?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.results_dir())?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&serde_json::to_vec(entry)?)?;
        Ok(path)
    }

    /// `Ok(None)` when there is no cache file; an unreadable or corrupt one is an error.
    pub fn load(&self, network: &str, key: &AttachmentKey) -> io::Result<Option<CachedAttachment>> {
        let path = self.path(network, key)?;
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other?,
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Removes the cache file; a missing one is fine.
    pub fn remove(&self, network: &str, key: &AttachmentKey) -> io::Result<()> {
        match std::fs::remove_file(self.path(network, key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every readable entry of `network`, sorted by file name. Unreadable files are skipped, as
    /// libcni's `GetCachedAttachments` skips them.
    pub fn list(&self, network: &str) -> io::Result<Vec<CachedAttachment>> {
        let entries = match std::fs::read_dir(self.results_dir()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        Ok(paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|bytes| serde_json::from_slice::<CachedAttachment>(&bytes).ok())
            .filter(|entry| entry.kind == CACHE_KIND && entry.network_name == network)
            .collect())
    }
}

/// Standard base64 with padding, as Go's encoding/json writes a `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), encoded);
        }
    }
}

//! The suite-wide check after every successful ADD, for any plugin: each interface a result
//! places in a namespace of the sandbox (`sandbox` = that namespace's path) exists there under
//! exactly the result's `name`, and with its `mac` when the result gives one. A result naming a
//! link the kernel called otherwise (`CNI_IFNAME=%d` became `0`) sends the runtime, CHECK, DEL
//! and every later plugin of the chain after a link that is not there.

use std::path::Path;

use netlink_facts::LinkFacts;
use serde_json::Value;

use crate::sandbox::{Context, Sandbox, SandboxError, netlink};

/// One line per interface of `result` that is not where the result says it is; empty when
/// every one is (and for results without `interfaces`, such as 0.1.0/0.2.0 ones).
pub fn missing_result_interfaces(
    sandbox: &Sandbox,
    result: &Value,
) -> Result<Vec<String>, SandboxError> {
    let placed: Vec<Placed> = placed_interfaces(result);
    if placed.is_empty() {
        return Ok(Vec::new());
    }
    let links = sandbox.block_on(async {
        let mut links = Vec::new();
        for (netns, ns) in sandbox.namespaces() {
            let handle = sandbox.handle(netns)?;
            let dump = netlink::links(&handle)
                .await
                .context(|| format!("dumping the links of netns {netns}"))?;
            let facts: Vec<LinkFacts> = dump.iter().map(LinkFacts::from_message).collect();
            links.push((netns.to_string(), ns.path().to_path_buf(), facts));
        }
        Ok::<_, SandboxError>(links)
    })?;
    Ok(placed
        .iter()
        .filter_map(|want| {
            let Some((netns, _, facts)) = links
                .iter()
                .find(|(_, path, _)| path == Path::new(&want.sandbox))
            else {
                return Some(format!(
                    "the result places interface {:?} in {:?}, which is none of the sandbox's \
                     namespaces",
                    want.name, want.sandbox
                ));
            };
            let Some(link) = facts.iter().find(|l| l.name == want.name) else {
                let names: Vec<&str> = facts.iter().map(|l| l.name.as_str()).collect();
                return Some(format!(
                    "the result names interface {:?} in netns {netns}, but no link there has \
                     that name (links: {})",
                    want.name,
                    names.join(", ")
                ));
            };
            let mac = want.mac.as_deref()?;
            (link.mac.as_deref() != Some(mac.to_ascii_lowercase().as_str())).then(|| {
                format!(
                    "the result gives interface {netns}/{} the MAC {mac}, the link has {}",
                    want.name,
                    link.mac.as_deref().unwrap_or("none")
                )
            })
        })
        .collect())
}

struct Placed {
    name: String,
    sandbox: String,
    mac: Option<String>,
}

/// The result's interfaces with a non-empty `sandbox` (the others are on the host).
fn placed_interfaces(result: &Value) -> Vec<Placed> {
    let text = |interface: &Value, key: &str| {
        interface
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    result
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|interface| {
            Some(Placed {
                name: text(interface, "name")?,
                sandbox: text(interface, "sandbox")?,
                mac: text(interface, "mac"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_interfaces_with_a_sandbox_are_placed() {
        let result = json!({"interfaces": [
            {"name": "veth1", "mac": "aa:bb:cc:dd:ee:ff"},
            {"name": "eth0", "sandbox": "", "mac": "aa:bb:cc:dd:ee:00"},
            {"name": "eth0.3", "sandbox": "/run/netns/pod", "mac": "AA:BB:CC:DD:EE:01"},
            {"name": "net1", "sandbox": "/run/netns/pod"},
        ]});
        let placed = placed_interfaces(&result);
        let summary: Vec<(&str, &str, Option<&str>)> = placed
            .iter()
            .map(|p| (p.name.as_str(), p.sandbox.as_str(), p.mac.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("eth0.3", "/run/netns/pod", Some("AA:BB:CC:DD:EE:01")),
                ("net1", "/run/netns/pod", None)
            ]
        );
        assert!(placed_interfaces(&json!({"ip4": {"ip": "10.0.0.2/24"}})).is_empty());
    }
}

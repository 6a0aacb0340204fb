//! The `link-facts` expectation: what a type pack asserts about the links a plugin made (a
//! macvlan's mode and master, a bridge port's bridge, the node end of a veth and its address),
//! read off the sandbox's snapshot. A plugin that names a link itself (`veth1a2b3c4d`) is
//! matched by a glob, which must then find exactly one link.

use globset::Glob;

use super::model::LinkFactsExpect;
use crate::snapshot::{Link, NetnsState, Snapshot};

/// Every way the link `spec` (`netns/name`, the name may be a glob) differs from `want`, each
/// as a sentence; `Err` for a spec that is no `netns/name`.
pub fn problems(now: &Snapshot, spec: &str, want: &LinkFactsExpect) -> Result<Vec<String>, String> {
    let (netns, pattern) = spec
        .split_once('/')
        .ok_or_else(|| format!("link-facts key {spec:?} must be written netns/name"))?;
    let Some(state) = now.netns.get(netns) else {
        return Ok(vec![format!("link {spec}: netns {netns} is gone")]);
    };
    let matching = matching(state, pattern)?;
    let link = match matching.as_slice() {
        [link] => *link,
        [] => return Ok(vec![format!("link {spec} is missing")]),
        many => {
            let names: Vec<&str> = many.iter().map(|l| l.name.as_str()).collect();
            return Ok(vec![format!(
                "link {spec} matches {} links ({}), not one",
                many.len(),
                names.join(", ")
            )]);
        }
    };
    let mut problems = Vec::new();
    let mut differs = |what: &str, want: &str, got: Option<&str>| {
        let matches = match got {
            Some(got) if what == "peer" => glob_matches(want, got),
            Some(got) => got == want,
            None => false,
        };
        if !matches {
            problems.push(format!(
                "link {netns}/{}: {what} is {}, expected {want}",
                link.name,
                got.unwrap_or("(none)")
            ));
        }
    };
    if let Some(kind) = &want.kind {
        differs("kind", kind, link.kind.as_deref());
    }
    if let Some(mode) = &want.mode {
        differs("mode", mode, link.mode.as_deref());
    }
    if let Some(mtu) = want.mtu {
        differs("mtu", &mtu.to_string(), Some(&link.mtu.to_string()));
    }
    if let Some(up) = want.up {
        let word = |up: bool| if up { "up" } else { "down" };
        differs("state", word(up), Some(word(link.up)));
    }
    if let Some(parent) = &want.parent {
        differs("parent", parent, link.parent.as_deref());
    }
    if let Some(peer) = &want.peer {
        differs("peer", peer, link.peer.as_deref());
    }
    if let Some(master) = &want.master {
        differs("master", master, link.master.as_deref());
    }
    for cidr in &want.addresses {
        if !state
            .addresses
            .iter()
            .any(|a| a.link == link.name && &a.cidr == cidr)
        {
            problems.push(format!(
                "link {netns}/{}: address {cidr} is missing",
                link.name
            ));
        }
    }
    Ok(problems)
}

fn matching<'s>(state: &'s NetnsState, pattern: &str) -> Result<Vec<&'s Link>, String> {
    if !pattern.contains(['*', '?', '[']) {
        return Ok(state.links.iter().filter(|l| l.name == pattern).collect());
    }
    let glob = Glob::new(pattern)
        .map_err(|e| format!("link-facts name {pattern:?}: {e}"))?
        .compile_matcher();
    Ok(state
        .links
        .iter()
        .filter(|l| glob.is_match(&l.name))
        .collect())
}

/// `netns/name` against `netns/glob`.
fn glob_matches(pattern: &str, value: &str) -> bool {
    Glob::new(pattern)
        .map(|g| g.compile_matcher().is_match(value))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(yaml: &str) -> Snapshot {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    const STATE: &str = r#"
netns:
  node:
    links:
      - {name: cni-br0, kind: bridge, mtu: 1500, up: true}
      - {name: veth1a2b, kind: veth, peer: pod/eth0, mtu: 1500, up: true, master: node/cni-br0}
    addresses:
      - {link: cni-br0, cidr: 10.10.0.1/24, family: ipv4}
    routes: []
  pod:
    links:
      - {name: eth0, kind: veth, peer: node/veth1a2b, mtu: 1500, up: true}
    addresses: []
    routes: []
"#;

    #[test]
    fn a_glob_finds_the_one_link_and_each_fact_is_judged() {
        let now = snapshot(STATE);
        let want = LinkFactsExpect {
            kind: Some("veth".into()),
            master: Some("node/cni-br0".into()),
            peer: Some("pod/eth*".into()),
            mtu: Some(1500),
            ..Default::default()
        };
        assert_eq!(
            problems(&now, "node/veth*", &want).unwrap(),
            Vec::<String>::new()
        );
        let wrong = LinkFactsExpect {
            mtu: Some(1400),
            master: Some("node/other".into()),
            addresses: vec!["10.10.0.1/24".into()],
            ..Default::default()
        };
        assert_eq!(
            problems(&now, "node/veth*", &wrong).unwrap(),
            [
                "link node/veth1a2b: mtu is 1500, expected 1400",
                "link node/veth1a2b: master is node/cni-br0, expected node/other",
                "link node/veth1a2b: address 10.10.0.1/24 is missing",
            ]
        );
    }

    #[test]
    fn no_link_or_many_links_or_no_netns_is_a_problem_and_a_bad_key_an_error() {
        let now = snapshot(STATE);
        let any = LinkFactsExpect::default();
        assert_eq!(
            problems(&now, "pod/net1", &any).unwrap(),
            ["link pod/net1 is missing"]
        );
        assert_eq!(
            problems(&now, "node/*", &any).unwrap(),
            ["link node/* matches 2 links (cni-br0, veth1a2b), not one"]
        );
        assert_eq!(
            problems(&now, "gone/eth0", &any).unwrap(),
            ["link gone/eth0: netns gone is gone"]
        );
        assert!(problems(&now, "eth0", &any).is_err());
    }
}

//! Many plugin processes on one master at once, as a node starting pods at scale does.

mod common;

use std::time::Instant;

use cni_conform::topology::{VlanProtocol, VlanTag};
use common::*;
use serde_json::{Value, json};

const PROCESSES: u16 = 64;

fn l2_config(id: u16) -> Value {
    json!({"cniVersion": "1.0.0", "name": "vlan-net", "type": "vlan", "master": "eth0", "vlanId": id})
}

#[test]
fn sixty_four_concurrent_adds_then_dels_with_distinct_ids() {
    let sandbox = host_master_sandbox();
    let ifname = |id: u16| format!("v{id}");

    let started = Instant::now();
    let running: Vec<_> = (1..=PROCESSES)
        .map(|id| Call::new(&sandbox, "ADD", &ifname(id)).spawn(&l2_config(id)))
        .collect();
    for outcome in running.into_iter().map(Running::wait) {
        outcome.success();
    }
    eprintln!("{PROCESSES} concurrent ADDs took {:?}", started.elapsed());

    let vlans = links(&sandbox, "pod");
    assert_eq!(vlans.len(), usize::from(PROCESSES), "{vlans:#?}");
    for id in 1..=PROCESSES {
        let vlan = vlans.iter().find(|l| l.name == ifname(id)).unwrap();
        assert_eq!(
            vlan.vlan,
            Some(VlanTag {
                id,
                protocol: VlanProtocol::Ieee8021Q
            })
        );
        assert_eq!(vlan.parent.as_deref(), Some("node/eth0"));
        assert!(vlan.up);
    }
    assert_no_temp_links(&sandbox);

    let running: Vec<_> = (1..=PROCESSES)
        .map(|id| Call::new(&sandbox, "DEL", &ifname(id)).spawn(&l2_config(id)))
        .collect();
    for outcome in running.into_iter().map(Running::wait) {
        outcome.success();
    }
    assert!(links(&sandbox, "pod").is_empty());
    assert!(link(&sandbox, "node", "eth0").is_some());
}

#[test]
fn two_adds_racing_for_the_same_id_one_wins_one_fails_cleanly() {
    let sandbox = host_master_sandbox();
    let config = l2_config(7);
    for round in 0..5 {
        let a = Call::new(&sandbox, "ADD", "a").spawn(&config);
        let b = Call::new(&sandbox, "ADD", "b").spawn(&config);
        let outcomes = [a.wait(), b.wait()];
        let winners: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Some(0)).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:#?}");
        let loser = outcomes.iter().find(|o| o.status != Some(0)).unwrap();
        let error = loser.error();
        assert_eq!(error.code, 102, "round {round}: {error:?}");
        assert_eq!(
            error.msg,
            "master \"eth0\" already has a 802.1Q VLAN with id 7 (maybe in another network namespace)"
        );
        assert_no_temp_links(&sandbox);
        assert_eq!(links(&sandbox, "pod").len(), 1);

        for name in ["a", "b"] {
            Call::new(&sandbox, "DEL", name).run(&config).success();
        }
        assert!(links(&sandbox, "pod").is_empty());
    }
}

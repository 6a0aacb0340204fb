//! The runner's promise: a test that needs a VLAN passes here (natively or inside UML).

#[test]
fn this_kernel_can_create_an_8021q_link() {
    eprintln!("running on {}", cni_conform::kernel::current());
    cni_conform::kernel::require_vlan();
}

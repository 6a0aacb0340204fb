fn main() {
    std::process::exit(cni_vlan::run());
}

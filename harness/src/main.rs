fn main() {
    println!("{}", cni_conform::kernel::current());
}

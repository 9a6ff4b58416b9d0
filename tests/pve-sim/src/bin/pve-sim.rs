fn main() {
    eprintln!("pve-sim: not yet");
    std::process::exit(2);
}

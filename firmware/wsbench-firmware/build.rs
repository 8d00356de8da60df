//! Links against esp-hal's linker scripts; the image layout comes from them.
fn main() {
    println!("cargo:rustc-link-arg=-Tlinkall.x");
}

//! Link settings of release builds of the `ecs-operator` binary on x86_64 Linux.
//!
//! - `link-order.txt` (written by `scripts/link-order`) lists the functions one operator run
//!   executes, about 5 of the 26 MiB of code. The linker places them first, next to each
//!   other, so the pages a run touches are few: the kernel maps executable pages 64 KiB at a
//!   time, and spread over the whole text the same functions kept about 21 MiB resident at
//!   1,000 services, against about 6 MiB ordered (BENCHMARKS.md). A function missing from the
//!   list (new code, a renamed generic) is only placed after the listed ones.
//! - Relative relocations are packed (`-z pack-relative-relocs`, DT_RELR, glibc 2.36 or newer
//!   at run time; the image's distroless Debian 12 has 2.36): 2.5 MB of relocation records
//!   that every start reads become 34 KB.
//!
//! Both options need rust-lld, the default linker of `x86_64-unknown-linux-gnu` since Rust
//! 1.90; `ECS_OPERATOR_LINK_ORDER=off` builds without them (another linker, an older glibc).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=ECS_OPERATOR_LINK_ORDER");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let off = std::env::var("ECS_OPERATOR_LINK_ORDER").as_deref() == Ok("off");
    if !release || target != "x86_64-unknown-linux-gnu" || off {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let order = Path::new(&dir).join("link-order.txt");
    let bin = "cargo:rustc-link-arg-bin=ecs-operator";
    if order.exists() {
        println!("{bin}=-Wl,--symbol-ordering-file={}", order.display());
        println!("{bin}=-Wl,--no-warn-symbol-ordering");
    }
    println!("{bin}=-Wl,-z,pack-relative-relocs");
}

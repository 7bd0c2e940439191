//! Tells the tests whether the shared data sets are present: sets `cfg(shared_data)` when the
//! folder exists (`$AUTODIDACT_DATA`, else `../shared/data` beside the workspace) and passes its
//! path as `AUTODIDACT_SHARED_DATA`, so tests that read it are ignored, with a reason, where it is
//! absent instead of passing without running.

use std::path::PathBuf;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(shared_data)");
    println!("cargo:rustc-check-cfg=cfg(has_strace)");
    println!("cargo:rerun-if-env-changed=PATH");
    // The checkpoint durability test watches the binary's syscalls through strace.
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    };
    if on_path("strace") {
        println!("cargo:rustc-cfg=has_strace");
    }
    println!("cargo:rerun-if-env-changed=AUTODIDACT_DATA");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let data = std::env::var_os("AUTODIDACT_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // `../shared/data` beside the workspace: the nearest ancestor of the manifest that
            // has it (member crates live two levels below the workspace root).
            manifest_dir
                .ancestors()
                .map(|dir| dir.join("../shared/data"))
                .find(|candidate| candidate.is_dir())
                .unwrap_or_else(|| manifest_dir.join("../shared/data"))
        });
    if data.is_dir() {
        println!("cargo:rustc-cfg=shared_data");
    }
    println!("cargo:rustc-env=AUTODIDACT_SHARED_DATA={}", data.display());
    // A path that does not exist would make Cargo rerun this script on every build, so watch
    // the folder's manifest when there is one, else this file.
    let manifest = data.join("MANIFEST.md");
    if manifest.is_file() {
        println!("cargo:rerun-if-changed={}", manifest.display());
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}

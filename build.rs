//! Sets `upload` where uploads are built: the `upload` feature on a Unix target (`openat`,
//! `linkat`). Sets `cgi` where CGI is built: the `cgi` feature on a Unix target (scripts need process
//! groups, pipes and signals; on Windows the feature builds nothing and `basehttp --cgi` says
//! so). Sets `clone_spawn` where `src/cgi/spawn.rs` is built: 64-bit Linux targets with the
//! generic signal ABI (32-bit ids in the credential system calls, an 8-byte kernel signal set).
//! Sets `sendfile` where `src/sendfile.rs` is built: the `fs` feature on 64-bit Linux targets
//! whose `cachestat` system call number is known.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(cgi)");
    println!("cargo::rustc-check-cfg=cfg(clone_spawn)");
    println!("cargo::rustc-check-cfg=cfg(upload)");
    println!("cargo::rustc-check-cfg=cfg(sendfile)");
    let unix = std::env::var("CARGO_CFG_TARGET_FAMILY")
        .unwrap_or_default()
        .split(',')
        .any(|family| family == "unix");
    if unix && std::env::var_os("CARGO_FEATURE_CGI").is_some() {
        println!("cargo::rustc-cfg=cgi");
    }
    if unix && std::env::var_os("CARGO_FEATURE_UPLOAD").is_some() {
        println!("cargo::rustc-cfg=upload");
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux"
        && matches!(
            arch.as_str(),
            "x86_64" | "aarch64" | "riscv64" | "loongarch64"
        )
    {
        println!("cargo::rustc-cfg=clone_spawn");
    }
    // `cachestat` (Linux 6.5) has the same number on these as on every architecture with the
    // generic system call table.
    if os == "linux"
        && matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64")
        && std::env::var_os("CARGO_FEATURE_FS").is_some()
    {
        println!("cargo::rustc-cfg=sendfile");
    }
}

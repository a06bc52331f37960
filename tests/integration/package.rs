//! The package as a dependency and as a repository: what `basehttp = "0.1"` pulls in, the
//! metadata crates.io shows, and documentation whose links stay inside the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A plain `basehttp` dependency (default features) builds no command-line parser, TLS stack,
/// HTTP/2 implementation or web framework: the library a Rust application adds stays small.
#[test]
fn a_plain_dependency_is_library_sized() {
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(work.path().join("src")).expect("mkdir");
    std::fs::write(work.path().join("src/lib.rs"), "").expect("write");
    std::fs::write(
        work.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nbasehttp = {{ path = {:?} }}\n\n[workspace]\n",
            repo()
        ),
    )
    .expect("write manifest");
    std::fs::copy(repo().join("Cargo.lock"), work.path().join("Cargo.lock")).expect("lock");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .current_dir(work.path())
        .output()
        .expect("cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let mut crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split(' ').next())
        .filter(|name| *name != "app")
        .collect();
    crates.sort_unstable();
    crates.dedup();
    for heavy in ["clap", "rustls", "tokio-rustls", "ring", "h2", "axum"] {
        assert!(
            !crates.contains(&heavy),
            "{heavy} is built for a plain dependency: {crates:?}"
        );
    }
    for wanted in [
        "basehttp",
        "hyper",
        "tower",
        "tokio",
        "mime_guess",
        "tracing-subscriber",
    ] {
        assert!(crates.contains(&wanted), "{wanted} missing: {crates:?}");
    }
    // 72 when this was written (139 with HTTP/2, HTTPS, axum and clap by default).
    assert!(crates.len() < 90, "{} crates: {crates:?}", crates.len());
}

#[test]
fn cargo_metadata_names_the_repository_and_docs() {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("manifest");
    let package = manifest.split("\n[").next().unwrap_or_default();
    for key in [
        "repository",
        "documentation",
        "homepage",
        "license",
        "description",
    ] {
        assert!(
            package
                .lines()
                .any(|l| l.starts_with(&format!("{key} = \""))),
            "Cargo.toml's [package] has no {key}"
        );
    }
}

/// Every relative link of the README and the docs leads to a file of the repository: a clone
/// is all a user has.
#[test]
fn documentation_links_stay_inside_the_repository() {
    let root = repo();
    let mut pages = vec![root.join("README.md"), root.join("DEVELOPERS.md")];
    for entry in std::fs::read_dir(root.join("docs"))
        .expect("docs")
        .flatten()
    {
        pages.push(entry.path());
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read page");
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else {
                continue;
            };
            let target = &rest[..end];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with('#')
                || target.starts_with("mailto:")
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = page.parent().unwrap_or(Path::new(".")).join(path);
            let inside = resolved
                .canonicalize()
                .is_ok_and(|p| p.starts_with(root.canonicalize().unwrap_or_default()));
            if !inside {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links that lead nowhere in a clone: {broken:#?}"
    );
}

//! Every Rust snippet of the README and of docs/migration.md compiles in a new crate, as a user
//! would paste it: one whose only dependencies are `basehttp` and `tokio`. A snippet about
//! mounting basehttp in another stack (axum, tower-http, hyper-util, a tracing subscriber) also
//! gets that crate, and `tower`, which those build on; nothing else.
//!
//! A snippet that needs one of basehttp's opt-in features says so in a first-line comment,
//! `// Cargo.toml: basehttp = { version = "0.1", features = ["tls", "http2"] }`. Such snippets
//! are checked in a workspace of their own, whose basehttp has the features they declare (and no
//! others), so that the other snippets are checked with the default features only.
//!
//! The crates are checked offline against this repository's `Cargo.lock`, in
//! `target/snippets`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fenced Rust block: where it starts, and its text.
struct Snippet {
    name: String,
    origin: String,
    code: String,
}

/// The crates a snippet about the ecosystem may name, with what the snippet crate depends on.
const ECOSYSTEM: [(&str, &str); 6] = [
    ("axum", r#"axum = "0.8.9""#),
    (
        "tower_http",
        r#"tower-http = { version = "0.7.1", features = ["full"] }"#,
    ),
    (
        "hyper_util",
        r#"hyper-util = { version = "0.1.21", features = ["tokio", "server", "server-auto", "http1", "http2", "service"] }"#,
    ),
    (
        "tracing_subscriber",
        r#"tracing-subscriber = { version = "0.3.23", default-features = false, features = ["fmt", "std", "registry"] }"#,
    ),
    ("tracing", r#"tracing = "0.1.44""#),
    (
        "tower",
        r#"tower = { version = "0.5.3", features = ["util"] }"#,
    ),
];

fn snippets(file: &str) -> Vec<Snippet> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(file)).expect("read markdown");
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("doc")
        .to_ascii_lowercase();
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut code = String::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            code.push_str(line);
            code.push('\n');
        }
        let rust = info == "rust" || info.starts_with("rust,");
        if !rust || info.contains("ignore") {
            continue;
        }
        found.push(Snippet {
            name: format!("{stem}_line_{}", number + 1),
            origin: format!("{file}:{}", number + 1),
            code,
        });
    }
    found
}

/// Whether `code` names the crate `name` (`name::…`).
fn names_crate(code: &str, name: &str) -> bool {
    code.match_indices(&format!("{name}::")).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// As rustdoc does: a snippet without `fn main` is the body of one.
fn as_program(code: &str) -> String {
    if code.contains("fn main") {
        format!("#![allow(unused)]\n{code}")
    } else {
        format!("#![allow(unused)]\nfn main() {{\n{code}}}\n")
    }
}

/// The basehttp features a snippet declares in its `// Cargo.toml:` comment.
fn declared_features(code: &str) -> Vec<String> {
    let Some(line) = code
        .lines()
        .find(|l| l.trim_start().starts_with("// Cargo.toml: basehttp"))
    else {
        return Vec::new();
    };
    let Some((_, list)) = line.split_once("features = [") else {
        return Vec::new();
    };
    list.split(']')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

fn write_crate(
    dir: &Path,
    name: &str,
    features: &[String],
    dependencies: &[&str],
    snippets: &[&Snippet],
) {
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nbasehttp = {{ path = {repo:?}, features = {features:?} }}\n\
         tokio = {{ version = \"1.54.1\", features = [\"full\"] }}\n"
    );
    for dependency in dependencies {
        manifest.push_str(dependency);
        manifest.push('\n');
    }
    let examples = dir.join(name).join("examples");
    std::fs::create_dir_all(&examples).expect("mkdir");
    std::fs::create_dir_all(dir.join(name).join("src")).expect("mkdir");
    std::fs::write(dir.join(name).join("src/lib.rs"), "").expect("write");
    for snippet in snippets {
        let _ = writeln!(manifest, "\n[[example]]\nname = \"{}\"", snippet.name);
        std::fs::write(
            examples.join(format!("{}.rs", snippet.name)),
            as_program(&snippet.code),
        )
        .expect("write snippet");
    }
    std::fs::write(dir.join(name).join("Cargo.toml"), manifest).expect("write manifest");
}

#[test]
fn readme_and_migration_snippets_compile_with_basehttp_and_tokio_alone() {
    let all: Vec<Snippet> = ["README.md", "docs/migration.md"]
        .iter()
        .flat_map(|file| snippets(file))
        .collect();
    assert!(all.len() >= 20, "found only {} snippets", all.len());

    // Features unify within a workspace: snippets that declare features get a workspace of
    // their own, so the others are checked with the defaults only.
    let (featured, undeclared): (Vec<&Snippet>, Vec<&Snippet>) = all
        .iter()
        .partition(|s| !declared_features(&s.code).is_empty());
    let (plain, ecosystem): (Vec<&Snippet>, Vec<&Snippet>) =
        undeclared.into_iter().partition(|s| {
            !ECOSYSTEM[..5]
                .iter()
                .any(|(name, _)| names_crate(&s.code, name))
        });
    // A plain snippet names no other crate than basehttp, tokio and std.
    for snippet in &plain {
        for name in ["tower", "http", "hyper", "bytes", "http_body_util"] {
            assert!(
                !names_crate(&snippet.code, name),
                "{}: names `{name}::`, a dependency a new crate does not have (use basehttp's \
                 re-exports)",
                snippet.origin
            );
        }
    }

    let work = tempfile::tempdir().expect("tempdir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut features: Vec<String> = featured
        .iter()
        .flat_map(|s| declared_features(&s.code))
        .collect();
    features.sort();
    features.dedup();
    let extra: Vec<&str> = ECOSYSTEM.iter().map(|(_, dep)| *dep).collect();
    let workspaces: [(&str, Vec<(&str, &[String], &[&str], &[&Snippet])>); 2] = [
        (
            "defaults",
            vec![
                ("plain", &[], &[], &plain),
                ("ecosystem", &[], &extra, &ecosystem),
            ],
        ),
        ("featured", vec![("featured", &features, &extra, &featured)]),
    ];
    let mut report = String::new();
    let mut stderr_all = String::new();
    let mut ok = true;
    for (workspace, crates) in workspaces {
        let dir = work.path().join(workspace);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let members: Vec<String> = crates.iter().map(|c| format!("{:?}", c.0)).collect();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = [{}]\nresolver = \"3\"\n",
                members.join(", ")
            ),
        )
        .expect("write workspace");
        std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy lock");
        for (name, features, dependencies, snippets) in &crates {
            write_crate(&dir, name, features, dependencies, snippets);
        }
        let output = Command::new(env!("CARGO"))
            .args([
                "check",
                "--offline",
                "--quiet",
                "--workspace",
                "--examples",
                "--keep-going",
                "--message-format",
                "short",
            ])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", repo.join("target/snippets"))
            .env_remove("RUSTFLAGS")
            .output()
            .expect("run cargo");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines().filter(|l| l.contains("error")) {
            let origin = all
                .iter()
                .find(|s| line.contains(&format!("{}.rs", s.name)))
                .map_or("", |s| s.origin.as_str());
            let _ = writeln!(report, "{origin}: {line}");
        }
        ok &= output.status.success();
        stderr_all.push_str(&stderr);
    }
    assert!(
        ok,
        "snippets that do not compile in a new crate:\n{report}\n{stderr_all}"
    );
}

//! Every Python name of docs/python-mapping.md that maps to something in basehttp is found by
//! rustdoc's search: an item of that name, or a `#[doc(alias)]`. The crate's documentation is
//! built (`cargo doc --no-deps --all-features`, into `target/snippets`) and its search index
//! read back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The names (and aliases) rustdoc's search knows, as it normalises them: lower case, no `_`.
fn indexed_names(doc: &Path) -> BTreeSet<String> {
    let dir = doc.join("search.index/normalizedName");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("search index").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("read index file");
        let Some(payload) = text
            .strip_prefix("rd_(\"")
            .and_then(|t| t.trim_end().strip_suffix("\")"))
        else {
            continue;
        };
        for name in decode_column(&unescape_js(payload)) {
            names.insert(String::from_utf8_lossy(&name).into_owned());
        }
    }
    assert!(
        names.len() > 100,
        "read only {} names from {dir:?}",
        names.len()
    );
    names
}

/// A JavaScript string literal's content, as the bytes `charCodeAt` gives.
fn unescape_js(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(u8::try_from(u32::from(c)).unwrap_or(b'?'));
            continue;
        }
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
            let digits: String = chars.take(n).collect();
            u32::from_str_radix(&digits, 16).unwrap_or(u32::from(b'?'))
        };
        let code = match chars.next() {
            Some('n') => u32::from(b'\n'),
            Some('r') => u32::from(b'\r'),
            Some('t') => u32::from(b'\t'),
            Some('0') => 0,
            Some('x') => hex(&mut chars, 2),
            Some('u') => hex(&mut chars, 4),
            Some(other) => u32::from(other),
            None => break,
        };
        out.push(u8::try_from(code).unwrap_or(b'?'));
    }
    out
}

/// rustdoc's (stringdex's) column encoding: each entry is a length in hex nibbles (every byte
/// below 0x60 a leading nibble, the byte at or above it the last) followed by that many bytes;
/// a byte from `0` to `?` repeats one of the last sixteen entries.
fn decode_column(data: &[u8]) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if (48..=63).contains(&c) {
            i += 1;
            continue;
        }
        let mut n = 0usize;
        let mut c = c;
        while c < 96 {
            n = (n << 4) | usize::from(c & 0xF);
            i += 1;
            c = *data.get(i).unwrap_or(&96);
        }
        n = (n << 4) | usize::from(c & 0xF);
        i += 1;
        let end = (i + n).min(data.len());
        entries.push(data[i..end].to_vec());
        i = end;
    }
    entries
}

/// The Python names of the mapping's tables: the code spans of each row's first cell, outside
/// parenthesised remarks, for rows whose basehttp side is not "not applicable". `self.path`
/// counts as `path`, `send_error(code, …)` as `send_error`, `http.HTTPStatus` as `HTTPStatus`;
/// the command line's section, flags and phrases are left out.
fn python_names(mapping: &str) -> Vec<String> {
    let mut names = Vec::new();
    // The command line's flags are not Rust items.
    let library = mapping.split("\n## Command line").next().unwrap_or(mapping);
    for line in library.lines() {
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").map(str::trim).collect();
        if cells.len() < 2 || cells[0].starts_with("---") || cells[0] == "Python" {
            continue;
        }
        if cells[1].starts_with("not applicable") {
            continue;
        }
        let (mut depth, mut code, mut span) = (0usize, false, String::new());
        for c in cells[0].chars() {
            match (c, code) {
                ('`', false) => code = true,
                ('`', true) => {
                    code = false;
                    if depth == 0 {
                        names.push(std::mem::take(&mut span));
                    }
                    span.clear();
                }
                (_, true) => span.push(c),
                ('(', false) => depth += 1,
                (')', false) => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    names
        .into_iter()
        .filter_map(|span| {
            let span = span.split('(').next().unwrap_or_default();
            let name = span.rsplit('.').next().unwrap_or_default();
            let identifier = name
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            (identifier && name != "self" && !span.contains(' ')).then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn every_python_name_of_the_mapping_is_found_by_rustdoc_search() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = repo.join("target/snippets");
    let output = Command::new(env!("CARGO"))
        .args([
            "doc",
            "--offline",
            "--quiet",
            "--no-deps",
            "-p",
            "basehttp",
            "--all-features",
        ])
        .current_dir(&repo)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTDOCFLAGS")
        .output()
        .expect("run cargo doc");
    assert!(
        output.status.success(),
        "cargo doc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let index = target.join("doc/search.index/normalizedName");
    if !index.is_dir() {
        // rustdoc's search index took this layout in 2025; older toolchains write another.
        assert!(
            std::env::var_os("BASEHTTP_REQUIRE_TOOLS").is_none(),
            "no {index:?}: this rustdoc writes another search index"
        );
        eprintln!("rustdoc writes another search index layout: skipped");
        return;
    }
    let indexed = indexed_names(&target.join("doc"));

    let mapping = std::fs::read_to_string(repo.join("docs/python-mapping.md")).expect("mapping");
    let names = python_names(&mapping);
    assert!(names.len() > 80, "found only {} Python names", names.len());
    let missing: BTreeSet<&str> = names
        .iter()
        .filter(|name| !indexed.contains(&name.to_lowercase().replace('_', "")))
        .map(String::as_str)
        .collect();
    assert!(
        missing.is_empty(),
        "Python names rustdoc's search does not find (add the item or a #[doc(alias)]): \
         {missing:?}"
    );
    // The decoder and the extraction are checked on names known to be there.
    for known in [
        "SimpleHTTPRequestHandler",
        "do_GET",
        "HTTPStatus",
        "send_response",
    ] {
        assert!(names.iter().any(|n| n == known), "{known} not extracted");
    }
}

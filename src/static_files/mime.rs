//! Python's `guess_type`: `extensions_map` first, then what `mimetypes` would say.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use http::HeaderValue;

use super::table::Table;

/// Python's `SimpleHTTPRequestHandler.extensions_map` defaults (`_encodings_map_default`): types
/// for compressed files, which `mimetypes` would otherwise report as the inner type.
pub const DEFAULT_EXTENSIONS_MAP: [(&str, &str); 4] = [
    (".gz", "application/gzip"),
    (".Z", "application/octet-stream"),
    (".bz2", "application/x-bzip2"),
    (".xz", "application/x-xz"),
];

/// `mimetypes.suffix_map`: shorthand suffixes expanded before the lookup.
const SUFFIX_MAP: [(&str, &str); 6] = [
    (".svgz", ".svg.gz"),
    (".tgz", ".tar.gz"),
    (".taz", ".tar.gz"),
    (".tz", ".tar.gz"),
    (".tbz2", ".tar.bz2"),
    (".txz", ".tar.xz"),
];

/// `mimetypes.encodings_map` (case-sensitive): content encodings stripped before the lookup.
const ENCODINGS: [&str; 5] = [".gz", ".Z", ".bz2", ".xz", ".br"];

/// The files `mimetypes.init()` reads, in order; later ones override earlier ones.
const KNOWN_FILES: [&str; 8] = [
    "/etc/mime.types",
    "/etc/httpd/mime.types",
    "/etc/httpd/conf/mime.types",
    "/etc/apache/mime.types",
    "/etc/apache2/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/mime.types",
];

/// `posixpath.splitext`: the extension of the last component, unless that component is only
/// dots before its first other character (`.bashrc` has none).
pub(crate) fn splitext(path: &str) -> (&str, &str) {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let name = &path[name_start..];
    match name.rfind('.') {
        Some(dot) if name[..dot].chars().any(|c| c != '.') => path.split_at(name_start + dot),
        _ => (path, ""),
    }
}

/// Python's `guess_type(path)` for a `SimpleHTTPRequestHandler` with `extensions_map` (whose
/// keys are kept as given and whose values are ready header values).
pub(crate) fn guess_type(path: &str, extensions_map: &Table<String, HeaderValue>) -> HeaderValue {
    let (base, ext) = splitext(path);
    if let Some(mime) = extensions_map.get(ext) {
        return mime.clone();
    }
    // Lower-cased, the extension is looked up again (unless that changes nothing).
    if ext.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut lower = [0u8; 16];
        if let Some(lower) = ascii_lowercase(ext, &mut lower) {
            if let Some(mime) = extensions_map.get(lower) {
                return mime.clone();
            }
        } else if let Some(mime) = extensions_map.get(&ext.to_ascii_lowercase()) {
            return mime.clone();
        }
    }
    match mimetypes_guess(base, ext) {
        Some(mime) => mime,
        None => HeaderValue::from_static("application/octet-stream"),
    }
}

/// `s` lower-cased into `buf`, when it fits (extensions are short): no allocation.
fn ascii_lowercase<'a>(s: &str, buf: &'a mut [u8; 16]) -> Option<&'a str> {
    let bytes = s.as_bytes();
    let out = buf.get_mut(..bytes.len())?;
    out.copy_from_slice(bytes);
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

/// `mimetypes.guess_file_type(path)[0]`, for `path` split by [`splitext`]: suffix expansion, encoding stripping, then the
/// host's `mime.types` files (as Python reads them) and mime_guess's table in place of
/// Python's built-in one.
fn mimetypes_guess(base: &str, ext: &str) -> Option<HeaderValue> {
    if !is_suffix(ext) {
        return lookup_after_encoding(base, ext);
    }
    let (mut base, mut ext) = (base.to_owned(), ext.to_owned());
    while let Some((_, expansion)) = SUFFIX_MAP
        .iter()
        .find(|(suffix, _)| suffix.eq_ignore_ascii_case(&ext))
    {
        let joined = format!("{base}{expansion}");
        let (b, e) = splitext(&joined);
        (base, ext) = (b.to_owned(), e.to_owned());
    }
    lookup_after_encoding(&base, &ext)
}

fn is_suffix(ext: &str) -> bool {
    SUFFIX_MAP
        .iter()
        .any(|(suffix, _)| suffix.eq_ignore_ascii_case(ext))
}

fn lookup_after_encoding(base: &str, ext: &str) -> Option<HeaderValue> {
    let ext = if ENCODINGS.contains(&ext) {
        splitext(base).1
    } else {
        ext
    };
    if ext.len() < 2 {
        return None;
    }
    let mut buf = [0u8; 16];
    let owned;
    let lower = match ascii_lowercase(ext, &mut buf) {
        Some(lower) => lower,
        None => {
            owned = ext.to_ascii_lowercase();
            &owned
        }
    };
    if let Some(mime) = system_types().get(lower) {
        return Some(mime.clone());
    }
    mime_guess::from_ext(&lower[1..])
        .first_raw()
        .map(HeaderValue::from_static)
}

static TYPES: OnceLock<Table<String, HeaderValue>> = OnceLock::new();

/// Whether the host's `mime.types` have been read (the cached fast path must not read them).
#[cfg(target_os = "linux")]
pub(crate) fn is_loaded() -> bool {
    TYPES.get().is_some()
}

/// The host's `mime.types` files, read once (on first use, which is inside the blocking
/// resolver, never on the async runtime).
fn system_types() -> &'static Table<String, HeaderValue> {
    TYPES.get_or_init(|| {
        let mut types = HashMap::new();
        for file in KNOWN_FILES {
            if let Ok(text) = std::fs::read_to_string(file) {
                parse_mime_types(&text, &mut types);
            }
        }
        static_values(types)
    })
}

/// `types` (extension to type) with each type kept for the life of the process, once, as a
/// static value: a response's `Content-Type` is then a copy of a pointer, not a reference
/// count taken and given back. Types that cannot be a header value are left out. Called once
/// per process, for the host's `mime.types`.
fn static_values(types: HashMap<String, String>) -> Table<String, HeaderValue> {
    let mut values: HashMap<String, Option<HeaderValue>> = HashMap::new();
    types
        .into_iter()
        .filter_map(|(ext, mime)| {
            let value = values.entry(mime).or_insert_with_key(|mime| {
                let kept: &'static str = Box::leak(mime.clone().into_boxed_str());
                HeaderValue::from_maybe_shared(Bytes::from_static(kept.as_bytes())).ok()
            });
            Some((ext, value.clone()?))
        })
        .collect()
}

/// `MimeTypes.readfp`: `type ext ext …` per line, `#` starts a comment.
fn parse_mime_types(text: &str, types: &mut HashMap<String, String>) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(mime) = words.next() else {
            continue;
        };
        for ext in words {
            types.insert(format!(".{}", ext.to_ascii_lowercase()), mime.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Table<String, HeaderValue> {
        DEFAULT_EXTENSIONS_MAP
            .iter()
            .map(|(e, t)| ((*e).to_owned(), HeaderValue::from_static(t)))
            .collect()
    }

    #[test]
    fn splitext_is_posixpaths() {
        assert_eq!(splitext("/a/b.tar.gz"), ("/a/b.tar", ".gz"));
        assert_eq!(splitext("/a/.bashrc"), ("/a/.bashrc", ""));
        assert_eq!(splitext("/a/..x"), ("/a/..x", ""));
        assert_eq!(splitext("/a.b/c"), ("/a.b/c", ""));
        assert_eq!(splitext("/a/b."), ("/a/b", "."));
    }

    #[test]
    fn extensions_map_wins() {
        let map = defaults();
        assert_eq!(guess_type("/x.tar.gz", &map), "application/gzip");
        assert_eq!(guess_type("/x.GZ", &map), "application/gzip");
        assert_eq!(guess_type("/x.Z", &map), "application/octet-stream");
        assert_eq!(guess_type("/x.bz2", &map), "application/x-bzip2");
        assert_eq!(guess_type("/x.xz", &map), "application/x-xz");
        assert_eq!(guess_type("/noext", &map), "application/octet-stream");
    }

    #[test]
    fn mimetypes_fallbacks() {
        let map = defaults();
        assert_eq!(guess_type("/x.html", &map), "text/html");
        assert_eq!(guess_type("/X.HTML", &map), "text/html");
        assert_eq!(guess_type("/x.txt", &map), "text/plain");
        assert_eq!(guess_type("/x.png", &map), "image/png");
        // suffix_map: .tgz -> .tar.gz, then the gzip encoding is stripped: a tar archive.
        assert_eq!(guess_type("/x.tgz", &map), "application/x-tar");
        // .br is an encoding for mimetypes: the inner type.
        assert_eq!(guess_type("/app.css.br", &map), "text/css");
    }

    #[test]
    fn system_types_are_kept_once_each() {
        let mut types = HashMap::new();
        parse_mime_types(
            "text/x-a a aa\napplication/x-b b\ntext/x-bad\u{7f} bad\n",
            &mut types,
        );
        let values = static_values(types);
        assert_eq!(
            values.get(".a").map(HeaderValue::as_bytes),
            Some(&b"text/x-a"[..])
        );
        assert_eq!(
            values.get(".b").map(HeaderValue::as_bytes),
            Some(&b"application/x-b"[..])
        );
        // Two extensions of one type share its bytes: kept once, not once per extension.
        let (a, aa) = (&values[".a"], &values[".aa"]);
        assert_eq!(a.as_bytes().as_ptr(), aa.as_bytes().as_ptr());
        // A type that cannot be sent is left out.
        assert!(!values.contains_key(".bad"));
    }

    #[test]
    fn mime_types_files_parse() {
        let mut types = HashMap::new();
        parse_mime_types(
            "# comment\ntext/x-a a aa\n\napplication/x-b b # trailing\n",
            &mut types,
        );
        assert_eq!(types.get(".a").map(String::as_str), Some("text/x-a"));
        assert_eq!(types.get(".aa").map(String::as_str), Some("text/x-a"));
        assert_eq!(types.get(".b").map(String::as_str), Some("application/x-b"));
        assert_eq!(types.get(".trailing"), None);
    }
}

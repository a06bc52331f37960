//! Python's `translate_path` and the pieces of `send_head` that only look at the request
//! target: pure functions, where the traversal tests and the property tests go.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

use super::names::{PathRules, Verdict};
use crate::kept::{self, Pool};

#[cfg(not(unix))]
use crate::confined::os_str;

/// A request target translated to a path below the served directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Translated {
    /// The path below the root, decoded, components joined with `/`; no component is `.`,
    /// `..` or empty. Empty for the root itself.
    path: Vec<u8>,
    /// Whether the target ended with `/` (or `%2f`/`%2F`).
    pub(crate) trailing_slash: bool,
}

/// Path buffers kept per thread for reuse, at most: a translation borrows one and gives it back
/// when dropped, so that a request's path costs no allocation in the steady state.
const KEPT: usize = 4;

/// Buffers larger than this (a very long path) are freed, not kept.
const MAX_KEPT_CAPACITY: usize = 1024;

thread_local! {
    static SPARE: Pool<Vec<u8>> = const { Pool::new(Vec::new()) };
}

impl Drop for Translated {
    /// The path's buffer is kept for a later [`translate`].
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        if (1..=MAX_KEPT_CAPACITY).contains(&path.capacity()) {
            kept::put(&SPARE, path, KEPT);
        }
    }
}

impl Translated {
    /// A path below the root, as [`Root::relative`](crate::confined::Root::relative) gives it.
    pub(crate) fn new(path: Vec<u8>, trailing_slash: bool) -> Self {
        Self {
            path,
            trailing_slash,
        }
    }

    /// The path relative to the root, for `openat` (`.` for the root itself).
    pub(crate) fn relative(&self) -> &[u8] {
        if self.path.is_empty() {
            b"."
        } else {
            &self.path
        }
    }

    /// Whether the target is the root itself.
    #[cfg(target_os = "linux")]
    pub(crate) fn is_root(&self) -> bool {
        self.path.is_empty()
    }

    /// The decoded components.
    #[cfg(any(not(unix), test))]
    pub(crate) fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.path.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }
}

/// Python 3.14's `SimpleHTTPRequestHandler.translate_path`, on bytes, with `rules` for the
/// names; `None` when the rules refuse a component (nothing is served).
///
/// The fragment, then the query, are cut; the rest is percent-decoded; `.` and empty components
/// are dropped and `..` removes the previous component (it can never climb above the root); a
/// trailing `/` — also a trailing `%2f` — is remembered. Decoding works on bytes, so a name
/// that is not UTF-8 is reached by its percent-encoded bytes (`%FF`); Python's own links for
/// such names (UTF-8-encoded surrogates, `%ED%B3%BF`) work too. The rules judge the components
/// left once `..` has been applied, as Python's `normpath` comes before its filter. One
/// allocation for POSIX names.
pub(crate) fn translate(target: &str, rules: PathRules) -> Option<Translated> {
    let path = target.split('#').next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let decoded: Cow<'_, [u8]> = percent_decode_str(path).into();
    let decoded = unescape_surrogates(&decoded);
    let trailing_slash = decoded.ends_with(b"/");
    let mut out: Vec<u8> = kept::take(&SPARE).unwrap_or_default();
    out.clear();
    out.reserve(decoded.len());
    for word in decoded.split(|&b| b == b'/') {
        match word {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            word => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(word);
            }
        }
    }
    if !rules.keeps_all() {
        out = apply(out, rules)?;
    }
    Some(Translated {
        path: out,
        trailing_slash,
    })
}

/// `path`'s components judged by `rules`: `None` if one is refused, else the path without the
/// skipped ones.
fn apply(path: Vec<u8>, rules: PathRules) -> Option<Vec<u8>> {
    let mut skips = false;
    for word in path.split(|&b| b == b'/').filter(|w| !w.is_empty()) {
        match rules.judge(word) {
            Verdict::Keep => {}
            Verdict::Skip => skips = true,
            Verdict::Refuse => return None,
        }
    }
    if !skips {
        return Some(path);
    }
    let mut kept = Vec::with_capacity(path.len());
    for word in path.split(|&b| b == b'/').filter(|w| !w.is_empty()) {
        if rules.judge(word) == Verdict::Keep {
            if !kept.is_empty() {
                kept.push(b'/');
            }
            kept.extend_from_slice(word);
        }
    }
    Some(kept)
}

/// Python names undecodable bytes with surrogates (`surrogateescape`) and quotes them as UTF-8
/// surrogates (`surrogatepass`): U+DC80..U+DCFF, encoded `ED B2 80`..`ED B3 BF`, stand for the
/// bytes 0x80..0xFF. Undo that so links from a Python listing reach the same files.
fn unescape_surrogates(bytes: &[u8]) -> Cow<'_, [u8]> {
    let is_escape =
        |w: &[u8]| w[0] == 0xED && (w[1] == 0xB2 || w[1] == 0xB3) && w[2] & 0xC0 == 0x80;
    if !bytes.windows(3).any(is_escape) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 3 <= bytes.len() && is_escape(&bytes[i..i + 3]) {
            // U+DC80 + b - 0x80: the code point's low byte is `(w1 & 0x03) << 6 | (w2 & 0x3F)`.
            out.push(0x80 | ((bytes[i + 1] & 0x01) << 6) | (bytes[i + 2] & 0x3F));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Python's `translate_path(path)` with `directory` as the served root: the path the request
/// would open (before symlinks are followed). Query and fragment are dropped, `..` never climbs
/// above `directory`, and a trailing slash is kept.
///
/// ```
/// use std::path::Path;
/// use basehttp::static_files::translate_path;
///
/// let root = Path::new("/srv");
/// assert_eq!(translate_path(root, "/a/b?x=1#f"), Path::new("/srv/a/b"));
/// assert_eq!(translate_path(root, "/../../etc/passwd"), Path::new("/srv/etc/passwd"));
/// assert_eq!(translate_path(root, "/%2e%2e/x"), Path::new("/srv/x"));
/// assert_eq!(translate_path(root, "/a/b%2f"), Path::new("/srv/a/b/"));
/// assert_eq!(translate_path(root, "/caf%C3%A9"), Path::new("/srv/café"));
/// ```
pub fn translate_path(directory: &Path, path: &str) -> PathBuf {
    let translated = translate(path, PYTHONS_RULES).unwrap_or_default();
    join(directory, &translated)
}

/// The rules Python itself translates with on this platform.
pub(crate) const PYTHONS_RULES: PathRules = if cfg!(windows) {
    PathRules::WindowsAsPython
} else {
    PathRules::Posix
};

/// `directory` joined with a translated path, in one allocation.
#[cfg(unix)]
pub(crate) fn join(directory: &Path, translated: &Translated) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let directory = directory.as_os_str().as_encoded_bytes();
    let mut out = Vec::with_capacity(directory.len() + translated.path.len() + 2);
    out.extend_from_slice(directory);
    if !translated.path.is_empty() {
        if !out.is_empty() && !out.ends_with(b"/") {
            out.push(b'/');
        }
        out.extend_from_slice(&translated.path);
    }
    if translated.trailing_slash {
        out.push(b'/');
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(not(unix))]
pub(crate) fn join(directory: &Path, translated: &Translated) -> PathBuf {
    let mut out = directory.to_path_buf();
    for component in translated.components() {
        out.push(os_str(component));
    }
    if translated.trailing_slash {
        let mut with_slash = out.into_os_string();
        with_slash.push("/");
        out = PathBuf::from(with_slash);
    }
    out
}

/// The parts of Python's `urllib.parse.urlsplit`.
#[derive(Debug, PartialEq, Eq)]
struct Split<'a> {
    scheme: Option<&'a str>,
    netloc: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn urlsplit(url: &str) -> Split<'_> {
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (url, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (scheme, rest) = match rest.split_once(':') {
        Some((scheme, after))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (Some(scheme), after)
        }
        _ => (None, rest),
    };
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    };
    Split {
        scheme,
        netloc,
        path,
        query,
        fragment,
    }
}

/// Python's directory redirect: `None` when the target's path already ends with `/` (or
/// `%2f`/`%2F`, 3.14), else the `Location` — the target with `/` appended to its path, query and
/// fragment kept.
///
/// ```
/// # use basehttp::static_files::directory_redirect;
/// assert_eq!(directory_redirect("/sub?a=1"), Some("/sub/?a=1".to_owned()));
/// assert_eq!(directory_redirect("sub"), Some("sub/".to_owned()));
/// assert_eq!(directory_redirect("/sub/"), None);
/// assert_eq!(directory_redirect("/sub%2F"), None);
/// ```
pub fn directory_redirect(target: &str) -> Option<String> {
    let split = urlsplit(target);
    let path = split.path;
    if path.ends_with('/') || path.ends_with("%2f") || path.ends_with("%2F") {
        return None;
    }
    let mut location = String::with_capacity(target.len() + 1);
    if let Some(scheme) = split.scheme {
        location.push_str(scheme);
        location.push(':');
    }
    if let Some(netloc) = split.netloc {
        location.push_str("//");
        location.push_str(netloc);
    }
    location.push_str(path);
    location.push('/');
    if let Some(query) = split.query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(query);
    }
    if let Some(fragment) = split.fragment.filter(|f| !f.is_empty()) {
        location.push('#');
        location.push_str(fragment);
    }
    Some(location)
}

/// The path shown in a listing's title (3.14, gh-133889): cut at `#`, then `?`, then
/// percent-decoded (invalid UTF-8 becomes U+FFFD). Not yet HTML-escaped.
pub(crate) fn display_path(target: &str) -> String {
    let path = target.split('#').next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    percent_decode_str(path).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's translation with POSIX names.
    fn tr(target: &str) -> Translated {
        translate(target, PathRules::Posix).expect("POSIX names are never refused")
    }

    fn spare() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }

    #[test]
    fn a_dropped_translation_leaves_its_buffer_to_the_next() {
        while kept::take(&SPARE).is_some() {}
        drop(tr("/a/longer/path/to/c.txt"));
        assert_eq!(spare(), 1);
        // The next one takes it, emptied first.
        let next = tr("/x.html");
        assert_eq!(spare(), 0);
        assert_eq!(next.relative(), b"x.html");
        drop(next);
        // A clone has a buffer of its own; both come back.
        let one = tr("/y.txt");
        let two = one.clone();
        drop((one, two));
        assert_eq!(spare(), 2);
        // A buffer grown for a very long path is not kept.
        while kept::take(&SPARE).is_some() {}
        drop(tr(&format!("/{}", "n".repeat(MAX_KEPT_CAPACITY + 1))));
        assert_eq!(spare(), 0);
        // Nor is the empty buffer of a default one.
        drop(Translated::default());
        assert_eq!(spare(), 0);
    }

    fn t(target: &str) -> (Vec<String>, bool) {
        let translated = tr(target);
        (
            translated
                .components()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
            translated.trailing_slash,
        )
    }

    /// The worked examples of the reference notes (3.14 column), directory `/srv`.
    #[test]
    fn pythons_examples() {
        let root = Path::new("/srv");
        let cases = [
            ("/", "/srv/"),
            ("", "/srv"),
            ("a", "/srv/a"),
            ("/a/b/", "/srv/a/b/"),
            ("/a/b%2f", "/srv/a/b/"),
            ("/a/b%2F", "/srv/a/b/"),
            ("/a//b", "/srv/a/b"),
            ("/a/./b", "/srv/a/b"),
            ("/a/../b", "/srv/b"),
            ("/a/%2e%2e/b", "/srv/b"),
            ("/../../etc/passwd", "/srv/etc/passwd"),
            ("/%2e%2e/x", "/srv/x"),
            ("/a/..", "/srv"),
            ("/a?x=1", "/srv/a"),
            ("/a#f", "/srv/a"),
            ("/a#f?x", "/srv/a"),
            ("/a?x#f", "/srv/a"),
            ("/a/?x", "/srv/a/"),
            ("/a%3Fb", "/srv/a?b"),
            ("/a%23b", "/srv/a#b"),
            ("/caf%C3%A9", "/srv/café"),
            ("/%ZZ", "/srv/%ZZ"),
            ("//evil.com/x", "/srv/evil.com/x"),
            ("http://h/p", "/srv/http:/h/p"),
            ("/.hidden", "/srv/.hidden"),
        ];
        for (target, expected) in cases {
            assert_eq!(
                translate_path(root, target),
                Path::new(expected),
                "{target:?}"
            );
        }
        #[cfg(unix)]
        assert_eq!(
            translate_path(root, "/a\\..\\b"),
            Path::new("/srv/a\\..\\b")
        );
    }

    #[test]
    fn filename_and_query_variants() {
        // CPython's test_query_arguments and test_start_with_double_slash.
        for target in [
            "/filename",
            "/filename?foo=bar",
            "/filename?a=b&spam=eggs#zot",
            "//filename",
            "//filename?foo=bar",
        ] {
            assert_eq!(t(target), (vec!["filename".to_owned()], false), "{target}");
        }
    }

    #[test]
    fn traversal_never_escapes() {
        let hostile = [
            "/..",
            "/../",
            "/../..",
            "/%2e%2e",
            "/%2E%2E/%2e%2E/etc",
            "/..%2f..%2fetc%2fpasswd",
            "/a/../../../../b",
            "/.%2e/.%2e/etc",
            "/%252e%252e/x",
            "/..\\..\\etc",
            "/%5c..%5c",
            "/%c0%ae%c0%ae/x",
            "/%00/x",
            "/a%00b",
            "////../x",
            "/./../.",
            "..",
            "../a",
        ];
        for target in hostile {
            let translated = tr(target);
            for component in translated.components() {
                assert!(!component.is_empty());
                assert_ne!(component, b".");
                assert_ne!(component, b"..");
                assert!(!component.contains(&b'/'), "{target}");
            }
        }
        // Double encoding is decoded once: `%252e` stays a literal `%2e` name.
        assert_eq!(t("/%252e%252e/x").0, ["%2e%2e", "x"]);
    }

    #[test]
    fn undecodable_names_round_trip() {
        assert_eq!(tr("/%FF.txt").relative(), b"\xff.txt");
        // Python's link for b'\xff': quote('\udcff', errors='surrogatepass').
        assert_eq!(tr("/%ED%B3%BF.txt").relative(), b"\xff.txt");
        assert_eq!(tr("/%ED%B2%80").relative(), b"\x80");
        // A real UTF-8 character is left alone.
        assert_eq!(tr("/%ED%9F%BF").relative(), "\u{d7ff}".as_bytes());
        assert_eq!(tr("/a/../..").relative(), b".");
        assert_eq!(tr("/a/b/../c").relative(), b"a/c");
    }

    #[test]
    fn redirects() {
        let cases = [
            ("/sub", Some("/sub/")),
            ("/sub?a=1#frag", Some("/sub/?a=1#frag")),
            ("sub", Some("sub/")),
            ("/sub/", None),
            ("/sub%2f", None),
            ("/evil.com/..%2f..%2fsub", Some("/evil.com/..%2f..%2fsub/")),
            ("https://pypi.org/x/dir", Some("https://pypi.org/x/dir/")),
            ("/sub?", Some("/sub/")),
        ];
        for (target, expected) in cases {
            assert_eq!(directory_redirect(target).as_deref(), expected, "{target}");
        }
    }

    #[test]
    fn display_paths() {
        assert_eq!(display_path("/some%20dir/?q=1#frag"), "/some dir/");
        assert_eq!(display_path("/x/#123"), "/x/");
        assert_eq!(display_path("/%ff/"), "/\u{fffd}/");
    }

    /// The Windows forms of traversal and aliasing, judged after `..` is applied (as Python's
    /// `normpath` comes before its filter).
    #[test]
    fn windows_names() {
        let win = |target: &str| translate(target, PathRules::Windows).map(|t| t.path.clone());
        let python =
            |target: &str| translate(target, PathRules::WindowsAsPython).map(|t| t.path.clone());
        for target in [
            "/..%5c..%5cwin.ini",
            "/..\\..\\win.ini",
            "/C:/Windows/win.ini",
            "/C:%5cWindows%5cwin.ini",
            "/%5c%5cserver%5cshare%5cx",
            "/file.txt::$DATA",
            "/file.txt%3a%3a$DATA",
            "/dir/CON",
            "/NUL.txt",
            "/com1.txt",
            "/secret.txt.",
            "/secret.txt%20",
            "/PROGRA~1/x",
        ] {
            assert_eq!(win(target), None, "{target}");
        }
        assert_eq!(win("/a/b.txt"), Some(b"a/b.txt".to_vec()));
        assert_eq!(win("/CON/../a.txt"), Some(b"a.txt".to_vec()));
        assert_eq!(win("//server/share/x"), Some(b"server/share/x".to_vec()));
        // Python on Windows skips `\\` and drive components, and opens the rest.
        assert_eq!(python("/..%5c..%5cwin.ini"), Some(Vec::new()));
        assert_eq!(
            python("/C:/Windows/win.ini"),
            Some(b"Windows/win.ini".to_vec())
        );
        assert_eq!(python("/a/C:/../b"), Some(b"a/b".to_vec()));
        assert_eq!(python("/NUL.txt"), Some(b"NUL.txt".to_vec()));
        assert_eq!(
            python("/file.txt::$DATA"),
            Some(b"file.txt::$DATA".to_vec())
        );
    }

    mod properties {
        use super::*;
        use percent_encoding::{NON_ALPHANUMERIC, percent_encode};
        use proptest::prelude::*;

        /// Targets built from the pieces traversal attempts are made of.
        fn hostile_target() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("/".to_owned()),
                Just("..".to_owned()),
                Just(".".to_owned()),
                Just("%2e".to_owned()),
                Just("%2E".to_owned()),
                Just("%2f".to_owned()),
                Just("%5c".to_owned()),
                Just("\\".to_owned()),
                Just("%00".to_owned()),
                Just("%c0%ae".to_owned()),
                Just("%ED%B3%BF".to_owned()),
                Just("?".to_owned()),
                Just("#".to_owned()),
                Just("%".to_owned()),
                "[a-z]{1,3}",
                any::<String>(),
            ];
            proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            #[test]
            fn never_leaves_the_root(target in hostile_target()) {
                if let Some(windows) = translate(&target, PathRules::Windows) {
                    for component in windows.components() {
                        prop_assert_eq!(PathRules::Windows.judge(component), Verdict::Keep);
                    }
                }
                let translated = tr(&target);
                for component in translated.components() {
                    prop_assert!(!component.is_empty());
                    prop_assert!(component != b"." && component != b"..");
                    prop_assert!(!component.contains(&b'/'));
                }
                let root = Path::new("/srv/root");
                let path = translate_path(root, &target);
                prop_assert!(path.starts_with(root));
                prop_assert!(
                    path.components().all(|c| c != std::path::Component::ParentDir),
                    "{:?}", path
                );
            }

            #[test]
            fn arbitrary_strings_never_panic(target in any::<String>()) {
                let _ = tr(&target);
                let _ = translate(&target, PathRules::Windows);
                let _ = translate(&target, PathRules::WindowsAsPython);
                let _ = directory_redirect(&target);
                let _ = display_path(&target);
            }

            /// What a listing links to (any name's bytes, percent-encoded) translates back to
            /// that name.
            #[test]
            fn encoded_names_round_trip(name in proptest::collection::vec(any::<u8>(), 1..40)) {
                prop_assume!(!name.contains(&b'/') && name != b"." && name != b"..");
                let link = format!("/{}", percent_encode(&name, NON_ALPHANUMERIC));
                let translated = tr(&link);
                // Python's surrogate links are the only byte sequences read differently.
                let escaped = name.windows(3).any(|w| {
                    w[0] == 0xED && (w[1] == 0xB2 || w[1] == 0xB3) && w[2] & 0xC0 == 0x80
                });
                if !escaped {
                    prop_assert_eq!(translated.relative(), name.as_slice());
                }
            }

            /// Translating is idempotent: the translated path, encoded again, stays put (unless
            /// it holds what reads as one of Python's surrogate escapes).
            #[test]
            fn translation_is_stable(target in hostile_target()) {
                let once = tr(&target);
                prop_assume!(!once.relative().contains(&0xED));
                let again: String = once
                    .components()
                    .map(|c| format!("/{}", percent_encode(c, NON_ALPHANUMERIC)))
                    .collect();
                let twice = tr(&again);
                prop_assert_eq!(twice.relative(), once.relative());
            }

            /// A collapsed target (what handlers see) never redirects to `//host`.
            #[test]
            fn redirects_never_leave_the_host(target in hostile_target()) {
                let target = format!("/{}", target.trim_start_matches('/'));
                if let Some(location) = directory_redirect(&target) {
                    prop_assert!(!location.starts_with("//"), "{}", location);
                    prop_assert!(location.starts_with('/'), "{}", location);
                }
            }
        }
    }
}

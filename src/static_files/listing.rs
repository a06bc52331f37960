//! Python's `list_directory`: the 3.14 listing page, byte for byte.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use crate::handler::html_escape;

/// What `urllib.parse.quote(name)` leaves alone: letters, digits, `_.-~` and `/`.
const QUOTE_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// A directory about to be listed: what Python's `list_directory` works from.
///
/// Handed to a custom renderer (see
/// [`StaticFiles::list_directory`](super::StaticFiles::list_directory)); [`render_listing`]
/// is Python's page.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DirectoryListing {
    /// The decoded request path, as shown in the title (`/some dir/`), not HTML-escaped.
    pub path: String,
    /// The entries, sorted as Python sorts them (case-insensitively by name): shared with the
    /// listing kept in memory for an unchanged directory (see
    /// [`StaticFiles::memory_cache`](super::StaticFiles::memory_cache)).
    pub entries: Arc<[ListingEntry]>,
}

/// One name in a [`DirectoryListing`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListingEntry {
    /// The name as stored (not necessarily UTF-8).
    pub name: OsString,
    /// Whether it is a directory (following symlinks): listed with a trailing `/`.
    pub is_dir: bool,
    /// Whether it is a symbolic link: shown with a trailing `@`.
    pub is_symlink: bool,
}

impl ListingEntry {
    /// Describes one entry.
    pub fn new(name: OsString, is_dir: bool, is_symlink: bool) -> Self {
        Self {
            name,
            is_dir,
            is_symlink,
        }
    }

    /// The bytes of the name.
    pub fn name_bytes(&self) -> &[u8] {
        name_bytes(&self.name)
    }
}

/// A name as text for the page and its sort key, bytes that are not UTF-8 shown as U+FFFD (see
/// the README's compatibility notes): `str::from_utf8` first, which checks a plain name several
/// bytes at a time, where `from_utf8_lossy` goes through it chunk by chunk even when it is valid.
fn name_text(name: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(name) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(name),
    }
}

#[cfg(unix)]
fn name_bytes(name: &OsString) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str())
}

#[cfg(not(unix))]
fn name_bytes(name: &OsString) -> &[u8] {
    name.to_str().map_or(b"\xef\xbf\xbd", str::as_bytes)
}

impl DirectoryListing {
    /// Builds a listing, sorting the entries as Python does: `list.sort(key=lambda a: a.lower())`
    /// (stable, on the Unicode lower case of each name).
    pub fn new(path: String, mut entries: Vec<ListingEntry>) -> Self {
        sort_like_python(&mut entries);
        Self {
            path,
            entries: entries.into(),
        }
    }

    /// A listing of entries sorted already (kept in memory).
    pub(crate) fn sorted(path: String, entries: Arc<[ListingEntry]>) -> Self {
        Self { path, entries }
    }
}

/// Python's `list.sort(key=lambda a: a.lower())`: stable, on each name's Unicode lower case. The
/// keys are written into one buffer (a plain ASCII name lowered byte by byte, anything else
/// with `str::to_lowercase`, final sigma and all) instead of a string each.
fn sort_like_python(entries: &mut Vec<ListingEntry>) {
    let mut keys = String::new();
    // Each entry's key, as a span of `keys`, and where the entry was (the tie-break that keeps
    // the sort stable, as `sort_by_cached_key` does).
    let mut order = Vec::with_capacity(entries.len());
    for (at, entry) in entries.iter().enumerate() {
        let start = keys.len();
        let text = name_text(entry.name_bytes());
        if text.is_ascii() {
            keys.extend(text.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            keys.push_str(&text.to_lowercase());
        }
        order.push((start..keys.len(), at));
    }
    let key = |span: &std::ops::Range<usize>| keys.as_bytes().get(span.clone()).unwrap_or_default();
    order.sort_unstable_by(|(a, at_a), (b, at_b)| key(a).cmp(key(b)).then(at_a.cmp(at_b)));
    let mut slots: Vec<Option<ListingEntry>> = entries.drain(..).map(Some).collect();
    entries.extend(
        order
            .iter()
            .filter_map(|(_, at)| slots.get_mut(*at).and_then(Option::take)),
    );
}

/// `name` as text when `quote` leaves all of it alone (ASCII letters and digits, `_.-~/`, what
/// [`QUOTE_SAFE`] does not encode): then `html.escape` leaves it alone too. Most names are, and
/// this one pass over them replaces three (UTF-8 check, percent-encoding, HTML escaping).
fn plain(name: &[u8]) -> Option<&str> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'/');
    if !name.iter().all(|&b| safe(b)) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// Python 3.14's listing page for `listing`.
///
/// `<a href>` targets are the names percent-encoded like `urllib.parse.quote` (bytes that are
/// not UTF-8 included, so the link reaches the file); texts are HTML-escaped like
/// `html.escape(quote=False)`. Directories get a trailing `/`, symbolic links a trailing `@`
/// (a link to a directory shows `@` and links with `/`).
///
/// ```
/// use basehttp::static_files::{render_listing, DirectoryListing, ListingEntry};
///
/// let listing = DirectoryListing::new(
///     "/docs/".to_owned(),
///     vec![ListingEntry::new("b&<c>.txt".into(), false, false), ListingEntry::new("A".into(), true, false)],
/// );
/// let page = render_listing(&listing);
/// assert!(page.contains("<title>Directory listing for /docs/</title>"));
/// assert!(page.contains(r#"<li><a href="A/">A/</a></li>"#));
/// assert!(page.contains(r#"<li><a href="b%26%3Cc%3E.txt">b&amp;&lt;c&gt;.txt</a></li>"#));
/// ```
pub fn render_listing(listing: &DirectoryListing) -> String {
    let title = format!("Directory listing for {}", html_escape(&listing.path));
    let mut page = String::with_capacity(300 + listing.entries.len() * 80);
    page.push_str(
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <style type=\"text/css\">\n:root {\ncolor-scheme: light dark;\n}\n</style>\n",
    );
    // Infallible: writing to a String.
    let _ = write!(
        page,
        "<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n<hr>\n<ul>\n"
    );
    for entry in listing.entries.iter() {
        let name = entry.name_bytes();
        let suffix = if entry.is_symlink {
            "@"
        } else if entry.is_dir {
            "/"
        } else {
            ""
        };
        // Piece by piece, with nothing allocated for a plain name: `quote(name + "/")` is
        // `quote(name) + "/"`, as `/` is safe.
        page.push_str("<li><a href=\"");
        match plain(name) {
            // Letters, digits and `_.-~`: the link and the text are the name itself.
            Some(name) => {
                page.push_str(name);
                if entry.is_dir {
                    page.push('/');
                }
                page.push_str("\">");
                page.push_str(name);
            }
            None => {
                let _ = write!(page, "{}", percent_encode(name, QUOTE_SAFE));
                if entry.is_dir {
                    page.push('/');
                }
                page.push_str("\">");
                page.push_str(&html_escape(&name_text(name)));
            }
        }
        page.push_str(suffix);
        page.push_str("</a></li>\n");
    }
    page.push_str("</ul>\n<hr>\n</body>\n</html>\n");
    page
}

/// `text` for a double-quoted HTML attribute: `&`, `<`, `>`, `"` and `'` escaped.
#[cfg_attr(not(upload), allow(dead_code))]
pub(crate) fn attribute_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A link a handler above asks the listing to show before its list (the upload page's):
/// inserted in the exchange's extensions by the handler's `list_directory`.
#[cfg_attr(not(upload), allow(dead_code))]
#[derive(Clone, Debug)]
pub(crate) struct ListingLink {
    href: String,
    text: &'static str,
}

#[cfg_attr(not(upload), allow(dead_code))]
impl ListingLink {
    pub(crate) fn new(href: &str, text: &'static str) -> Self {
        Self {
            href: href.to_owned(),
            text,
        }
    }

    /// `page` (Python's listing) with the link, between rules, before the list.
    pub(crate) fn insert_into(&self, mut page: String) -> String {
        if let Some(at) = page.find("<hr>\n<ul>\n") {
            let link = format!(
                "<hr>\n<a href=\"{}\">{}</a>\n",
                attribute_escape(&self.href),
                html_escape(self.text)
            );
            page.insert_str(at, &link);
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry for the name `bytes` (on Unix the bytes themselves, elsewhere their text).
    fn entry_of(bytes: &[u8], is_dir: bool, is_symlink: bool) -> ListingEntry {
        #[cfg(unix)]
        let name = std::os::unix::ffi::OsStringExt::from_vec(bytes.to_vec());
        #[cfg(not(unix))]
        let name = OsString::from(String::from_utf8_lossy(bytes).into_owned());
        ListingEntry::new(name, is_dir, is_symlink)
    }

    mod entries_rendered_like_python {
        use proptest::prelude::*;

        use super::*;

        /// Names from the characters `quote` and `html.escape` treat differently: safe ones,
        /// ASCII that is encoded or escaped, non-ASCII, bytes that are not UTF-8.
        fn name() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                Just(b"a".to_vec()),
                Just(b"Z9".to_vec()),
                Just(b"_.-~".to_vec()),
                Just(b" ".to_vec()),
                Just(b"&".to_vec()),
                Just(b"<>".to_vec()),
                Just(b"%".to_vec()),
                Just(b"\"'".to_vec()),
                Just(b"+=;".to_vec()),
                Just("\u{e9}".as_bytes().to_vec()),
                Just(b"\xff".to_vec()),
            ];
            proptest::collection::vec(piece, 1..6).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            /// Each entry's line is `quote(name)` (with `/` for a folder) and
            /// `html.escape(name)` (with `/` or `@`), whatever path the name takes.
            #[test]
            fn each_line_is_quote_and_escape(
                names in proptest::collection::vec((name(), any::<bool>(), any::<bool>()), 1..8)
            ) {
                let entries: Vec<ListingEntry> = names
                    .iter()
                    .map(|(name, is_dir, is_symlink)| entry_of(name, *is_dir, *is_symlink))
                    .collect();
                let listing = DirectoryListing::new("/d/".into(), entries);
                let page = render_listing(&listing);
                let lines: Vec<&str> = page.lines().filter(|l| l.starts_with("<li>")).collect();
                prop_assert_eq!(lines.len(), listing.entries.len());
                for (line, entry) in lines.iter().zip(listing.entries.iter()) {
                    let name = entry.name_bytes();
                    let slash = if entry.is_dir { "/" } else { "" };
                    let suffix = if entry.is_symlink { "@" } else { slash };
                    let want = format!(
                        "<li><a href=\"{}{slash}\">{}{suffix}</a></li>",
                        percent_encode(name, QUOTE_SAFE),
                        html_escape(&String::from_utf8_lossy(name)),
                    );
                    prop_assert_eq!(*line, want.as_str());
                }
            }
        }
    }

    mod sorted_like_python {
        use proptest::prelude::*;

        use super::*;

        /// Names from pieces where the order is easy to get wrong: case, accents, the final
        /// sigma, characters whose lower case is longer, bytes that are not UTF-8.
        fn name() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                Just(b"a".to_vec()),
                Just(b"A".to_vec()),
                Just(b"b".to_vec()),
                Just(b"_".to_vec()),
                Just(b".".to_vec()),
                Just("\u{c9}".as_bytes().to_vec()),
                Just("\u{e9}".as_bytes().to_vec()),
                Just("\u{3a3}".as_bytes().to_vec()),
                Just("\u{130}".as_bytes().to_vec()),
                Just("\u{df}".as_bytes().to_vec()),
                Just(b"\xff".to_vec()),
            ];
            proptest::collection::vec(piece, 1..5).prop_map(|pieces| pieces.concat())
        }

        proptest! {
            /// The same order as one lower-cased string per entry (what Python's key does), and
            /// as stable.
            #[test]
            fn as_one_lowercase_string_per_entry(names in proptest::collection::vec(name(), 0..64)) {
                let entries: Vec<ListingEntry> = names
                    .iter()
                    .enumerate()
                    .map(|(at, name)| entry_of(name, at % 2 == 0, at % 3 == 0))
                    .collect();
                // The flags tell entries with the same name apart: the order must be stable.
                let mut expected = entries.clone();
                expected.sort_by_cached_key(|e| {
                    String::from_utf8_lossy(e.name_bytes()).to_lowercase()
                });
                let mut sorted = entries;
                sort_like_python(&mut sorted);
                let got: Vec<(Vec<u8>, bool, bool)> = sorted
                    .iter()
                    .map(|e| (e.name_bytes().to_vec(), e.is_dir, e.is_symlink))
                    .collect();
                let want: Vec<(Vec<u8>, bool, bool)> = expected
                    .iter()
                    .map(|e| (e.name_bytes().to_vec(), e.is_dir, e.is_symlink))
                    .collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn a_link_goes_before_the_list() {
        let listing = DirectoryListing::new(
            "/".to_owned(),
            vec![ListingEntry::new("a.txt".into(), false, false)],
        );
        let page =
            ListingLink::new("/up\"load", "File Upload").insert_into(render_listing(&listing));
        assert!(
            page.contains("<h1>Directory listing for /</h1>\n<hr>\n<a href=\"/up&quot;load\">File Upload</a>\n<hr>\n<ul>\n<li><a href=\"a.txt\">a.txt</a></li>"),
            "{page}"
        );
    }

    /// Appendix A4 of the reference notes: CPython 3.14's page for `/some%20dir/?q=1#frag`.
    const GOLDEN: &str = "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
        <style type=\"text/css\">\n:root {\ncolor-scheme: light dark;\n}\n</style>\n\
        <title>Directory listing for /some dir/</title>\n</head>\n<body>\n\
        <h1>Directory listing for /some dir/</h1>\n<hr>\n<ul>\n\
        <li><a href=\"A.txt\">A.txt</a></li>\n\
        <li><a href=\"b%26%3Cc%3E.txt\">b&amp;&lt;c&gt;.txt</a></li>\n\
        <li><a href=\"dirlnk/\">dirlnk@</a></li>\n\
        <li><a href=\"lnk\">lnk@</a></li>\n\
        <li><a href=\"q%3F%23%25.txt\">q?#%.txt</a></li>\n\
        <li><a href=\"Sub%20Dir/\">Sub Dir/</a></li>\n\
        </ul>\n<hr>\n</body>\n</html>\n";

    #[test]
    fn golden_listing() {
        let entries = vec![
            ListingEntry::new("q?#%.txt".into(), false, false),
            ListingEntry::new("Sub Dir".into(), true, false),
            ListingEntry::new("lnk".into(), false, true),
            ListingEntry::new("A.txt".into(), false, false),
            ListingEntry::new("dirlnk".into(), true, true),
            ListingEntry::new("b&<c>.txt".into(), false, false),
        ];
        let listing = DirectoryListing::new(
            super::super::resolve::display_path("/some%20dir/?q=1#frag"),
            entries,
        );
        assert_eq!(render_listing(&listing), GOLDEN);
    }

    #[test]
    fn empty_directory_is_264_bytes() {
        let listing = DirectoryListing::new("/sub/".to_owned(), Vec::new());
        assert_eq!(render_listing(&listing).len(), 264);
    }

    /// Python's `urllib.parse.quote` with its default `safe='/'`.
    fn quote(bytes: &[u8]) -> String {
        percent_encode(bytes, QUOTE_SAFE).to_string()
    }

    #[test]
    fn quote_matches_python() {
        assert_eq!(quote(b"a b&<c>.html"), "a%20b%26%3Cc%3E.html");
        assert_eq!(quote("café.txt".as_bytes()), "caf%C3%A9.txt");
        assert_eq!(quote(b"x:y;z+w,=~_-."), "x%3Ay%3Bz%2Bw%2C%3D~_-.");
        assert_eq!(quote(b"\xff"), "%FF");
    }

    #[cfg(unix)]
    #[test]
    fn undecodable_names_link_to_their_bytes() {
        use std::os::unix::ffi::OsStringExt;
        let listing = DirectoryListing::new(
            "/".to_owned(),
            vec![ListingEntry::new(
                OsString::from_vec(b"bad\xff.txt".to_vec()),
                false,
                false,
            )],
        );
        let page = render_listing(&listing);
        assert!(
            page.contains("<li><a href=\"bad%FF.txt\">bad\u{fffd}.txt</a></li>"),
            "{page}"
        );
    }
}

//! `urllib.parse` as Python handlers use it on `self.path`: `urlsplit(path).path`,
//! `urlsplit(path).query` and `parse_qsl`/`parse_qs`. Pure functions, property-tested below.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// `urlsplit(target).path` and `.query`: the request target's path, up to its query (`?`) or
/// fragment (`#`), still percent-encoded, and the query. An absolute-form target
/// (`http://host/p?q`) loses its scheme and authority, as `urlsplit` splits them off.
///
/// ```
/// use basehttp::handler::split_target;
///
/// assert_eq!(split_target("/search?q=rust#top"), ("/search", Some("q=rust")));
/// assert_eq!(split_target("/plain"), ("/plain", None));
/// assert_eq!(split_target("http://example.com/p?x=1"), ("/p", Some("x=1")));
/// ```
#[doc(alias = "urlsplit")]
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let end = target.find('#').unwrap_or(target.len());
    let mut target = &target[..end];
    if let Some((scheme, rest)) = target.split_once("://") {
        let is_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            target = &rest[authority_end..];
        }
    }
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Python's `urllib.parse.parse_qsl(query)` with its defaults: `name=value` pairs separated by
/// `&`, `+` and `%XX` decoded (invalid UTF-8 replaced by U+FFFD, as `errors="replace"` does),
/// and pairs with an empty value — or no `=` at all — left out (`keep_blank_values=False`).
///
/// `parse_qs` is the same pairs grouped by name: collect them into a map of vectors.
///
/// ```
/// use basehttp::handler::parse_qsl;
///
/// assert_eq!(
///     parse_qsl("q=hello+world&lang=en&empty=&flag&q=%C3%A9"),
///     [("q", "hello world"), ("lang", "en"), ("q", "é")]
///         .map(|(k, v)| (k.to_owned(), v.to_owned()))
/// );
/// ```
#[doc(alias = "parse_qs")]
pub fn parse_qsl(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|field| {
            let (name, value) = field.split_once('=')?;
            (!value.is_empty()).then(|| (unquote_plus(name), unquote_plus(value)))
        })
        .collect()
}

/// `unquote_plus`: `+` is a space, `%XX` a byte; the bytes are read as UTF-8, lossily.
fn unquote_plus(text: &str) -> String {
    let spaced: Cow<'_, str> = if text.contains('+') {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    };
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pythons_parse_qsl_vectors() {
        // Results of CPython 3.14's urllib.parse.parse_qsl on the same strings.
        assert_eq!(parse_qsl(""), pairs(&[]));
        assert_eq!(parse_qsl("&"), pairs(&[]));
        assert_eq!(parse_qsl("a=1"), pairs(&[("a", "1")]));
        assert_eq!(parse_qsl("a=1&a=2"), pairs(&[("a", "1"), ("a", "2")]));
        assert_eq!(parse_qsl("a=&b=2"), pairs(&[("b", "2")]));
        assert_eq!(parse_qsl("a&b=2"), pairs(&[("b", "2")]));
        assert_eq!(parse_qsl("a=b=c"), pairs(&[("a", "b=c")]));
        assert_eq!(parse_qsl("a+b=c+d"), pairs(&[("a b", "c d")]));
        assert_eq!(parse_qsl("a=%2B%20"), pairs(&[("a", "+ ")]));
        assert_eq!(parse_qsl("a=%zz"), pairs(&[("a", "%zz")]));
        assert_eq!(parse_qsl("a=%ff"), pairs(&[("a", "\u{fffd}")]));
        // Only `&` separates since Python 3.10 (gh-87133).
        assert_eq!(parse_qsl("a=1;b=2"), pairs(&[("a", "1;b=2")]));
    }

    #[test]
    fn split_target_vectors() {
        assert_eq!(split_target("/"), ("/", None));
        assert_eq!(split_target("/a?"), ("/a", Some("")));
        assert_eq!(split_target("/a?b?c"), ("/a", Some("b?c")));
        assert_eq!(split_target("/a#f?x"), ("/a", None));
        assert_eq!(split_target("*"), ("*", None));
        // Absolute-form, as urlsplit splits it.
        assert_eq!(split_target("http://h:8000/a/b?c"), ("/a/b", Some("c")));
        assert_eq!(split_target("https://h?c"), ("", Some("c")));
        assert_eq!(split_target("http://h"), ("", None));
        // Not a scheme: a path that happens to contain `://`.
        assert_eq!(split_target("/x://y"), ("/x://y", None));
    }

    proptest! {
        #[test]
        fn encoded_pairs_round_trip(
            list in proptest::collection::vec(("[ -~é€]{1,8}", "[ -~é€]{1,8}"), 0..6)
        ) {
            let encode = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            let query = list
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            prop_assert_eq!(parse_qsl(&query), list);
        }

        #[test]
        fn any_query_is_parsed_without_panic(query in "\\PC{0,40}") {
            for (name, value) in parse_qsl(&query) {
                prop_assert!(!value.is_empty());
                prop_assert!(!name.contains('+') || query.contains("%2B") || query.contains("%2b"));
            }
            let (path, rest) = split_target(&query);
            prop_assert!(!path.contains('?') && !path.contains('#'));
            prop_assert!(rest.is_none_or(|q| !q.contains('#')));
        }
    }
}

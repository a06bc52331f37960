//! Small Python-compatible string helpers.

/// The line ending Python's `print` and `sys.stderr` write: `\r\n` on Windows (its standard
/// streams translate `\n` in text mode), `\n` elsewhere. Used for the banner and the log lines.
pub(crate) const NEWLINE: &str = if cfg!(windows) { "\r\n" } else { "\n" };

/// Python's `repr()` of a `str`, as used in messages like `Unsupported method ('POST')`.
///
/// Single quotes unless the string contains a single quote and no double quote; backslash, the
/// quote, `\t`, `\n`, `\r` escaped; other non-printable characters as `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN`.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa1).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The items of an `Accept-Encoding` value: each coding (as written) with its weight (`q`,
/// default 1), and the weight of `*` if it is there. Empty items are skipped.
#[cfg_attr(not(any(feature = "fs", feature = "compression")), allow(dead_code))]
pub(crate) fn accept_encoding_weights(accept: &str) -> (Vec<(&str, f32)>, Option<f32>) {
    let mut star = None;
    let mut weights = Vec::new();
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name == "*" {
            star = Some(q);
        } else {
            weights.push((name, q));
        }
    }
    (weights, star)
}

#[cfg(test)]
mod tests {
    use super::py_repr;

    #[test]
    fn matches_python_repr() {
        assert_eq!(py_repr("POST"), "'POST'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("<script>x</script>"), "'<script>x</script>'");
        assert_eq!(py_repr("a\\b\n\x1b"), "'a\\\\b\\n\\x1b'");
        assert_eq!(py_repr("café"), "'café'");
    }
}

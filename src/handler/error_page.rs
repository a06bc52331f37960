//! Python's `send_error` page: the 3.14 template, `%`-style placeholders, HTML escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

/// CPython 3.14's `DEFAULT_ERROR_MESSAGE`, byte for byte (gh-123430 added the `color-scheme`
/// style block).
pub const DEFAULT_ERROR_MESSAGE: &str = "<!DOCTYPE HTML>
<html lang=\"en\">
    <head>
        <meta charset=\"utf-8\">
        <style type=\"text/css\">
            :root {
                color-scheme: light dark;
            }
        </style>
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
";

/// CPython's `DEFAULT_ERROR_CONTENT_TYPE` (no space after the `;`).
pub const DEFAULT_ERROR_CONTENT_TYPE: &str = "text/html;charset=utf-8";

/// Renders an error page the way `send_error` does.
///
/// `template` uses Python's `%`-mapping syntax, so a Python `error_message_format` ports
/// verbatim: `%(code)d` and `%(code)s` become the status code, `%(message)s` and `%(explain)s`
/// the HTML-escaped message and explanation, `%%` a single `%`. Anything else is copied as is.
///
/// ```
/// use basehttp::handler::{render_error_page, DEFAULT_ERROR_MESSAGE};
///
/// let page = render_error_page(DEFAULT_ERROR_MESSAGE, 404, "File not found", "Nothing matches the given URI");
/// assert_eq!(page.len(), 460); // the Content-Length CPython 3.14 sends for this page
/// let page = render_error_page("<p>%(code)d: %(message)s (100%%)</p>", 501, "<b>", "");
/// assert_eq!(page, "<p>501: &lt;b&gt; (100%)</p>");
/// ```
pub fn render_error_page(template: &str, code: u16, message: &str, explain: &str) -> String {
    let message = html_escape(message);
    let explain = html_escape(explain);
    let mut out = String::with_capacity(template.len() + message.len() + explain.len());
    let mut rest = template;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
            continue;
        }
        let replacement = [
            ("%(code)d", Placeholder::Code),
            ("%(code)s", Placeholder::Code),
            ("%(message)s", Placeholder::Message),
            ("%(explain)s", Placeholder::Explain),
        ]
        .into_iter()
        .find(|(token, _)| rest.starts_with(token));
        match replacement {
            Some((token, placeholder)) => {
                match placeholder {
                    Placeholder::Code => {
                        // Infallible: writing to a String.
                        let _ = write!(out, "{code}");
                    }
                    Placeholder::Message => out.push_str(&message),
                    Placeholder::Explain => out.push_str(&explain),
                }
                rest = &rest[token.len()..];
            }
            None => {
                out.push('%');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Clone, Copy)]
enum Placeholder {
    Code,
    Message,
    Explain,
}

/// Python's `html.escape(s, quote=False)`: only `&`, `<` and `>` are replaced.
pub(crate) fn html_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Content-Length oracles from CPython 3.14 (reference notes, appendix A2).
    #[test]
    fn lengths_match_cpython_314() {
        let cases = [
            (404, "File not found", "Nothing matches the given URI", 460),
            (404, "Not Found", "Nothing matches the given URI", 455),
            (
                501,
                "Unsupported method ('POST')",
                "Server does not support this operation",
                482,
            ),
            (
                400,
                "Bad request syntax ('GET /a b HTTP/1.0')",
                "Bad request syntax or unsupported method",
                497,
            ),
            (431, "Too many headers", "got more than 100 headers", 458),
            (
                431,
                "Line too long",
                "got more than 65536 bytes when reading header line",
                480,
            ),
            (
                505,
                "Invalid HTTP version (2.0)",
                "Cannot fulfill request",
                465,
            ),
            (999, "???", "???", 423),
        ];
        for (code, message, explain, len) in cases {
            let page = render_error_page(DEFAULT_ERROR_MESSAGE, code, message, explain);
            assert_eq!(page.len(), len, "{code} {message}");
        }
    }

    /// CPython 3.14's page for `send_error(404, "File not found")`, byte for byte.
    const GOLDEN_404: &str = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        \
        <meta charset=\"utf-8\">\n        <style type=\"text/css\">\n            :root {\n                \
        color-scheme: light dark;\n            }\n        </style>\n        \
        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n        \
        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    </body>\n</html>\n";

    #[test]
    fn golden_404_page() {
        let page = render_error_page(
            DEFAULT_ERROR_MESSAGE,
            404,
            "File not found",
            "Nothing matches the given URI",
        );
        assert_eq!(page, GOLDEN_404);
        assert_eq!(page.len(), 460);
    }

    #[test]
    fn escapes_like_html_escape_quote_false() {
        let page = render_error_page("%(message)s|%(explain)s", 400, "<a href=\"x\">&'", "<>");
        assert_eq!(page, "&lt;a href=\"x\"&gt;&amp;'|&lt;&gt;");
    }

    #[test]
    fn stray_percent_signs_survive() {
        assert_eq!(
            render_error_page("100% %(nope)s %", 1, "", ""),
            "100% %(nope)s %"
        );
        assert_eq!(render_error_page("%", 1, "", ""), "%");
    }
}

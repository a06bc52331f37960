//! Which requests are CGI, and which script they name: Python's `_url_collapse_path`,
//! `is_cgi` and the first half of `run_cgi`, as pure functions (the file system is asked
//! through a callback), where the traversal and property tests go.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Python's `_url_collapse_path`: the query is set aside, the path percent-decoded (invalid
/// UTF-8 becomes U+FFFD, as `urllib.parse.unquote` does), empty and `.` segments dropped and
/// `..` applied, then the query put back. `None` where Python raises `IndexError` (more `..`
/// than segments).
///
/// Decoding before the CGI check is what makes `/cgi-bin%2fscript` a script request
/// (CVE-2014-4650) and resolving `..` is what makes `/x/../cgi-bin/y` one (bpo-19435).
///
/// ```text
/// /a/b/c/../d      →  /a/b/d
/// /cgi-bin%2fx.sh  →  /cgi-bin/x.sh
/// a                →  //a
/// /../x            →  None
/// ```
pub(crate) fn url_collapse_path(path: &str) -> Option<String> {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let path: Cow<'_, str> = percent_decode_str(path).decode_utf8_lossy();
    let mut parts: Vec<&str> = path.split('/').collect();
    let tail = parts.pop().unwrap_or_default();
    let mut head: Vec<&str> = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            ".." => {
                head.pop()?;
            }
            "" | "." => {}
            part => head.push(part),
        }
    }
    let tail = match tail {
        ".." => {
            head.pop()?;
            ""
        }
        "." => "",
        tail => tail,
    };
    let mut collapsed = String::with_capacity(path.len() + 2);
    collapsed.push('/');
    collapsed.push_str(&head.join("/"));
    collapsed.push('/');
    collapsed.push_str(tail);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        collapsed.push('?');
        collapsed.push_str(query);
    }
    Some(collapsed)
}

/// Python's `is_cgi`: the shortest leading directory of the collapsed path that is one of
/// `directories`, and what follows it. `("/cgi-bin", "sub/x.sh/info?q")`.
pub(crate) fn is_cgi<'a, S: AsRef<str>>(
    collapsed: &'a str,
    directories: &[S],
) -> Option<(&'a str, &'a str)> {
    let mut from = 1;
    while let Some(offset) = collapsed.get(from..).and_then(|rest| rest.find('/')) {
        let sep = from + offset;
        let head = &collapsed[..sep];
        if directories.iter().any(|d| d.as_ref() == head) {
            return Some((head, &collapsed[sep + 1..]));
        }
        from = sep + 1;
    }
    None
}

/// The script a CGI request names: Python's `run_cgi` up to the file checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScriptPath {
    /// The directory holding the script, as a URL path (`/cgi-bin/sub`).
    pub(crate) dir: String,
    /// The script's name (`env.sh`); empty for the directory itself.
    pub(crate) script: String,
    /// What follows the script (`/extra/path`), decoded: `PATH_INFO`.
    pub(crate) path_info: String,
    /// The raw query: `QUERY_STRING`.
    pub(crate) query: String,
}

impl ScriptPath {
    /// `SCRIPT_NAME`: `dir/script`.
    pub(crate) fn script_name(&self) -> String {
        format!("{}/{}", self.dir, self.script)
    }
}

/// Splits `(dir, rest)` from [`is_cgi`] into the script and its `PATH_INFO`, descending into
/// sub-directories that exist (`is_dir` is asked about URL paths like `/cgi-bin/sub`).
pub(crate) fn split_script(dir: &str, rest: &str, is_dir: impl Fn(&str) -> bool) -> ScriptPath {
    // Unlike Python, the walk stops at the query: `?` can only come from the query or a decoded
    // `%3F`, and what follows it is never a directory to descend into.
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = format!("{dir}/{rest}");
    let mut dir_len = dir.len();
    while let Some(offset) = path.get(dir_len + 1..).and_then(|p| p.find('/')) {
        let sep = dir_len + 1 + offset;
        let segment = &path[dir_len + 1..sep];
        if segment != "." && segment != ".." && !segment.is_empty() && is_dir(&path[..sep]) {
            dir_len = sep;
        } else {
            break;
        }
    }
    let rest = path.get(dir_len + 1..).unwrap_or_default();
    let (script, path_info) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    ScriptPath {
        dir: path[..dir_len].to_owned(),
        script: script.to_owned(),
        path_info: path_info.to_owned(),
        query: query.to_owned(),
    }
}

/// Python's script argument: the query with `+` as spaces, when it holds no `=`. Unlike
/// Python, one that starts with `-` is not passed (it could be read as an option:
/// CVE-2012-1823).
pub(crate) fn query_argument(query: &str) -> Option<String> {
    let decoded = query.replace('+', " ");
    (!decoded.contains('=') && !decoded.starts_with('-')).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPython's `test_url_collapse_path`, verbatim.
    #[test]
    fn pythons_vectors() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some("//")),
            ("..", None),
            ("/.//..", None),
            ("/", Some("//")),
            ("//", Some("//")),
            ("/\\", Some("//\\")),
            ("/.//", Some("//")),
            ("cgi-bin/file1.py", Some("/cgi-bin/file1.py")),
            ("/cgi-bin/file1.py", Some("/cgi-bin/file1.py")),
            ("a", Some("//a")),
            ("/a", Some("//a")),
            ("//a", Some("//a")),
            ("./a", Some("//a")),
            ("./C:/", Some("/C:/")),
            ("/a/b", Some("/a/b")),
            ("/a/b/", Some("/a/b/")),
            ("/a/b/.", Some("/a/b/")),
            ("/a/b/c/..", Some("/a/b/")),
            ("/a/b/c/../d", Some("/a/b/d")),
            ("/a/b/c/../d/e/../f", Some("/a/b/d/f")),
            ("/a/b/c/../d/e/../../f", Some("/a/b/f")),
            ("/a/b/c/../d/e/.././././..//f", Some("/a/b/f")),
            ("../a/b/c/../d/e/.././././..//f", None),
            ("/a/b/c/../d/e/../../../f", Some("/a/f")),
            ("/a/b/c/../d/e/../../../../f", Some("//f")),
            ("/a/b/c/../d/e/../../../../../f", None),
            ("/a/b/c/../d/e/../../../../f/..", Some("//")),
            ("/a/b/c/../d/e/../../../../f/../.", Some("//")),
        ];
        for (path, expected) in cases {
            assert_eq!(url_collapse_path(path).as_deref(), *expected, "{path:?}");
        }
    }

    #[test]
    fn decoding_comes_first() {
        assert_eq!(
            url_collapse_path("/cgi-bin%2ffile1.py").as_deref(),
            Some("/cgi-bin/file1.py")
        );
        assert_eq!(
            url_collapse_path("/x/%2e%2e/cgi-bin/y.sh?a=%2e%2e").as_deref(),
            Some("/cgi-bin/y.sh?a=%2e%2e")
        );
        assert_eq!(url_collapse_path("/a%ffb").as_deref(), Some("//a\u{fffd}b"));
    }

    #[test]
    fn cgi_directories_match_whole_segments() {
        let dirs = ["/cgi-bin", "/htbin", "/sub/dir/cgi-bin"];
        assert_eq!(is_cgi("/cgi-bin/x.sh", &dirs), Some(("/cgi-bin", "x.sh")));
        assert_eq!(is_cgi("/cgi-bin/", &dirs), Some(("/cgi-bin", "")));
        assert_eq!(is_cgi("/cgi-bin", &dirs), None);
        assert_eq!(is_cgi("/cgi-binx/y", &dirs), None);
        assert_eq!(is_cgi("/cgi-bin?x/y", &dirs), None);
        assert_eq!(
            is_cgi("/sub/dir/cgi-bin/file5.py", &dirs),
            Some(("/sub/dir/cgi-bin", "file5.py"))
        );
        assert_eq!(is_cgi("/nocgi.py", &dirs), None);
        // bpo-19435: collapsed first, so this names a script that does not exist.
        let collapsed = url_collapse_path("/nocgi.py/../cgi-bin/nothere.sh");
        assert_eq!(
            collapsed.as_deref().and_then(|c| is_cgi(c, &dirs)),
            Some(("/cgi-bin", "nothere.sh"))
        );
    }

    #[test]
    fn scripts_and_path_info() {
        let is_dir = |p: &str| p == "/cgi-bin/sub" || p == "/cgi-bin/sub/deeper";
        let s = split_script("/cgi-bin", "env.sh/extra/p q?x=1?y", is_dir);
        assert_eq!(s.dir, "/cgi-bin");
        assert_eq!(s.script, "env.sh");
        assert_eq!(s.path_info, "/extra/p q");
        assert_eq!(s.query, "x=1?y");
        assert_eq!(s.script_name(), "/cgi-bin/env.sh");
        let s = split_script("/cgi-bin", "sub/deeper/x.sh/info", is_dir);
        assert_eq!(
            (s.dir.as_str(), s.script.as_str(), s.path_info.as_str()),
            ("/cgi-bin/sub/deeper", "x.sh", "/info")
        );
        let s = split_script("/cgi-bin", "sub", is_dir);
        assert_eq!((s.dir.as_str(), s.script.as_str()), ("/cgi-bin", "sub"));
        let s = split_script("/cgi-bin", "", is_dir);
        assert_eq!(s.script_name(), "/cgi-bin/");
    }

    #[test]
    fn query_arguments() {
        assert_eq!(
            query_argument("hello+world").as_deref(),
            Some("hello world")
        );
        assert_eq!(query_argument("").as_deref(), Some(""));
        assert_eq!(query_argument("a=1"), None);
        assert_eq!(query_argument("-s"), None);
        assert_eq!(query_argument("+-s").as_deref(), Some(" -s"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// No collapsed path keeps a `.` or `..` segment or starts outside the root.
            #[test]
            fn collapsing_leaves_no_dot_segments(path in "[a-z./%2eEfF?]{0,40}") {
                if let Some(collapsed) = url_collapse_path(&path) {
                    let path_part = collapsed.split('?').next().unwrap_or_default();
                    prop_assert!(path_part.starts_with('/'));
                    for segment in path_part.split('/') {
                        prop_assert!(segment != ".." && segment != ".");
                    }
                }
            }

            /// The script and PATH_INFO never climb out of the CGI directory.
            #[test]
            fn scripts_stay_in_their_directory(path in "[a-z./%2eEfF?-]{0,40}") {
                let Some(collapsed) = url_collapse_path(&format!("/cgi-bin/{path}")) else {
                    return Ok(());
                };
                if let Some((dir, rest)) = is_cgi(&collapsed, &["/cgi-bin"]) {
                    let s = split_script(dir, rest, |_| true);
                    prop_assert!(s.dir.starts_with("/cgi-bin"));
                    prop_assert!(!s.script.contains('/'));
                    // `..` can only come from a decoded `?` (`%2e%2e%3f`): it names the
                    // directory above, which `run` refuses as not a plain file.
                    prop_assert!(s.dir.split('/').all(|d| d != ".." && d != "."));
                }
            }
        }
    }
}

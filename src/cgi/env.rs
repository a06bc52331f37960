//! The script's environment (RFC 3875 §4.1 meta-variables), as a pure function of the request:
//! every variable Python's `run_cgi` sets, with Python's values, plus the other request headers
//! as `HTTP_*` under a safe policy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use http::HeaderMap;

use super::resolve::ScriptPath;

/// The facts about one request the environment is made of.
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) script: &'a ScriptPath,
    /// `PATH_TRANSLATED`: the served directory joined with `PATH_INFO` (Python's
    /// `translate_path(PATH_INFO)`).
    pub(crate) path_translated: OsString,
    /// `SERVER_SOFTWARE`: the `Server` header's value.
    pub(crate) server_software: &'a [u8],
    pub(crate) server_name: &'a str,
    pub(crate) server_port: u16,
    /// `SERVER_PROTOCOL`: the handler's `protocol_version`, as in Python.
    pub(crate) server_protocol: &'a str,
    pub(crate) remote_addr: Option<String>,
    /// `CONTENT_LENGTH`: the exact length of what the script will read on stdin, when there
    /// is a body.
    pub(crate) content_length: Option<u64>,
}

/// What the environment may contain beyond Python's variables.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    /// Pass `Authorization` as `HTTP_AUTHORIZATION` (never by default: RFC 3875 §9.2).
    pub(crate) pass_authorization: bool,
    /// Start from the server's whole environment (Python) instead of an allow-list.
    pub(crate) inherit: bool,
    /// Variables set for every script; they override computed ones.
    pub(crate) extra: Vec<(OsString, OsString)>,
}

/// The server variables a script gets when the environment is not inherited.
const ALLOWED: &[&str] = &["PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

/// The fallback `PATH` when the server has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Request headers never passed as `HTTP_*`: the ones CGI names otherwise (`CONTENT_*`),
/// credentials, httpoxy's `Proxy`, and hop-by-hop fields.
const NOT_PASSED: &[&str] = &[
    "content-length",
    "content-type",
    "authorization",
    "proxy-authorization",
    "proxy",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "http2-settings",
];

/// A script's environment: names (most of them fixed ones, not copied) and values.
pub(crate) type Environment = BTreeMap<Cow<'static, OsStr>, OsString>;

/// Builds the environment. `server_env` is the server's own environment, whose variables the
/// policy lets through are copied.
pub(crate) fn build<'e>(
    request: &Request<'_>,
    policy: &Policy,
    server_env: impl IntoIterator<Item = (&'e OsStr, &'e OsStr)>,
) -> Environment {
    let mut env = Environment::new();
    for (key, value) in server_env {
        let allowed = policy.inherit
            || key
                .to_str()
                .is_some_and(|k| ALLOWED.contains(&k) || k.starts_with("LC_"));
        if allowed {
            env.insert(Cow::Owned(key.to_owned()), value.to_owned());
        }
    }
    env.entry(Cow::Borrowed(OsStr::new("PATH")))
        .or_insert_with(|| DEFAULT_PATH.into());
    let mut set = |key: &'static str, value: OsString| {
        env.insert(Cow::Borrowed(OsStr::new(key)), value);
    };
    let text = |s: &str| OsString::from(s);
    set("SERVER_SOFTWARE", bytes(request.server_software));
    set("SERVER_NAME", text(request.server_name));
    set("GATEWAY_INTERFACE", text("CGI/1.1"));
    set("SERVER_PROTOCOL", text(request.server_protocol));
    set("SERVER_PORT", request.server_port.to_string().into());
    set("REQUEST_METHOD", text(request.method));
    set("PATH_INFO", text(&request.script.path_info));
    set("PATH_TRANSLATED", request.path_translated.clone());
    set("SCRIPT_NAME", text(&request.script.script_name()));
    set("QUERY_STRING", text(&request.script.query));
    set(
        "REMOTE_ADDR",
        text(request.remote_addr.as_deref().unwrap_or_default()),
    );
    set("REMOTE_HOST", text(""));
    let headers = request.headers;
    if let Some((auth_type, user)) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials)
    {
        set("AUTH_TYPE", text(auth_type));
        if let Some(user) = user {
            set("REMOTE_USER", user.into());
        }
    }
    set(
        "CONTENT_TYPE",
        headers
            .get(http::header::CONTENT_TYPE)
            .map_or_else(|| text("text/plain"), |v| bytes(v.as_bytes())),
    );
    set(
        "CONTENT_LENGTH",
        request
            .content_length
            .map_or_else(OsString::new, |n| n.to_string().into()),
    );
    // Headers the `Connection` header names are for this hop only (RFC 9110 §7.6.1), never
    // for the script.
    let hop_by_hop = |name: &str| {
        headers
            .get_all(http::header::CONNECTION)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','))
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    };
    let end_to_end = |name: &str, separator: &[u8]| {
        if hop_by_hop(name) {
            OsString::new()
        } else {
            joined(headers, name, separator)
        }
    };
    // Python's four, with Python's defaults.
    set("HTTP_ACCEPT", end_to_end("accept", b","));
    set("HTTP_USER_AGENT", end_to_end("user-agent", b", "));
    set("HTTP_COOKIE", end_to_end("cookie", b"; "));
    set("HTTP_REFERER", end_to_end("referer", b", "));
    // Every other header (RFC 3875 §4.1.18), names that could collide after `-` → `_` left out.
    for name in headers.keys() {
        let name = name.as_str();
        let passed =
            name == "authorization" && policy.pass_authorization || !NOT_PASSED.contains(&name);
        let simple = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !passed || !simple || hop_by_hop(name) {
            continue;
        }
        let mut key = String::with_capacity("HTTP_".len() + name.len());
        key.push_str("HTTP_");
        key.extend(name.chars().map(|c| match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        }));
        let separator: &[u8] = match name {
            "accept" => b",",
            "cookie" => b"; ",
            _ => b", ",
        };
        env.insert(Cow::Owned(key.into()), joined(headers, name, separator));
    }
    for (key, value) in &policy.extra {
        env.insert(Cow::Owned(key.clone()), value.clone());
    }
    env
}

/// Every value of `name`, non-empty ones joined with `separator`.
fn joined(headers: &HeaderMap, name: &str, separator: &[u8]) -> OsString {
    let mut out: Vec<u8> = Vec::new();
    for value in headers.get_all(name) {
        let value = value.as_bytes();
        if value.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.extend_from_slice(separator);
        }
        out.extend_from_slice(value);
    }
    owned_bytes(out)
}

fn bytes(b: &[u8]) -> OsString {
    owned_bytes(b.to_vec())
}

#[cfg(unix)]
fn owned_bytes(b: Vec<u8>) -> OsString {
    std::os::unix::ffi::OsStringExt::from_vec(b)
}

#[cfg(not(unix))]
fn owned_bytes(b: Vec<u8>) -> OsString {
    String::from_utf8_lossy(&b).into_owned().into()
}

/// Python's reading of `Authorization`: two words give `AUTH_TYPE`; for `Basic`, credentials
/// that decode (ASCII) to exactly one `user:password` give `REMOTE_USER`.
pub(crate) fn basic_credentials(value: &str) -> Option<(&str, Option<String>)> {
    let mut words = value.split_whitespace();
    let (scheme, credentials) = (words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Some((scheme, None));
    }
    let user = base64_decode(credentials)
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .filter(|decoded| decoded.is_ascii())
        .and_then(|decoded| {
            let mut parts = decoded.split(':');
            let (user, _password) = (parts.next()?, parts.next()?);
            parts.next().is_none().then(|| user.to_owned())
        });
    Some((scheme, user))
}

/// `base64.decodebytes`: the standard alphabet; characters outside it are skipped; decoding
/// stops at padding. `None` for a length Python rejects.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits, mut count) = (0u32, 0u32, 0usize);
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        count += 1;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    (count % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn script() -> ScriptPath {
        ScriptPath {
            dir: "/cgi-bin".into(),
            script: "env.sh".into(),
            path_info: "/extra/p q".into(),
            query: "a=1&b=%20".into(),
        }
    }

    fn env_for(headers: &HeaderMap, policy: &Policy) -> BTreeMap<String, String> {
        let script = script();
        let request = Request {
            method: "GET",
            headers,
            script: &script,
            path_translated: "/srv/extra/p q".into(),
            server_software: b"SimpleHTTP/0.6 basehttp/0.1.0",
            server_name: "localhost",
            server_port: 8000,
            server_protocol: "HTTP/1.0",
            remote_addr: Some("127.0.0.1".into()),
            content_length: None,
        };
        let server_env = [
            ("PATH", "/bin"),
            ("HOME", "/root"),
            ("SECRET_TOKEN", "x"),
            ("LC_ALL", "C"),
            ("HTTP_COOKIE", "server-side"),
        ]
        .map(|(k, v)| (OsStr::new(k), OsStr::new(v)));
        build(&request, policy, server_env)
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    fn policy() -> Policy {
        Policy {
            pass_authorization: false,
            inherit: false,
            extra: Vec::new(),
        }
    }

    #[test]
    fn pythons_variables_and_defaults() {
        let env = env_for(&HeaderMap::new(), &policy());
        let expect = [
            ("SERVER_SOFTWARE", "SimpleHTTP/0.6 basehttp/0.1.0"),
            ("SERVER_NAME", "localhost"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.0"),
            ("SERVER_PORT", "8000"),
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/extra/p q"),
            ("PATH_TRANSLATED", "/srv/extra/p q"),
            ("SCRIPT_NAME", "/cgi-bin/env.sh"),
            ("QUERY_STRING", "a=1&b=%20"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("REMOTE_HOST", ""),
            ("CONTENT_TYPE", "text/plain"),
            ("CONTENT_LENGTH", ""),
            ("HTTP_ACCEPT", ""),
            ("HTTP_USER_AGENT", ""),
            ("HTTP_COOKIE", ""),
            ("HTTP_REFERER", ""),
            ("PATH", "/bin"),
            ("LC_ALL", "C"),
        ];
        for (key, value) in expect {
            assert_eq!(env.get(key).map(String::as_str), Some(value), "{key}");
        }
        // Not the server's secrets, not its stale request variables.
        assert!(!env.contains_key("SECRET_TOKEN"));
        assert!(!env.contains_key("HOME"));
        assert!(!env.contains_key("AUTH_TYPE"));
        assert_eq!(env.len(), expect.len());
    }

    #[test]
    fn headers_become_http_variables_safely() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("accept", "text/html"),
            ("accept", "text/plain"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("x-foo", "v1"),
            ("x-foo", "v2"),
            ("host", "example.com:8000"),
            ("proxy", "http://evil/"),
            ("x_forwarded_for", "spoof"),
            ("x-forwarded-for", "1.2.3.4"),
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("content-type", "application/json"),
            ("connection", "keep-alive"),
            ("xx-yy123", "digits"),
        ] {
            headers.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let env = env_for(&headers, &policy());
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("HTTP_ACCEPT"), Some("text/html,text/plain"));
        assert_eq!(get("HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(get("HTTP_X_FOO"), Some("v1, v2"));
        assert_eq!(get("HTTP_HOST"), Some("example.com:8000"));
        assert_eq!(get("HTTP_X_FORWARDED_FOR"), Some("1.2.3.4"));
        assert_eq!(get("HTTP_XX_YY123"), Some("digits"));
        assert_eq!(get("HTTP_PROXY"), None, "httpoxy");
        assert_eq!(get("HTTP_AUTHORIZATION"), None);
        assert_eq!(get("HTTP_CONTENT_TYPE"), None);
        assert_eq!(get("HTTP_CONNECTION"), None);
        assert_eq!(get("CONTENT_TYPE"), Some("application/json"));
        assert_eq!(get("AUTH_TYPE"), Some("Basic"));
        assert_eq!(get("REMOTE_USER"), Some("user"));

        let mut passing = policy();
        passing.pass_authorization = true;
        passing.inherit = true;
        passing.extra = vec![("SERVER_NAME".into(), "override".into())];
        let env = env_for(&headers, &passing);
        assert_eq!(
            env.get("HTTP_AUTHORIZATION").map(String::as_str),
            Some("Basic dXNlcjpwYXNz")
        );
        assert_eq!(env.get("HOME").map(String::as_str), Some("/root"));
        // A request variable always describes this request, never the server's environment.
        assert_eq!(env.get("HTTP_COOKIE").map(String::as_str), Some("a=1; b=2"));
        assert_eq!(env.get("SERVER_NAME").map(String::as_str), Some("override"));
    }

    #[test]
    fn headers_the_connection_header_names_stay_with_the_hop() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Secret"),
            ("connection", " cookie "),
            ("x-secret", "1"),
            ("x-public", "2"),
            ("cookie", "a=1"),
        ] {
            headers.append(
                http::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let env = env_for(&headers, &policy());
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("HTTP_X_SECRET"), None);
        assert_eq!(get("HTTP_X_PUBLIC"), Some("2"));
        assert_eq!(
            get("HTTP_COOKIE"),
            Some(""),
            "Python's default, not the hop's cookie"
        );
    }

    #[test]
    fn credentials_like_python() {
        assert_eq!(
            basic_credentials("Basic dXNlcjpwYXNz"),
            Some(("Basic", Some("user".to_owned())))
        );
        assert_eq!(basic_credentials("basic dXNlcg=="), Some(("basic", None)));
        assert_eq!(basic_credentials("Bearer abc"), Some(("Bearer", None)));
        assert_eq!(basic_credentials("Basic"), None);
        assert_eq!(basic_credentials("Basic a b"), None);
        assert_eq!(
            basic_credentials("Basic dTpwOng="),
            Some(("Basic", None)),
            "u:p:x has two colons"
        );
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVs\nbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("a"), None);
    }
}

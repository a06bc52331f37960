//! HTTP basic authentication in front of any service, answering with Python's `401` page.
//!
//! `python -m http.server` has no authentication; the usual recipe is a `do_GET` that checks
//! `self.headers['Authorization']` against a base64 string with `==` before calling
//! `super().do_GET()` (`uploadserver --basic-auth` does the same with `hmac.compare_digest`).
//! [`BasicAuth`] is that check as a handler, so it sits on top of
//! [`StaticFiles`](crate::static_files::StaticFiles), [`Cgi`](crate::cgi::Cgi), an uploads
//! layer or an axum router like any other [`HttpRequestHandler`] layer:
//!
//! - a request without valid credentials gets `401 Unauthorized` with
//!   `WWW-Authenticate: Basic realm="…", charset="UTF-8"` and Python's error page, and its log
//!   lines — **before its body is read**: a refused upload is never received, and a client
//!   sending `Expect: 100-continue` never gets its `100`;
//! - credentials are compared in constant time (the time taken depends on the configured
//!   credentials' length only, never on how much of a guess was right), user name and password
//!   together, so a failure says nothing about which of the two was wrong;
//! - the password never appears in a log line, and a refused request costs the same one log
//!   line (plus Python's `code 401` line) as any other.
//!
//! # Example
//!
//! ```
//! use basehttp::basic_auth::{BasicAuth, Credentials};
//! use basehttp::prelude::*;
//! use basehttp::static_files::StaticFiles;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = BasicAuth::new(Credentials::parse("alice:s3cret")?);
//! let app = auth.into_layer().layer(StaticFiles::new("."));
//!
//! let req = http::Request::get("/").body(Body::empty())?;
//! let res = app.clone().oneshot(req).await?;
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers()["www-authenticate"], r#"Basic realm="basehttp", charset="UTF-8""#);
//!
//! // curl -u alice:s3cret
//! let req = http::Request::get("/")
//!     .header("authorization", "Basic YWxpY2U6czNjcmV0")
//!     .body(Body::empty())?;
//! assert_eq!(app.oneshot(req).await?.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! # In an axum application
//!
//! ```
//! use basehttp::basic_auth::{BasicAuth, Credentials};
//! use basehttp::prelude::*;
//! use tower::Layer;
//!
//! # fn app() -> Result<axum::Router, Box<dyn std::error::Error>> {
//! let api = axum::Router::new().route("/api", axum::routing::get(|| async { "{}" }));
//! // Every route of the router behind one password, read from a file (`user:password`).
//! # let dir = tempfile::tempdir()?;
//! # let password_file = dir.path().join("password");
//! # std::fs::write(&password_file, "admin:correct horse\n")?;
//! let auth = BasicAuth::new(Credentials::from_file(&password_file)?).realm("admin area");
//! let app = axum::Router::new().fallback_service(auth.into_layer().layer(api));
//! # Ok(app)
//! # }
//! # let _ = app().unwrap();
//! ```

use std::path::Path;
use std::{fmt, io};

use base64::Engine as _;
use http::{HeaderMap, HeaderValue, header};
use subtle::{Choice, ConstantTimeEq};

use crate::handler::{Exchange, HandlerResult, HttpRequestHandler};

/// A user name and password, as `curl -u user:password` sends them.
///
/// `Debug` shows the user name only.
#[derive(Clone)]
pub struct Credentials {
    /// `user:password`, the bytes a client's `Authorization: Basic` header decodes to.
    expected: Box<[u8]>,
    user_len: usize,
}

impl Credentials {
    /// Credentials for `user` and `password`.
    ///
    /// # Errors
    ///
    /// A user name containing `:` (basic authentication cannot carry it), or a control
    /// character in either.
    pub fn new(user: &str, password: &str) -> Result<Self, CredentialsError> {
        if user.contains(':') {
            return Err(CredentialsError("the user name contains ':'"));
        }
        if user.chars().chain(password.chars()).any(char::is_control) {
            return Err(CredentialsError("a control character in the credentials"));
        }
        Ok(Self {
            expected: format!("{user}:{password}").into_bytes().into_boxed_slice(),
            user_len: user.len(),
        })
    }

    /// `user:password` (the password may contain `:`), as `--basic-auth` takes it.
    ///
    /// # Errors
    ///
    /// No `:`, or what [`Credentials::new`] refuses.
    pub fn parse(user_password: &str) -> Result<Self, CredentialsError> {
        let (user, password) = user_password
            .split_once(':')
            .ok_or(CredentialsError("expected USER:PASSWORD"))?;
        Self::new(user, password)
    }

    /// The first line of a file, `user:password` (a final newline, `\n` or `\r\n`, is not part
    /// of the password): keeps the password out of the command line and the shell's history.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or its first line is not valid credentials.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let line = text.lines().next().unwrap_or_default();
        Self::parse(line).map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
    }

    /// The user name.
    pub fn user(&self) -> &str {
        // Built from a `&str` up to a `:`: always UTF-8.
        std::str::from_utf8(&self.expected[..self.user_len]).unwrap_or_default()
    }

    /// Whether `decoded` (the decoded `user:password` of a request) is these credentials, in a
    /// time that depends on the configured credentials only.
    fn matches(&self, decoded: &[u8]) -> Choice {
        let mut equal = Choice::from(u8::from(decoded.len() == self.expected.len()));
        for (i, expected) in self.expected.iter().enumerate() {
            let given = decoded.get(i).copied().unwrap_or(!*expected);
            equal &= given.ct_eq(expected);
        }
        equal
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user())
            .finish_non_exhaustive()
    }
}

/// Credentials that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialsError(&'static str);

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CredentialsError {}

/// The longest `Authorization` header looked at (longer ones are refused without decoding).
const MAX_AUTHORIZATION: usize = 4096;

/// Whether `headers` carry an `Authorization: Basic` header whose credentials are one of
/// `accepted`. Every accepted set is compared, in constant time each.
pub fn authorized(headers: &HeaderMap, accepted: &[Credentials]) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let value = value.as_bytes();
    if value.len() > MAX_AUTHORIZATION {
        return false;
    }
    let Some((scheme, token)) = value
        .iter()
        .position(|&b| b == b' ')
        .map(|at| (&value[..at], &value[at + 1..]))
    else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return false;
    }
    let token = token.trim_ascii();
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return false;
    };
    let mut any = Choice::from(0);
    for credentials in accepted {
        any |= credentials.matches(&decoded);
    }
    any.into()
}

/// Python-style basic authentication as a handler: requests without one of the accepted
/// credentials get `401` before their body is read; the others go on to the service below
/// ([`Exchange::fall_through`]). See the [module docs](self).
#[derive(Clone, Debug)]
pub struct BasicAuth {
    accepted: Vec<Credentials>,
    challenge: HeaderValue,
    protocol: http::Version,
}

impl BasicAuth {
    /// Accepts `credentials`. The realm defaults to `basehttp`.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            accepted: vec![credentials],
            challenge: challenge("basehttp"),
            protocol: http::Version::HTTP_10,
        }
    }

    /// Accepts these credentials too (`uploadserver` accepts either of `--basic-auth` and
    /// `--basic-auth-upload` outside `/upload`).
    pub fn or(mut self, credentials: Credentials) -> Self {
        self.accepted.push(credentials);
        self
    }

    /// The realm named in `WWW-Authenticate` (browsers show it in their password dialog).
    /// Defaults to `basehttp`. Quotes and backslashes are escaped, control characters dropped.
    pub fn realm(mut self, realm: &str) -> Self {
        self.challenge = challenge(realm);
        self
    }

    /// Python's `protocol_version` for the answers of this layer and the services below it
    /// (keep-alive and `100 Continue` need HTTP/1.1). Defaults to HTTP/1.0, as Python's.
    pub fn protocol_version(mut self, version: http::Version) -> Self {
        self.protocol = version;
        self
    }

    /// Whether the request's credentials are accepted.
    pub fn is_authorized(&self, ex: &Exchange) -> bool {
        authorized(ex.headers(), &self.accepted)
    }

    /// Sends `401` with the challenge and Python's error page.
    pub fn refuse(&self, ex: &mut Exchange) {
        ex.send_header(
            "WWW-Authenticate",
            self.challenge.to_str().unwrap_or("Basic"),
        );
        ex.send_error(401);
    }

    async fn gate(&self, ex: &mut Exchange) -> HandlerResult {
        if self.is_authorized(ex) {
            ex.fall_through()
        } else {
            self.refuse(ex);
            Ok(())
        }
    }
}

fn challenge(realm: &str) -> HeaderValue {
    let mut quoted = String::with_capacity(realm.len());
    for c in realm.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    HeaderValue::try_from(format!("Basic realm=\"{quoted}\", charset=\"UTF-8\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic realm=\"basehttp\""))
}

impl HttpRequestHandler for BasicAuth {
    fn protocol_version(&self) -> http::Version {
        self.protocol
    }

    async fn do_get(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_head(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_post(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_put(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_delete(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_options(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_patch(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_trace(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }
    async fn do_extension(&self, ex: &mut Exchange) -> HandlerResult {
        self.gate(ex).await
    }

    /// Refuses before the client sends its body; accepted requests go on without a `100`
    /// from here: the service below decides (it may refuse the body too).
    async fn handle_expect_100(&self, ex: &mut Exchange) -> bool {
        if self.is_authorized(ex) {
            return true;
        }
        self.refuse(ex);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[test]
    fn only_the_exact_credentials_pass() {
        let accepted = [Credentials::parse("alice:pa:ss").unwrap()];
        assert!(authorized(&headers(&basic("alice:pa:ss")), &accepted));
        assert!(authorized(
            &headers(&basic("alice:pa:ss").replace("Basic", "basic")),
            &accepted
        ));
        for wrong in [
            "alice:pa:s",
            "alice:pa:sss",
            "alic:pa:ss",
            "alice:",
            ":pa:ss",
            "",
            "alice",
        ] {
            assert!(!authorized(&headers(&basic(wrong)), &accepted), "{wrong}");
        }
        for malformed in [
            "Basic",
            "Basic !!!",
            "Bearer YWxpY2U6cGE6c3M=",
            "YWxpY2U6cGE6c3M=",
        ] {
            assert!(!authorized(&headers(malformed), &accepted), "{malformed}");
        }
        assert!(!authorized(&HeaderMap::new(), &accepted));
        let long = format!("Basic {}", "A".repeat(MAX_AUTHORIZATION));
        assert!(!authorized(&headers(&long), &accepted));
    }

    #[test]
    fn either_of_two_sets_passes() {
        let accepted = [
            Credentials::parse("a:1").unwrap(),
            Credentials::parse("b:2").unwrap(),
        ];
        assert!(authorized(&headers(&basic("a:1")), &accepted));
        assert!(authorized(&headers(&basic("b:2")), &accepted));
        assert!(!authorized(&headers(&basic("a:2")), &accepted));
    }

    #[test]
    fn unusable_credentials_are_refused_and_never_shown() {
        assert!(Credentials::parse("nocolon").is_err());
        assert!(Credentials::new("a:b", "c").is_err());
        assert!(Credentials::new("a", "line\nbreak").is_err());
        let shown = format!("{:?}", Credentials::parse("alice:hunter2").unwrap());
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn realms_are_quoted() {
        assert_eq!(
            challenge(r#"a "b" \c"#),
            r#"Basic realm="a \"b\" \\c", charset="UTF-8""#
        );
        assert_eq!(challenge("x\r\ny"), r#"Basic realm="xy", charset="UTF-8""#);
    }
}

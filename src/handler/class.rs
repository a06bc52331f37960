//! Python's class, per response: the class attributes a response is made with and the
//! overridable methods it goes through, in Python's method resolution order.
//!
//! In Python, `class Cors(CGIHTTPRequestHandler)` is one object: `self.end_headers()` finds
//! `Cors.end_headers` first, its `super().end_headers()` finds `BaseHTTPRequestHandler`'s, and
//! the file and CGI code call the same `self.end_headers()`. Here the classes are tower layers,
//! so the [`Exchange`] of every response carries the equivalent:
//!
//! - a [`Class`]: the [`HttpRequestHandler`]s the request came through (as trait objects: the
//!   trait is dyn-compatible, its `do_*` methods aside), outermost first (the most derived
//!   class first, as in Python's MRO), handed down with the request when a handler falls
//!   through ([`Inherited`]); each overridable method of the exchange walks it;
//! - a [`Base`]: the service making the response — `BaseHTTPRequestHandler` for a handler's own
//!   responses, `SimpleHTTPRequestHandler` for [`StaticFiles`], `CGIHTTPRequestHandler` for
//!   [`Cgi`] — whose [`Attributes`] and method bodies end the walk (`super()` of the last class).
//!
//! Class attributes are values, not methods, so they cannot be walked: a handler's attribute
//! that differs from `BaseHTTPRequestHandler`'s default *overrides* the service below (as a
//! subclass attribute does), one left at the default lets the service's own value stand (as a
//! subclass of `SimpleHTTPRequestHandler` inherits `server_version = "SimpleHTTP/0.6"`).
//!
//! [`Exchange`]: super::Exchange
//! [`StaticFiles`]: crate::static_files::StaticFiles
//! [`Cgi`]: crate::cgi::Cgi

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::{HeaderValue, Version};

#[cfg(feature = "fs")]
use super::Exchange;
use super::error_page::{DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE};
use super::{HttpRequestHandler, SYS_VERSION, rules};

/// `BaseHTTPRequestHandler.server_version`.
pub(crate) const BASE_SERVER_VERSION: &str = "BaseHTTP/0.6";

/// `SimpleHTTPRequestHandler.server_version` (inherited by `CGIHTTPRequestHandler`).
#[cfg(feature = "fs")]
pub(crate) const SIMPLE_SERVER_VERSION: &str = "SimpleHTTP/0.6";

/// Python's class attributes: `server_version`, `sys_version`, `protocol_version`,
/// `error_message_format`, `error_content_type`, `responses`. One set per service; the
/// builders of [`StaticFiles`](crate::static_files::StaticFiles) and
/// [`Cgi`](crate::cgi::Cgi) set them, a handler's trait methods give its own.
#[derive(Clone, Debug)]
pub(crate) struct Attributes {
    server_version: Box<str>,
    sys_version: Box<str>,
    /// `version_string()`, encoded once as a header value.
    server_header: HeaderValue,
    /// `None`: Python's `HTTP/1.0` under basehttp's own server, the host's HTTP/1.1 elsewhere.
    pub(crate) protocol_version: Option<Version>,
    pub(crate) error_message_format: Cow<'static, str>,
    pub(crate) error_content_type: HeaderValue,
    /// Entries over Python's `responses` table.
    responses: Option<Arc<HashMap<u16, (Box<str>, Box<str>)>>>,
    /// Python's `timeout`, for reads of the request body.
    pub(crate) timeout: Option<std::time::Duration>,
}

impl Attributes {
    /// Python's defaults, with `server_version` (`BaseHTTP/0.6`, `SimpleHTTP/0.6`).
    pub(crate) fn new(server_version: &str) -> Self {
        Self {
            server_header: rules::kept_server_header(&format!("{server_version} {SYS_VERSION}")),
            server_version: server_version.into(),
            sys_version: SYS_VERSION.into(),
            protocol_version: None,
            error_message_format: Cow::Borrowed(DEFAULT_ERROR_MESSAGE),
            error_content_type: HeaderValue::from_static(DEFAULT_ERROR_CONTENT_TYPE),
            responses: None,
            timeout: Some(super::DEFAULT_BODY_TIMEOUT),
        }
    }

    /// A handler's own attributes, read once from its trait methods.
    fn of_handler<H: HttpRequestHandler>(handler: &H) -> Self {
        Self {
            server_version: handler.server_version().into(),
            sys_version: handler.sys_version().into(),
            server_header: rules::kept_server_header(&handler.version_string()),
            // `HTTP/1.0` is the trait's default: it follows the host, as an unset one does.
            protocol_version: Some(handler.protocol_version()).filter(|v| *v != Version::HTTP_10),
            error_message_format: Cow::Owned(handler.error_message_format().to_owned()),
            error_content_type: content_type(handler.error_content_type()),
            // The handler's table is its `responses` method, consulted through the class.
            responses: None,
            timeout: handler.timeout(),
        }
    }

    pub(crate) fn server_header(&self) -> &HeaderValue {
        &self.server_header
    }

    pub(crate) fn server_version(&self) -> &str {
        &self.server_version
    }

    pub(crate) fn sys_version(&self) -> &str {
        &self.sys_version
    }

    #[cfg(feature = "fs")]
    pub(crate) fn set_server_version(&mut self, version: String) {
        self.server_version = version.into();
        self.server_header =
            rules::kept_server_header(&format!("{} {}", self.server_version, self.sys_version));
    }

    #[cfg(feature = "fs")]
    pub(crate) fn set_sys_version(&mut self, version: String) {
        self.sys_version = version.into();
        self.server_header =
            rules::kept_server_header(&format!("{} {}", self.server_version, self.sys_version));
    }

    #[cfg(feature = "fs")]
    pub(crate) fn set_error_content_type(&mut self, value: &str) {
        self.error_content_type = content_type(value);
    }

    #[cfg(feature = "fs")]
    pub(crate) fn extend_responses<I>(&mut self, entries: I)
    where
        I: IntoIterator<Item = (u16, (String, String))>,
    {
        let map = Arc::make_mut(self.responses.get_or_insert_with(Default::default));
        for (code, (phrase, description)) in entries {
            map.insert(code, (phrase.into(), description.into()));
        }
    }

    /// Python's `responses[code]`: this service's entries, then Python's table.
    pub(crate) fn responses(&self, code: u16) -> Option<(&str, &str)> {
        if let Some((phrase, description)) = self.responses.as_ref().and_then(|m| m.get(&code)) {
            return Some((phrase, description));
        }
        crate::responses(code)
    }
}

/// `error_content_type` as a header value; one that cannot be sent falls back to Python's.
fn content_type(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| {
        tracing::warn!(
            target: crate::log::TARGET,
            "error_content_type {value:?} cannot be sent as a header; using {DEFAULT_ERROR_CONTENT_TYPE}"
        );
        HeaderValue::from_static(DEFAULT_ERROR_CONTENT_TYPE)
    })
}

/// A handler's `Server` header, as it overrides the services below it.
#[derive(Clone, Debug, Default)]
pub(crate) enum ServerName {
    /// Left at `BaseHTTPRequestHandler`'s: the service's own.
    #[default]
    Inherit,
    /// `version_string()` overridden as a whole.
    Exact(HeaderValue),
    /// `server_version` and/or `sys_version` overridden: composed with the service's others
    /// (a subclass of `SimpleHTTPRequestHandler` that sets `sys_version` says `SimpleHTTP/0.6 …`).
    Parts {
        server_version: Option<Arc<str>>,
        sys_version: Option<Arc<str>>,
    },
}

/// The class attributes a handler sets to something else than `BaseHTTPRequestHandler`'s
/// defaults: they override those of the services below it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) server: ServerName,
    pub(crate) protocol_version: Option<Version>,
    pub(crate) error_message_format: Option<Arc<str>>,
    pub(crate) error_content_type: Option<HeaderValue>,
}

impl Overrides {
    fn of<H: HttpRequestHandler>(handler: &H, attributes: &Attributes) -> Self {
        let base = Attributes::new(BASE_SERVER_VERSION);
        let (server_version, sys_version) = (handler.server_version(), handler.sys_version());
        let version_string = handler.version_string();
        let server = if version_string != format!("{server_version} {sys_version}") {
            ServerName::Exact(attributes.server_header.clone())
        } else {
            let server_version =
                (server_version != BASE_SERVER_VERSION).then(|| server_version.into());
            let sys_version = (sys_version != SYS_VERSION).then(|| sys_version.into());
            match (&server_version, &sys_version) {
                (None, None) => ServerName::Inherit,
                _ => ServerName::Parts {
                    server_version,
                    sys_version,
                },
            }
        };
        Self {
            server,
            protocol_version: attributes.protocol_version,
            error_message_format: (attributes.error_message_format != base.error_message_format)
                .then(|| Arc::from(&*attributes.error_message_format)),
            error_content_type: (attributes.error_content_type != base.error_content_type)
                .then(|| attributes.error_content_type.clone()),
        }
    }

    /// `self` (a more derived class) over `inner`, as Python resolves attributes and methods.
    fn over(&self, inner: &Self) -> Self {
        let server = match (&self.server, &inner.server) {
            (ServerName::Exact(exact), _) => ServerName::Exact(exact.clone()),
            // `version_string()` is a method: the inner override is what the outer class runs.
            (_, ServerName::Exact(exact)) => ServerName::Exact(exact.clone()),
            (ServerName::Inherit, inner) => inner.clone(),
            (outer @ ServerName::Parts { .. }, ServerName::Inherit) => outer.clone(),
            (
                ServerName::Parts {
                    server_version,
                    sys_version,
                },
                ServerName::Parts {
                    server_version: inner_server,
                    sys_version: inner_sys,
                },
            ) => ServerName::Parts {
                server_version: server_version.clone().or_else(|| inner_server.clone()),
                sys_version: sys_version.clone().or_else(|| inner_sys.clone()),
            },
        };
        Self {
            server,
            protocol_version: self.protocol_version.or(inner.protocol_version),
            error_message_format: self
                .error_message_format
                .clone()
                .or_else(|| inner.error_message_format.clone()),
            error_content_type: self
                .error_content_type
                .clone()
                .or_else(|| inner.error_content_type.clone()),
        }
    }
}

/// The handlers a request came through, most derived first, and the class attributes they
/// override.
pub(crate) struct Class {
    pub(crate) hooks: Box<[Arc<dyn HttpRequestHandler>]>,
    pub(crate) overrides: Overrides,
}

impl fmt::Debug for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Class")
            .field("handlers", &self.hooks.len())
            .field("overrides", &self.overrides)
            .finish()
    }
}

impl Class {
    /// The class of a handler with nothing above it.
    pub(crate) fn of_handler<H: HttpRequestHandler>(handler: Arc<H>, own: &Attributes) -> Self {
        Self {
            overrides: Overrides::of(&*handler, own),
            hooks: Box::new([handler as Arc<dyn HttpRequestHandler>]),
        }
    }

    /// `outer`'s handlers, then this class's: a handler reached by another one's fall-through.
    pub(crate) fn below(&self, outer: &Self) -> Self {
        Self {
            // A walk's depth is a `u8`: 255 handlers deep is as deep as a class goes.
            hooks: outer
                .hooks
                .iter()
                .chain(self.hooks.iter())
                .take(usize::from(u8::MAX))
                .cloned()
                .collect(),
            overrides: outer.overrides.over(&self.overrides),
        }
    }
}

/// The request extension a fall-through hands the class down with, and the per-request state
/// that is Python's `self` (one object for the whole class).
#[derive(Clone, Debug)]
pub(crate) struct Inherited {
    pub(crate) class: Arc<Class>,
    /// The request line's target, when the request handed down has another (a handler's
    /// `set_path`, the `//` collapse): Python logs `self.requestline`, set once.
    pub(crate) target: Option<Box<str>>,
    /// `self.close_connection`, when the handler set it (else the request's own protocol rules
    /// decide, with the class's `protocol_version`).
    pub(crate) close: Option<bool>,
}

/// The base class of a response: the class attributes and method bodies the walk through a
/// [`Class`] ends with (what `super()` reaches last).
pub(crate) trait Base: Send + Sync + 'static {
    fn attributes(&self) -> &Attributes;

    /// `SimpleHTTPRequestHandler.translate_path`.
    #[cfg(feature = "fs")]
    fn translate_path(&self, path: &str) -> std::path::PathBuf {
        let directory = std::env::current_dir().unwrap_or_else(|_| ".".into());
        crate::static_files::translate_path(&directory, path)
    }

    /// `SimpleHTTPRequestHandler.guess_type`, for a path that is already relative to the
    /// served directory (`relative`) or not.
    #[cfg(feature = "fs")]
    fn guess_type(&self, path: &std::path::Path, relative: bool) -> HeaderValue {
        let _ = relative;
        crate::static_files::default_guess_type(path)
    }

    /// `SimpleHTTPRequestHandler.list_directory`, for a directory already read.
    #[cfg(feature = "fs")]
    fn list_directory(&self, ex: &mut Exchange, listing: &crate::static_files::DirectoryListing) {
        let page = crate::static_files::render_listing(listing);
        crate::static_files::send_listing(ex, page, &[]);
    }

    /// `CGIHTTPRequestHandler.is_cgi`, on Python's `self.path`.
    #[cfg(cgi)]
    fn is_cgi(&self, path: &str) -> Option<crate::cgi::CgiInfo> {
        crate::cgi::default_is_cgi(path, &crate::cgi::DEFAULT_CGI_DIRECTORIES)
    }
}

/// `BaseHTTPRequestHandler` as the base of a handler's own responses. Outside file serving, the
/// file methods behave as `SimpleHTTPRequestHandler`'s with its default directory (the current
/// one), and `is_cgi` as `CGIHTTPRequestHandler`'s.
#[derive(Debug)]
pub(crate) struct HandlerBase(pub(crate) Attributes);

impl HandlerBase {
    pub(crate) fn of<H: HttpRequestHandler>(handler: &H) -> Self {
        Self(Attributes::of_handler(handler))
    }
}

impl Base for HandlerBase {
    fn attributes(&self) -> &Attributes {
        &self.0
    }
}

//! Builders shared by the services, written once.

/// `get_ref`, `get_mut` and `into_inner` for a service whose `inner: Option<S>` is the
/// service below it (`None`: built as a service with nothing below).
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service, if there is one.
        pub fn get_ref(&self) -> Option<&S> {
            self.inner.as_ref()
        }

        /// Mutable access to the inner service, if there is one.
        pub fn get_mut(&mut self) -> Option<&mut S> {
            self.inner.as_mut()
        }

        /// Consumes `self`, returning the inner service, if there is one.
        pub fn into_inner(self) -> Option<S> {
            self.inner
        }
    };
}

/// The builders for Python's class attributes of a service whose `config_mut()` holds them in
/// `class: Attributes`. `$server_version` names the default in the docs.
#[cfg(feature = "fs")]
macro_rules! define_class_attribute_builders {
    ($server_version:literal) => {
        /// Python's `server_version` class attribute: the first word of the `Server` header
        /// (for CGI, also of `SERVER_SOFTWARE`).
        ///
        #[doc = concat!("Defaults to `\"", $server_version, "\"`.")]
        pub fn server_version(mut self, version: impl Into<String>) -> Self {
            self.config_mut().class.set_server_version(version.into());
            self
        }

        /// Python's `sys_version`: the second word of the `Server` header.
        ///
        /// Defaults to [`SYS_VERSION`](crate::handler::SYS_VERSION) (`basehttp/<version>`;
        /// Python says `Python/3.x.y`).
        pub fn sys_version(mut self, version: impl Into<String>) -> Self {
            self.config_mut().class.set_sys_version(version.into());
            self
        }

        /// Python's `protocol_version` (the CLI's `-p`): the version of the status line, and
        /// whether connections may persist (`HTTP/1.1`) or close after each response
        /// (`HTTP/1.0`, Python's default, even for HTTP/1.1 clients).
        ///
        /// A handler above this service that sets its own `protocol_version` overrides it.
        /// Defaults to `HTTP/1.0` when basehttp's [`HttpServer`](crate::server::HttpServer)
        /// serves this service directly, as in Python, and to `HTTP/1.1` when it is mounted in
        /// an application (under an axum `Router` with the crate's `axum` feature, or served
        /// by another server), so that it keeps connections alive like the routes beside it.
        /// Set it to pin one version wherever the service runs.
        pub fn protocol_version(mut self, version: http::Version) -> Self {
            self.config_mut().class.protocol_version = Some(version);
            self
        }

        /// Python's `error_message_format`: the template of `send_error`'s pages, with
        /// `%(code)d`, `%(message)s` and `%(explain)s` placeholders (see
        /// [`render_error_page`](crate::handler::render_error_page)).
        ///
        /// Defaults to [`DEFAULT_ERROR_MESSAGE`](crate::handler::DEFAULT_ERROR_MESSAGE),
        /// CPython 3.14's.
        pub fn error_message_format(mut self, format: impl Into<String>) -> Self {
            self.config_mut().class.error_message_format = format.into().into();
            self
        }

        /// Python's `error_content_type`: the `Content-Type` of `send_error`'s pages.
        ///
        /// Defaults to [`DEFAULT_ERROR_CONTENT_TYPE`](crate::handler::DEFAULT_ERROR_CONTENT_TYPE)
        /// (`text/html;charset=utf-8`).
        pub fn error_content_type(mut self, content_type: impl AsRef<str>) -> Self {
            self.config_mut()
                .class
                .set_error_content_type(content_type.as_ref());
            self
        }

        /// Entries over Python's `responses` table (`code → (phrase, description)`): the
        /// reason phrase of a status line, and the message and explanation of an error page.
        /// Python: `responses = {**BaseHTTPRequestHandler.responses, 404: ("Nope", "…")}`.
        ///
        /// Defaults to none: [`crate::responses`], CPython 3.14's table.
        #[doc(alias = "HTTPStatus")]
        pub fn responses<I, P, D>(mut self, entries: I) -> Self
        where
            I: IntoIterator<Item = (u16, (P, D))>,
            P: Into<String>,
            D: Into<String>,
        {
            self.config_mut().class.extend_responses(
                entries.into_iter().map(|(code, (phrase, description))| {
                    (code, (phrase.into(), description.into()))
                }),
            );
            self
        }
    };
}

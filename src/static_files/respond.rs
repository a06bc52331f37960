//! Python's `send_head` and `copyfile`, through the [`Exchange`]: what the planner decided, sent
//! with `send_response`, `send_header`, `end_headers` and `send_error` — so every file, listing,
//! redirect, `304` and error page goes through the methods a handler above overrides.

use http::HeaderValue;
use http::header;

use super::Config;
use super::file_body::FileBody;
use super::fs::{self, FileContent, FileResponse, Plan};
use super::service::Planned;
use crate::body::Body;
use crate::handler::Exchange;

/// Python's `send_head` off the runtime: plans the request and answers it through the
/// exchange — the listing and the handlers' methods run here too.
pub(super) fn send_head(
    config: &Config,
    mut ex: Box<Exchange>,
    planned: &Planned,
    may_fall_through: bool,
) -> (Box<Exchange>, bool) {
    let answered = crate::handler::guarded(&mut ex, |ex| {
        let request = fs::Request {
            external: planned.external.as_deref().unwrap_or(ex.path()),
            head: planned.head,
            headers: ex.headers(),
        };
        let translated = planned.translated.resolve(config);
        let plan = fs::plan(config, translated.as_ref(), request);
        if may_fall_through && matches!(plan, fs::Plan::NotFound) {
            return false;
        }
        respond(ex, config, plan);
        true
    });
    (ex, answered.unwrap_or(true))
}

/// Answers `plan` through `ex`.
pub(super) fn respond(ex: &mut Exchange, config: &Config, plan: Plan<'_>) {
    match plan {
        Plan::Redirect(location) => match HeaderValue::try_from(location) {
            Ok(location) => {
                ex.send_response(301);
                ex.send_header_value(header::LOCATION, location);
                ex.send_header_value(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                ex.end_headers_or_500();
            }
            // The location is made of the request target, so this cannot happen.
            Err(_) => ex.send_error_with(404, "File not found", None),
        },
        Plan::NotFound => ex.send_error_with(404, "File not found", None),
        Plan::ListingDenied => ex.send_error_with(404, "No permission to list directory", None),
        Plan::Forbidden => ex.send_error(403),
        Plan::PreconditionFailed => ex.send_error(412),
        Plan::RangeNotSatisfiable { size } => {
            // Buffered before the status line, it stays on the error page.
            if let Ok(range) = HeaderValue::try_from(format!("bytes */{size}")) {
                ex.send_header_value(header::CONTENT_RANGE, range);
            }
            ex.send_error(416);
        }
        Plan::NotModified { etag, vary } => {
            ex.send_response(304);
            if config.etags {
                ex.send_header_value(header::ETAG, etag);
            }
            if vary {
                ex.send_header_value(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            ex.end_headers_or_500();
        }
        Plan::Listing(listing, turn) => {
            ex.list_directory(&listing);
            drop((listing, turn));
        }
        Plan::File(file) => respond_file(ex, config, file),
    }
}

/// `SimpleHTTPRequestHandler.list_directory`'s response, for a rendered page: `200`,
/// `text/html; charset=utf-8`, the length, Python 3.15's extra headers, the page (shared with
/// the other responses carrying the same page).
pub(crate) fn send_listing(
    ex: &mut Exchange,
    page: String,
    extra: &[(header::HeaderName, HeaderValue)],
) {
    let page = match ex.extensions().get::<super::listing::ListingLink>() {
        Some(link) => link.insert_into(page),
        None => page,
    };
    let page = super::shared_page::share(page.into_bytes());
    ex.send_response(200);
    ex.send_header_value(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    ex.send_header_value(
        header::CONTENT_LENGTH,
        crate::handler::rules::content_length(page.len() as u64),
    );
    for (name, value) in extra {
        ex.send_header_value(name.clone(), value.clone());
    }
    if ex.end_headers_or_500() {
        ex.send_body(Body::from(page));
    }
}

fn respond_file(ex: &mut Exchange, config: &Config, file: FileResponse<'_>) {
    let content_type = ex.content_type(config.root.path(), &file.name);
    let (content_type, content_length, body) = match file.body {
        FileContent::None => (content_type, file.size, Body::empty()),
        FileContent::Bytes(bytes) => (content_type, bytes.len() as u64, Body::from(bytes)),
        FileContent::Stream(stream) => {
            let length = match file.ranges.as_deref() {
                Some([range]) => range.len(),
                _ => file.size,
            };
            (content_type, length, Body::file(stream))
        }
        FileContent::Multipart(handle) => {
            let ranges = file.ranges.as_deref().unwrap_or_default();
            let boundary = fs::boundary(&file.validators);
            let (segments, length) = fs::multipart(
                ranges,
                &boundary,
                content_type.to_str().unwrap_or("application/octet-stream"),
                file.size,
            );
            let multipart =
                HeaderValue::try_from(format!("multipart/byteranges; boundary={boundary}"))
                    .unwrap_or(content_type);
            (
                multipart,
                length,
                Body::file(FileBody::new(handle, segments)),
            )
        }
    };
    ex.send_response(if file.ranges.is_some() { 206 } else { 200 });
    ex.send_header_value(header::CONTENT_TYPE, content_type);
    ex.send_header_value(
        header::CONTENT_LENGTH,
        crate::handler::rules::content_length(content_length),
    );
    ex.send_header_value(
        header::LAST_MODIFIED,
        crate::log::http_date_header(file.validators.last_modified()),
    );
    if config.etags {
        ex.send_header_value(header::ETAG, file.validators.etag);
    }
    if config.ranges {
        ex.send_header_value(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let Some([range]) = file.ranges.as_deref() {
        if let Ok(value) =
            HeaderValue::try_from(format!("bytes {}-{}/{}", range.start, range.end, file.size))
        {
            ex.send_header_value(header::CONTENT_RANGE, value);
        }
    }
    if let Some(encoding) = file.encoding {
        ex.send_header_value(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.token()),
        );
    }
    if file.vary {
        ex.send_header_value(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    for (name, value) in &config.extra_headers {
        ex.send_header_value(name.clone(), value.clone());
    }
    if ex.end_headers_or_500() {
        ex.send_body(body);
    }
}

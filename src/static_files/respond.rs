//! Python's `send_head` and `copyfile`, as an `http::Response`: what the planner decided, with
//! Python's status lines, headers and pages.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::Config;
use super::fs::{FileContent, FileResponse, Plan};
use crate::body::Body;
use crate::handler::semantics::Reply;

/// Answers `plan`.
pub(super) fn respond(config: &Config, reply: &Reply<'_>, plan: Plan) -> Response<Body> {
    match plan {
        Plan::Redirect(location) => match HeaderValue::try_from(location) {
            Ok(location) => {
                let mut response = reply.start(StatusCode::MOVED_PERMANENTLY, None);
                let headers = response.headers_mut();
                headers.insert(header::LOCATION, location);
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                reply.finish(response)
            }
            // The location is made of the request target, so this cannot happen.
            Err(_) => reply.error(404, Some("File not found"), None),
        },
        Plan::NotFound => reply.error(404, Some("File not found"), None),
        Plan::ListingDenied => reply.error(404, Some("No permission to list directory"), None),
        Plan::Forbidden => reply.error(403, None, None),
        Plan::PreconditionFailed => reply.error(412, None, None),
        Plan::RangeNotSatisfiable { size } => {
            let range = HeaderValue::try_from(format!("bytes */{size}"))
                .unwrap_or(HeaderValue::from_static("bytes */0"));
            reply.error(416, None, Some((header::CONTENT_RANGE, range)))
        }
        Plan::NotModified { etag, vary } => {
            let mut response = reply.start(StatusCode::NOT_MODIFIED, None);
            let headers = response.headers_mut();
            if config.etags {
                if let Ok(etag) = HeaderValue::try_from(etag) {
                    headers.insert(header::ETAG, etag);
                }
            }
            if vary {
                headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            reply.finish(response)
        }
        Plan::Listing(page) => {
            let mut response = reply.start(StatusCode::OK, None);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
            extra_headers(config, headers);
            *response.body_mut() = Body::from(page);
            reply.finish(response)
        }
        Plan::File(file) => respond_file(config, reply, file),
    }
}

fn respond_file(config: &Config, reply: &Reply<'_>, file: FileResponse) -> Response<Body> {
    let status = match file.ranges {
        Some(_) => StatusCode::PARTIAL_CONTENT,
        None => StatusCode::OK,
    };
    let mut response = reply.start(status, None);
    let headers = response.headers_mut();
    let content_type = match &file.boundary {
        Some(boundary) => {
            HeaderValue::try_from(format!("multipart/byteranges; boundary={boundary}"))
                .unwrap_or(file.content_type)
        }
        None => file.content_type,
    };
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(file.content_length),
    );
    headers.insert(
        header::LAST_MODIFIED,
        crate::log::http_date_header(file.validators.last_modified()),
    );
    if config.etags {
        if let Ok(etag) = HeaderValue::try_from(file.validators.etag) {
            headers.insert(header::ETAG, etag);
        }
    }
    if config.ranges {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let (Some([range]), None) = (file.ranges.as_deref(), &file.boundary) {
        if let Ok(value) =
            HeaderValue::try_from(format!("bytes {}-{}/{}", range.start, range.end, file.size))
        {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    if let Some(encoding) = file.encoding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.token()),
        );
    }
    if file.vary {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    extra_headers(config, headers);
    *response.body_mut() = match file.body {
        FileContent::None => Body::empty(),
        FileContent::Bytes(bytes) => Body::from(bytes),
        FileContent::Stream(stream) => Body::new(stream),
    };
    reply.finish(response)
}

fn extra_headers(config: &Config, headers: &mut http::HeaderMap) {
    for (name, value) in &config.extra_headers {
        headers.append(name.clone(), value.clone());
    }
}

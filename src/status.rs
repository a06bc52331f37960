//! Python's `BaseHTTPRequestHandler.responses` table: reason phrase and long description per
//! status code, exactly as CPython 3.14's `http.HTTPStatus` defines them.
//!
//! The table is generated from CPython 3.14 (`http/__init__.py`); it carries the RFC 9110 phrases
//! that 3.13 introduced (`413 Content Too Large`, `414 URI Too Long`, …) and the descriptions 3.14
//! filled in.

/// Looks up Python's `(phrase, description)` pair for `code`.
///
/// Returns `None` for codes Python does not know (`send_error(999)` then renders `???`).
///
/// ```
/// assert_eq!(
///     basehttp::responses(404),
///     Some(("Not Found", "Nothing matches the given URI"))
/// );
/// assert_eq!(basehttp::responses(999), None);
/// ```
pub fn responses(code: u16) -> Option<(&'static str, &'static str)> {
    match code {
        100 => Some(("Continue", "Request received, please continue")),
        101 => Some((
            "Switching Protocols",
            "Switching to new protocol; obey Upgrade header",
        )),
        102 => Some(("Processing", "Server is processing the request")),
        103 => Some(("Early Hints", "Headers sent to prepare for the response")),
        200 => Some(("OK", "Request fulfilled, document follows")),
        201 => Some(("Created", "Document created, URL follows")),
        202 => Some((
            "Accepted",
            "Request accepted, processing continues off-line",
        )),
        203 => Some((
            "Non-Authoritative Information",
            "Request fulfilled from cache",
        )),
        204 => Some(("No Content", "Request fulfilled, nothing follows")),
        205 => Some(("Reset Content", "Clear input form for further input")),
        206 => Some(("Partial Content", "Partial content follows")),
        207 => Some((
            "Multi-Status",
            "Response contains multiple statuses in the body",
        )),
        208 => Some(("Already Reported", "Operation has already been reported")),
        226 => Some(("IM Used", "Request completed using instance manipulations")),
        300 => Some((
            "Multiple Choices",
            "Object has several resources -- see URI list",
        )),
        301 => Some((
            "Moved Permanently",
            "Object moved permanently -- see URI list",
        )),
        302 => Some(("Found", "Object moved temporarily -- see URI list")),
        303 => Some(("See Other", "Object moved -- see Method and URL list")),
        304 => Some(("Not Modified", "Document has not changed since given time")),
        305 => Some((
            "Use Proxy",
            "You must use proxy specified in Location to access this resource",
        )),
        307 => Some((
            "Temporary Redirect",
            "Object moved temporarily -- see URI list",
        )),
        308 => Some((
            "Permanent Redirect",
            "Object moved permanently -- see URI list",
        )),
        400 => Some(("Bad Request", "Bad request syntax or unsupported method")),
        401 => Some(("Unauthorized", "No permission -- see authorization schemes")),
        402 => Some(("Payment Required", "No payment -- see charging schemes")),
        403 => Some((
            "Forbidden",
            "Request forbidden -- authorization will not help",
        )),
        404 => Some(("Not Found", "Nothing matches the given URI")),
        405 => Some((
            "Method Not Allowed",
            "Specified method is invalid for this resource",
        )),
        406 => Some(("Not Acceptable", "URI not available in preferred format")),
        407 => Some((
            "Proxy Authentication Required",
            "You must authenticate with this proxy before proceeding",
        )),
        408 => Some(("Request Timeout", "Request timed out; try again later")),
        409 => Some(("Conflict", "Request conflict")),
        410 => Some((
            "Gone",
            "URI no longer exists and has been permanently removed",
        )),
        411 => Some(("Length Required", "Client must specify Content-Length")),
        412 => Some(("Precondition Failed", "Precondition in headers is false")),
        413 => Some(("Content Too Large", "Content is too large")),
        414 => Some(("URI Too Long", "URI is too long")),
        415 => Some((
            "Unsupported Media Type",
            "Entity body in unsupported format",
        )),
        416 => Some(("Range Not Satisfiable", "Cannot satisfy request range")),
        417 => Some((
            "Expectation Failed",
            "Expect condition could not be satisfied",
        )),
        418 => Some((
            "I'm a Teapot",
            "Server refuses to brew coffee because it is a teapot",
        )),
        421 => Some((
            "Misdirected Request",
            "Server is not able to produce a response",
        )),
        422 => Some((
            "Unprocessable Content",
            "Server is not able to process the contained instructions",
        )),
        423 => Some(("Locked", "Resource of a method is locked")),
        424 => Some((
            "Failed Dependency",
            "Dependent action of the request failed",
        )),
        425 => Some((
            "Too Early",
            "Server refuses to process a request that might be replayed",
        )),
        426 => Some((
            "Upgrade Required",
            "Server refuses to perform the request using the current protocol",
        )),
        428 => Some((
            "Precondition Required",
            "The origin server requires the request to be conditional",
        )),
        429 => Some((
            "Too Many Requests",
            "The user has sent too many requests in a given amount of time (\"rate limiting\")",
        )),
        431 => Some((
            "Request Header Fields Too Large",
            "The server is unwilling to process the request because its header fields are too large",
        )),
        451 => Some((
            "Unavailable For Legal Reasons",
            "The server is denying access to the resource as a consequence of a legal demand",
        )),
        500 => Some(("Internal Server Error", "Server got itself in trouble")),
        501 => Some(("Not Implemented", "Server does not support this operation")),
        502 => Some(("Bad Gateway", "Invalid responses from another server/proxy")),
        503 => Some((
            "Service Unavailable",
            "The server cannot process the request due to a high load",
        )),
        504 => Some((
            "Gateway Timeout",
            "The gateway server did not receive a timely response",
        )),
        505 => Some(("HTTP Version Not Supported", "Cannot fulfill request")),
        506 => Some((
            "Variant Also Negotiates",
            "Server has an internal configuration error",
        )),
        507 => Some((
            "Insufficient Storage",
            "Server is not able to store the representation",
        )),
        508 => Some((
            "Loop Detected",
            "Server encountered an infinite loop while processing a request",
        )),
        510 => Some((
            "Not Extended",
            "Request does not meet the resource access policy",
        )),
        511 => Some((
            "Network Authentication Required",
            "The client needs to authenticate to gain network access",
        )),
        _ => None,
    }
}

/// The reason phrase Python would put in a status line for `code`, if it knows one.
pub(crate) fn phrase(code: u16) -> Option<&'static str> {
    responses(code).map(|(phrase, _)| phrase)
}

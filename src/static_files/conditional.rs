//! Conditional and range requests: pure evaluation of the request's validators against a file's
//! metadata.
//!
//! The order is RFC 9110 §13.2.2: `If-Match`, then `If-Unmodified-Since`, then `If-None-Match`,
//! then `If-Modified-Since` (with Python's rules), then `Range`/`If-Range`. A client that only
//! sends Python's `If-Modified-Since` sees Python's answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use http::{HeaderMap, HeaderValue};

/// The default for the most ranges one request may ask for after overlapping and adjacent ones
/// are merged; more, and the whole file is sent (as nginx and Apache do against range floods).
pub(crate) const MAX_RANGES: usize = 16;

/// The most range specs read from one `Range` header; a longer list is not a real client's and
/// gets the whole file.
pub(crate) const MAX_RANGE_SPECS: usize = 256;

/// The validators of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Validators {
    /// Modification time, whole seconds (what `Last-Modified` can carry).
    pub(crate) mtime_secs: u64,
    /// `"<mtime ns, hex>-<size, hex>"`, ready to send (a kept file's is made once and shared).
    pub(crate) etag: HeaderValue,
}

impl Validators {
    pub(crate) fn new(mtime: SystemTime, size: u64) -> Self {
        let since = mtime.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let mut etag = String::with_capacity(48);
        etag.push('"');
        push_hex(&mut etag, since.as_nanos());
        etag.push('-');
        push_hex(&mut etag, u128::from(size));
        etag.push('"');
        // Quotes, hex digits and a dash: always a valid value.
        let etag = HeaderValue::from_maybe_shared(Bytes::from(etag))
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        Self {
            mtime_secs: since.as_secs(),
            etag,
        }
    }

    /// The ETag as text, for comparisons.
    pub(crate) fn etag_str(&self) -> &str {
        std::str::from_utf8(self.etag.as_bytes()).unwrap_or_default()
    }

    pub(crate) fn last_modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.mtime_secs)
    }
}

/// Appends `value` in lower-case hex (what `format!("{:x}")` gives, without the formatting
/// machinery).
fn push_hex(out: &mut String, value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 32];
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// What the validators say before the body is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// Go on.
    Proceed,
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` for a GET
/// or HEAD of a file. Without `etags` (Python's behaviour) only `If-Modified-Since` counts, and
/// only when there is no `If-None-Match`.
pub(crate) fn evaluate(headers: &HeaderMap, validators: &Validators, etags: bool) -> Precondition {
    if etags {
        if let Some(if_match) = header_str(headers, &IF_MATCH) {
            if !etag_list_matches(if_match, validators.etag_str(), Compare::Strong) {
                return Precondition::Failed;
            }
        } else if let Some(since) = header_str(headers, &IF_UNMODIFIED_SINCE) {
            if let Ok(since) = httpdate::parse_http_date(since) {
                if validators.last_modified() > since {
                    return Precondition::Failed;
                }
            }
        }
    }
    if let Some(if_none_match) = headers.get(IF_NONE_MATCH) {
        let if_none_match = if_none_match.to_str().unwrap_or_default();
        if etags && etag_list_matches(if_none_match, validators.etag_str(), Compare::Weak) {
            return Precondition::NotModified;
        }
        // Python ignores If-Modified-Since when If-None-Match is present, matching or not.
        return Precondition::Proceed;
    }
    if let Some(since) = headers.get(IF_MODIFIED_SINCE) {
        if let Some(since) = python_if_modified_since(since.as_bytes()) {
            if validators.mtime_secs <= since {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

fn header_str<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[derive(Clone, Copy)]
enum Compare {
    Strong,
    Weak,
}

/// Whether an `If-Match` / `If-None-Match` list (or `*`) matches `etag`.
fn etag_list_matches(list: &str, etag: &str, compare: Compare) -> bool {
    let list = list.trim();
    if list == "*" {
        return true;
    }
    list.split(',').map(str::trim).any(|candidate| {
        let (weak, tag) = match candidate.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, candidate),
        };
        match compare {
            Compare::Strong => !weak && tag == etag,
            Compare::Weak => tag == etag,
        }
    })
}

/// Python's reading of `If-Modified-Since`: `email.utils.parsedate_to_datetime`, accepted only
/// when the date is UTC (`GMT`, `UTC`, `UT`, `Z`, `+0000`) or carries no zone (asctime, `-0000`);
/// any other offset, or garbage, means the header is ignored. Returns seconds since the epoch.
pub(crate) fn python_if_modified_since(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if let Ok(time) = httpdate::parse_http_date(text) {
        return time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
    }
    parse_rfc2822(text)
}

/// `Tue, 14 Nov 2023 22:13:20 +0000` and friends: `[weekday,] day month year hh:mm[:ss] [zone]`.
fn parse_rfc2822(text: &str) -> Option<u64> {
    let mut words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if words
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        words.remove(0);
    }
    let [day, month, year, time, rest @ ..] = words.as_slice() else {
        return None;
    };
    let zone = rest.first().copied().unwrap_or("-0000");
    let utc = matches!(zone, "GMT" | "UTC" | "UT" | "Z" | "+0000" | "-0000");
    if !utc || rest.len() > 1 {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    let month = month_number(month)?;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        // email.utils: two-digit years are 19xx above 68, 20xx otherwise.
        year += if year > 68 { 1900 } else { 2000 };
    }
    let mut hms = time.split(':');
    let hour: u64 = hms.next()?.parse().ok()?;
    let minute: u64 = hms.next()?.parse().ok()?;
    let second: u64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    if hms.next().is_some() || day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian), `None` before the epoch.
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days >= 0).then_some(days)
}

/// A byte range, inclusive bounds, within the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl ByteRange {
    pub(crate) fn len(self) -> u64 {
        self.end - self.start + 1
    }
}

/// What to send for the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RangePlan {
    /// The whole file (no usable `Range`).
    Full,
    /// `206` with these ranges (one, or several for `multipart/byteranges`).
    Partial(Vec<ByteRange>),
    /// `416` with `Content-Range: bytes */size`.
    NotSatisfiable,
}

/// Evaluates `Range` (and `If-Range`) for a GET of a file of `size` bytes, allowing at most
/// `max_ranges` distinct ranges.
pub(crate) fn range_plan(
    headers: &HeaderMap,
    validators: &Validators,
    size: u64,
    max_ranges: usize,
) -> RangePlan {
    let Some(range) = headers.get(RANGE) else {
        return RangePlan::Full;
    };
    if let Some(if_range) = headers.get(IF_RANGE) {
        if !if_range_matches(if_range.as_bytes(), validators) {
            return RangePlan::Full;
        }
    }
    let Ok(range) = range.to_str() else {
        return RangePlan::NotSatisfiable;
    };
    parse_ranges(range, size, max_ranges)
}

/// `If-Range`: a strong ETag equal to the current one, or a date equal to `Last-Modified`.
fn if_range_matches(value: &[u8], validators: &Validators) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') {
        return value == validators.etag_str();
    }
    if value.starts_with("W/") {
        return false;
    }
    httpdate::parse_http_date(value).is_ok_and(|date| date == validators.last_modified())
}

/// Parses `bytes=…` into satisfiable ranges, merging overlapping and adjacent ones.
pub(crate) fn parse_ranges(value: &str, size: u64, max_ranges: usize) -> RangePlan {
    let Some((unit, specs)) = value.split_once('=') else {
        return RangePlan::NotSatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        // RFC 9110: an unknown range unit is ignored.
        return RangePlan::Full;
    }
    let mut ranges = Vec::new();
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return RangePlan::NotSatisfiable;
        };
        let (first, last) = (first.trim(), last.trim());
        let parse = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse().ok()
            }
        };
        let range = match (first.is_empty(), last.is_empty()) {
            (true, true) => return RangePlan::NotSatisfiable,
            // bytes=-N: the last N bytes.
            (true, false) => {
                let Some(suffix) = parse(last) else {
                    return RangePlan::NotSatisfiable;
                };
                if suffix == 0 || size == 0 {
                    None
                } else {
                    Some(ByteRange {
                        start: size.saturating_sub(suffix),
                        end: size - 1,
                    })
                }
            }
            (false, _) => {
                let Some(start) = parse(first) else {
                    return RangePlan::NotSatisfiable;
                };
                let end = if last.is_empty() {
                    None
                } else {
                    match parse(last) {
                        Some(end) if end >= start => Some(end),
                        _ => return RangePlan::NotSatisfiable,
                    }
                };
                (start < size).then(|| ByteRange {
                    start,
                    end: end.map_or(size - 1, |end| end.min(size - 1)),
                })
            }
        };
        if let Some(range) = range {
            ranges.push(range);
            if ranges.len() > MAX_RANGE_SPECS.max(max_ranges) {
                // An abusive list: stop parsing, serve the whole file.
                return RangePlan::Full;
            }
        }
    }
    if ranges.is_empty() {
        return RangePlan::NotSatisfiable;
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => merged.push(range),
        }
    }
    if merged.len() > max_ranges {
        return RangePlan::Full;
    }
    RangePlan::Partial(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn validators() -> Validators {
        // mtime 1700000000 s (Tue, 14 Nov 2023 22:13:20 GMT), 6 bytes.
        Validators::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), 6)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn pythons_if_modified_since_rules() {
        let v = validators();
        let cases = [
            ("Tue, 14 Nov 2023 22:13:20 GMT", Precondition::NotModified),
            ("Tue, 14 Nov 2023 23:13:20 GMT", Precondition::NotModified),
            ("Mon, 14 Nov 2022 22:13:20 GMT", Precondition::Proceed),
            ("Tue Nov 14 22:13:20 2023", Precondition::NotModified),
            ("Tue, 14 Nov 2023 22:13:20 +0000", Precondition::NotModified),
            ("Tue, 14 Nov 2023 22:13:20 -0000", Precondition::NotModified),
            ("Tue, 14 Nov 2023 23:13:20 +0100", Precondition::Proceed),
            ("garbage", Precondition::Proceed),
            ("Tuesday, 14-Nov-23 22:13:20", Precondition::Proceed),
        ];
        for (ims, expected) in cases {
            let h = headers(&[("if-modified-since", ims)]);
            assert_eq!(evaluate(&h, &v, true), expected, "{ims}");
        }
        // If-None-Match present: IMS ignored (CPython test_browser_cache_with_If_None_Match_header).
        let h = headers(&[
            ("if-modified-since", "Tue, 14 Nov 2023 22:13:20 GMT"),
            ("if-none-match", "\"other\""),
        ]);
        assert_eq!(evaluate(&h, &v, true), Precondition::Proceed);
    }

    #[test]
    fn etags_and_rfc9110_order() {
        let v = validators();
        let etag: &'static str = Box::leak(v.etag_str().into());
        let weak: &'static str = Box::leak(format!("W/{etag}").into_boxed_str());
        assert_eq!(
            evaluate(&headers(&[("if-none-match", etag)]), &v, true),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-none-match", weak)]), &v, true),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-none-match", "*")]), &v, true),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-match", etag)]), &v, true),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(&headers(&[("if-match", weak)]), &v, true),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(&headers(&[("if-match", "\"nope\"")]), &v, true),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(
                &headers(&[("if-unmodified-since", "Mon, 13 Nov 2023 00:00:00 GMT")]),
                &v,
                true
            ),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(
                &headers(&[("if-unmodified-since", "Wed, 15 Nov 2023 00:00:00 GMT")]),
                &v,
                true
            ),
            Precondition::Proceed
        );
        // Python's mode: entity tags mean nothing, but If-None-Match still disables
        // If-Modified-Since.
        let python = |h: &[(&'static str, &'static str)]| evaluate(&headers(h), &v, false);
        assert_eq!(python(&[("if-none-match", etag)]), Precondition::Proceed);
        assert_eq!(python(&[("if-match", "\"nope\"")]), Precondition::Proceed);
        assert_eq!(
            python(&[("if-modified-since", "Wed, 15 Nov 2023 00:00:00 GMT")]),
            Precondition::NotModified
        );
        assert_eq!(
            python(&[
                ("if-modified-since", "Wed, 15 Nov 2023 00:00:00 GMT"),
                ("if-none-match", "\"x\"")
            ]),
            Precondition::Proceed
        );
        // If-Match wins over If-None-Match.
        assert_eq!(
            evaluate(
                &headers(&[("if-match", "\"nope\""), ("if-none-match", etag)]),
                &v,
                true
            ),
            Precondition::Failed
        );
    }

    #[test]
    fn ranges() {
        let r = |s: u64, e: u64| ByteRange { start: s, end: e };
        let cases = [
            ("bytes=0-4", RangePlan::Partial(vec![r(0, 4)])),
            ("bytes=995-", RangePlan::Partial(vec![r(995, 999)])),
            ("bytes=-5", RangePlan::Partial(vec![r(995, 999)])),
            ("bytes=-5000", RangePlan::Partial(vec![r(0, 999)])),
            ("bytes=0-10001", RangePlan::Partial(vec![r(0, 999)])),
            ("bytes=0-1,3-4", RangePlan::Partial(vec![r(0, 1), r(3, 4)])),
            ("bytes=0-1,2-4", RangePlan::Partial(vec![r(0, 4)])),
            ("bytes=0-10001, 0-0", RangePlan::Partial(vec![r(0, 999)])),
            (
                "bytes=0-1,97-98",
                RangePlan::Partial(vec![r(0, 1), r(97, 98)]),
            ),
            ("bytes=1000-", RangePlan::NotSatisfiable),
            ("bytes=alpha", RangePlan::NotSatisfiable),
            ("bytes=10-alpha", RangePlan::NotSatisfiable),
            ("bytes=10", RangePlan::NotSatisfiable),
            ("bytes=5-2", RangePlan::NotSatisfiable),
            ("bytes=-0", RangePlan::NotSatisfiable),
            ("bytes=0--", RangePlan::NotSatisfiable),
            ("bytes=-2-3", RangePlan::NotSatisfiable),
            ("items=0-1", RangePlan::Full),
            ("0", RangePlan::NotSatisfiable),
        ];
        for (spec, expected) in cases {
            assert_eq!(parse_ranges(spec, 1000, MAX_RANGES), expected, "{spec}");
        }
        // Apache Killer: hundreds of overlapping ranges merge into one.
        let killer = format!(
            "bytes=0-,{}",
            (0..200)
                .map(|i| format!("5-{}", i + 5))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            parse_ranges(&killer, 1000, MAX_RANGES),
            RangePlan::Partial(vec![r(0, 999)])
        );
        let flood = format!("bytes={}", vec!["0-1"; MAX_RANGE_SPECS + 1].join(","));
        assert_eq!(parse_ranges(&flood, 1000, MAX_RANGES), RangePlan::Full);
        // Its original form has invalid specs (`5-0`): refused outright.
        assert_eq!(
            parse_ranges("bytes=0-,5-0,5-1,5-2", 1000, MAX_RANGES),
            RangePlan::NotSatisfiable
        );
        // Many disjoint ranges: the whole file instead.
        let many = format!(
            "bytes={}",
            (0..40)
                .map(|i| format!("{}-{}", i * 10, i * 10))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse_ranges(&many, 1000, MAX_RANGES), RangePlan::Full);
        // An empty file has no satisfiable range.
        assert_eq!(
            parse_ranges("bytes=0-0", 0, MAX_RANGES),
            RangePlan::NotSatisfiable
        );
        assert_eq!(
            parse_ranges("bytes=-1", 0, MAX_RANGES),
            RangePlan::NotSatisfiable
        );
    }

    #[test]
    fn if_range() {
        let v = validators();
        let etag: &'static str = Box::leak(v.etag_str().into());
        let h = headers(&[("range", "bytes=0-1"), ("if-range", etag)]);
        assert!(matches!(
            range_plan(&h, &v, 6, MAX_RANGES),
            RangePlan::Partial(_)
        ));
        let h = headers(&[("range", "bytes=0-1"), ("if-range", "\"old\"")]);
        assert_eq!(range_plan(&h, &v, 6, MAX_RANGES), RangePlan::Full);
        let h = headers(&[
            ("range", "bytes=0-1"),
            ("if-range", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        assert!(matches!(
            range_plan(&h, &v, 6, MAX_RANGES),
            RangePlan::Partial(_)
        ));
        let h = headers(&[
            ("range", "bytes=0-1"),
            ("if-range", "Tue, 14 Nov 2023 22:13:21 GMT"),
        ]);
        assert_eq!(range_plan(&h, &v, 6, MAX_RANGES), RangePlan::Full);
    }

    #[test]
    fn etags_are_hex_of_mtime_and_size() {
        let v = Validators::new(UNIX_EPOCH + Duration::new(1_700_000_000, 5), 0x1f);
        assert_eq!(
            v.etag_str(),
            format!("\"{:x}-1f\"", 1_700_000_000_000_000_005u128)
        );
        let zero = Validators::new(UNIX_EPOCH, 0);
        assert_eq!(zero.etag, "\"0-0\"");
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2023, 11, 14), Some(19_675));
        assert_eq!(
            parse_rfc2822("14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000)
        );
    }
}

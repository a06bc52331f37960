//! `python -m http.server`'s command line, parsed and validated into a [`Config`].

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, Parser};
use http::{HeaderName, HeaderValue, Version};

/// The flags, spelled as Python spells them, in Python's order (3.14's, then 3.15's `-H`), then
/// basehttp's own. `--help` and `--version` are argparse's, rendered by [`help`].
#[derive(Debug, Parser)]
#[command(
    name = "basehttp",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(crate) struct Args {
    /// bind to this port (default: 8000)
    #[arg(value_name = "port", default_value = "8000", hide_default_value = true)]
    port: String,

    /// show this help message and exit
    #[arg(short = 'h', long = "help", action = ArgAction::SetTrue)]
    pub(crate) help: bool,

    /// run as CGI server
    #[arg(long)]
    cgi: bool,

    /// bind to this address (default: all interfaces)
    #[arg(short = 'b', long = "bind", value_name = "ADDRESS")]
    bind: Option<String>,

    /// serve this directory (default: current directory)
    #[arg(short = 'd', long = "directory", value_name = "DIRECTORY")]
    directory: Option<PathBuf>,

    /// conform to this HTTP version (default: HTTP/1.0)
    #[arg(
        short = 'p',
        long = "protocol",
        value_name = "VERSION",
        default_value = "HTTP/1.0",
        hide_default_value = true
    )]
    protocol: String,

    /// path to the TLS certificate chain file
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<PathBuf>,

    /// path to the TLS key file
    #[arg(long, value_name = "PATH")]
    tls_key: Option<PathBuf>,

    /// path to the password file for the TLS key
    #[arg(long, value_name = "PATH")]
    tls_password_file: Option<PathBuf>,

    /// add a custom response header of the form 'Header: value' to file and listing responses
    /// (can be specified multiple times; Python 3.15)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// follow symbolic links that lead outside the directory (Python's behaviour; default:
    /// refuse them)
    #[arg(long)]
    follow_symlinks: bool,

    /// with --cgi: seconds a script may take to start answering, and may then stay silent
    /// (default: 60)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "60",
        hide_default_value = true
    )]
    cgi_timeout: String,

    /// with --cgi: hand scripts the server's whole environment, as Python does (default: only
    /// PATH, the locale, TZ and TMPDIR)
    #[arg(long)]
    cgi_inherit_env: bool,

    /// serve HTTP/1.1 requests that have no Host header, as Python does (default: answer 400,
    /// as RFC 9112 requires)
    #[arg(long)]
    allow_missing_host: bool,

    /// do not print a log line for every request (an addition: Python always logs)
    #[arg(short = 'q', long)]
    quiet: bool,

    /// how log lines are written on stderr: python (Python's lines), or json (one JSON object
    /// per line with the Python line as its message and the request's span) (default: python)
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "python",
        hide_default_value = true
    )]
    log_format: String,

    /// accept uploads: an upload page at /upload (linked from listings), multipart POST /upload
    /// with 'files' fields, and PUT /path (as the uploadserver package)
    #[arg(long)]
    upload: bool,

    /// with --upload: replace files of the same name (default: number the new name; PUT
    /// answers 409)
    #[arg(long)]
    upload_overwrite: bool,

    /// with --upload: accept file names starting with '.' (default: refuse them)
    #[arg(long)]
    upload_allow_hidden: bool,

    /// with --upload: the most bytes one request may upload, with an optional K, M, G or T
    /// suffix (default: 32G)
    #[arg(long, value_name = "SIZE")]
    upload_max_size: Option<String>,

    /// require HTTP basic authentication for every request
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,

    /// like --basic-auth, the credentials read from the first line of a file
    #[arg(long, value_name = "PATH")]
    basic_auth_file: Option<PathBuf>,

    /// with --upload: require these credentials for the upload page and uploads (accepted
    /// everywhere else --basic-auth is)
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth_upload: Option<String>,

    /// like --basic-auth-upload, the credentials read from the first line of a file
    #[arg(long, value_name = "PATH")]
    basic_auth_upload_file: Option<PathBuf>,

    /// let pages from any origin read every response (CORS), and answer preflight OPTIONS
    #[arg(long)]
    cors: bool,

    /// like --cors, for this origin only (can be specified multiple times)
    #[arg(long, value_name = "ORIGIN")]
    cors_origin: Vec<String>,

    /// compress listings and compressible files (gzip, br, zstd) for clients that accept it
    #[arg(long)]
    compress: bool,

    /// keep up to SIZE bytes of small, frequently requested files in memory (Linux), with an
    /// optional K, M or G suffix; a file is served from memory only while it is unchanged on
    /// disk; 0 reads every file on every request, as Python does (default: 16M)
    #[arg(long, value_name = "SIZE")]
    memory_cache: Option<String>,

    /// with --memory-cache: serve a kept file for up to SECS seconds after it was last found
    /// unchanged without looking at the disk again (as lighttpd trusts a stat for a second), so
    /// a change is seen up to SECS late; 0 looks on every request (default: 0)
    #[arg(
        long,
        value_name = "SECS",
        default_value = "0",
        hide_default_value = true
    )]
    memory_cache_valid: String,

    /// send files with sendfile on plain HTTP/1.1 connections (Linux): faster for large files,
    /// but a file truncated while it is being sent can reach the client as zeros (as with
    /// nginx and lighttpd); off, files are read and copied as Python does
    #[arg(long)]
    sendfile: bool,

    /// show program's version number and exit
    #[arg(short = 'V', long = "version", action = ArgAction::SetTrue)]
    pub(crate) version: bool,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `127.0.0.1 - - [22/Nov/2026 10:00:00] "GET / HTTP/1.0" 200 -`
    Python,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":"127.0.0.1 - - […] …"},…}`
    Json,
}

/// HTTPS, from `--tls-cert`, `--tls-key` and `--tls-password-file`.
#[derive(Debug)]
pub(crate) struct Tls {
    pub(crate) cert: PathBuf,
    pub(crate) key: Option<PathBuf>,
    pub(crate) password: Option<String>,
}

/// What the server will do, every value checked.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) port: u16,
    /// `None`: all interfaces.
    pub(crate) bind: Option<String>,
    pub(crate) directory: PathBuf,
    pub(crate) protocol: Version,
    pub(crate) cgi: bool,
    pub(crate) follow_symlinks: bool,
    pub(crate) quiet: bool,
    // Parsed (and validated) everywhere; on Windows, where `--cgi` is refused, never used.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) cgi_timeout: std::time::Duration,
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) cgi_inherit_env: bool,
    pub(crate) allow_missing_host: bool,
    /// `--sendfile`.
    pub(crate) sendfile: bool,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) tls: Option<Tls>,
    pub(crate) log_format: LogFormat,
    pub(crate) upload: Option<Upload>,
    pub(crate) basic_auth: Option<basehttp::basic_auth::Credentials>,
    /// `None`: no CORS; empty: any origin.
    pub(crate) cors: Option<Vec<http::HeaderValue>>,
    pub(crate) compress: bool,
    /// `--memory-cache`, in bytes.
    pub(crate) memory_cache: usize,
    /// `--memory-cache-valid`.
    pub(crate) memory_cache_valid: std::time::Duration,
}

/// `--upload` and its options (refused on Windows, where uploads are not built).
#[derive(Debug)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) struct Upload {
    pub(crate) overwrite: bool,
    pub(crate) allow_hidden: bool,
    pub(crate) max_size: u64,
    pub(crate) basic_auth: Option<basehttp::basic_auth::Credentials>,
}

impl Args {
    /// Checks every value; an error is the message of argparse's `parser.error()`.
    pub(crate) fn into_config(self) -> Result<Config, String> {
        let port = parse_port(&self.port)?;
        let protocol = parse_protocol(&self.protocol)?;
        let log_format = match self.log_format.as_str() {
            "python" => LogFormat::Python,
            "json" => LogFormat::Json,
            other => {
                return Err(format!(
                    "argument --log-format: invalid choice: '{other}' (choose from python, json)"
                ));
            }
        };
        let directory = match self.directory {
            Some(dir) => dir,
            None => std::env::current_dir()
                .map_err(|err| format!("cannot read the current directory: {err}"))?,
        };
        if !directory.is_dir() {
            return Err(format!(
                "argument -d/--directory: not a directory: '{}'",
                directory.display()
            ));
        }
        let seconds: f64 = self.cgi_timeout.trim().parse().map_err(|_| {
            format!(
                "argument --cgi-timeout: invalid float value: '{}'",
                self.cgi_timeout
            )
        })?;
        let cgi_timeout = std::time::Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                format!(
                    "argument --cgi-timeout: not a positive number of seconds: '{}'",
                    self.cgi_timeout
                )
            })?;
        let memory_cache_valid = self
            .memory_cache_valid
            .trim()
            .parse()
            .ok()
            .and_then(|secs: f64| std::time::Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| {
                format!(
                    "argument --memory-cache-valid: not a number of seconds: '{}'",
                    self.memory_cache_valid
                )
            })?;
        let headers = self
            .headers
            .iter()
            .map(|arg| parse_header(arg).map_err(|err| format!("argument -H/--header: {err}")))
            .collect::<Result<_, _>>()?;
        let tls = match (self.tls_cert, self.tls_key, self.tls_password_file) {
            (None, Some(_), _) => return Err("--tls-key requires --tls-cert to be set".to_owned()),
            (None, None, Some(_)) => {
                return Err("--tls-password-file requires --tls-cert to be set".to_owned());
            }
            (None, None, None) => None,
            (Some(cert), key, password_file) => Some(Tls {
                cert,
                key,
                password: password_file.as_deref().map(read_password).transpose()?,
            }),
        };
        let basic_auth = credentials(
            "--basic-auth",
            self.basic_auth.as_deref(),
            self.basic_auth_file.as_deref(),
        )?;
        let upload_auth = credentials(
            "--basic-auth-upload",
            self.basic_auth_upload.as_deref(),
            self.basic_auth_upload_file.as_deref(),
        )?;
        let upload = if self.upload {
            let max_size = match &self.upload_max_size {
                Some(size) => parse_size(size)
                    .ok_or_else(|| format!("argument --upload-max-size: invalid size: '{size}'"))?,
                #[cfg(unix)]
                None => basehttp::upload::DEFAULT_MAX_SIZE,
                #[cfg(not(unix))]
                None => u64::MAX,
            };
            Some(Upload {
                overwrite: self.upload_overwrite,
                allow_hidden: self.upload_allow_hidden,
                max_size,
                basic_auth: upload_auth,
            })
        } else {
            for (set, flag) in [
                (self.upload_overwrite, "--upload-overwrite"),
                (self.upload_allow_hidden, "--upload-allow-hidden"),
                (self.upload_max_size.is_some(), "--upload-max-size"),
                (upload_auth.is_some(), "--basic-auth-upload"),
            ] {
                if set {
                    return Err(format!("{flag} requires --upload"));
                }
            }
            None
        };
        let cors = if self.cors || !self.cors_origin.is_empty() {
            let origins = self
                .cors_origin
                .iter()
                .map(|origin| {
                    parse_origin(origin).ok_or_else(|| {
                        format!("argument --cors-origin: invalid origin: '{origin}'")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(origins)
        } else {
            None
        };
        Ok(Config {
            upload,
            basic_auth,
            cors,
            compress: self.compress,
            memory_cache: match &self.memory_cache {
                Some(size) => parse_size(size)
                    .and_then(|size| usize::try_from(size).ok())
                    .ok_or_else(|| format!("argument --memory-cache: invalid size: '{size}'"))?,
                None => basehttp::static_files::DEFAULT_MEMORY_CACHE,
            },
            memory_cache_valid,
            tls,
            log_format,
            headers,
            cgi_timeout,
            cgi_inherit_env: self.cgi_inherit_env,
            allow_missing_host: self.allow_missing_host,
            sendfile: self.sendfile,
            port,
            bind: self.bind,
            directory,
            protocol,
            cgi: self.cgi,
            follow_symlinks: self.follow_symlinks,
            quiet: self.quiet,
        })
    }
}

/// Credentials from `--FLAG USER:PASSWORD` or `--FLAG-file PATH` (not both).
fn credentials(
    flag: &str,
    inline: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<basehttp::basic_auth::Credentials>, String> {
    use basehttp::basic_auth::Credentials;
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("{flag} and {flag}-file cannot both be given")),
        (Some(inline), None) => Credentials::parse(inline)
            .map(Some)
            .map_err(|err| format!("argument {flag}: {err}")),
        (None, Some(path)) => Credentials::from_file(path)
            .map(Some)
            .map_err(|err| format!("argument {flag}-file: {}: {err}", path.display())),
        (None, None) => Ok(None),
    }
}

/// `1048576`, `512K`, `100M`, `2G`, `1T` (powers of 1,024; `B` and `iB` suffixes accepted).
fn parse_size(size: &str) -> Option<u64> {
    let size = size.trim();
    let size = size
        .strip_suffix("iB")
        .or_else(|| size.strip_suffix('B'))
        .unwrap_or(size);
    let (digits, shift) = match size.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&size[..size.len() - 1], 10),
        b'M' => (&size[..size.len() - 1], 20),
        b'G' => (&size[..size.len() - 1], 30),
        b'T' => (&size[..size.len() - 1], 40),
        _ => (size, 0),
    };
    let number: u64 = digits.trim().parse().ok()?;
    number.checked_mul(1 << shift)
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn parse_origin(origin: &str) -> Option<http::HeaderValue> {
    let uri: http::Uri = origin.parse().ok()?;
    let plain = uri.scheme().is_some()
        && uri.host().is_some()
        && uri
            .path_and_query()
            .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
        && !origin.ends_with('/');
    plain
        .then(|| http::HeaderValue::from_str(origin).ok())
        .flatten()
}

/// Python 3.14 reads the password file as text and strips it.
fn read_password(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|err| {
            format!(
                "Failed to read TLS password file: {err}: {:?}",
                path.display().to_string()
            )
        })
}

/// Python 3.15's `_parse_extra_header`: `Name: value`, split at the first colon, both sides
/// trimmed; also refused here: what is not a valid field name or value (control characters).
fn parse_header(arg: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = arg.split_once(':') else {
        return Err(format!("Header {arg} must be of the form Header: value"));
    };
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err(format!("Header {arg} must have a non-empty name"));
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("Header {arg} has an invalid name"))?;
    let value =
        HeaderValue::from_str(value).map_err(|_| format!("Header {arg} has an invalid value"))?;
    Ok((name, value))
}

/// argparse's `type=int`, and a port that fits: Python binds `70000` as port 4464 (modulo
/// 65536); basehttp refuses it.
fn parse_port(port: &str) -> Result<u16, String> {
    let number: i64 = port
        .trim()
        .parse()
        .map_err(|_| format!("argument port: invalid int value: '{port}'"))?;
    u16::try_from(number)
        .map_err(|_| format!("argument port: invalid port value: '{port}' (use 0 to 65535)"))
}

/// Python accepts any string for `-p`; hyper can speak HTTP/1.0 and HTTP/1.1 on the wire.
fn parse_protocol(protocol: &str) -> Result<Version, String> {
    match protocol {
        "HTTP/1.0" => Ok(Version::HTTP_10),
        "HTTP/1.1" => Ok(Version::HTTP_11),
        "HTTP/2" | "HTTP/2.0" => Ok(Version::HTTP_2),
        other => Err(format!(
            "argument -p/--protocol: invalid choice: '{other}' \
             (choose from HTTP/1.0, HTTP/1.1, HTTP/2.0)"
        )),
    }
}

/// How argparse shows one argument: its flags (`-b`, `--bind`; none for a positional), its
/// metavar, and whether an option takes a value.
struct Shape {
    flags: Vec<String>,
    metavar: String,
    /// The metavar, for an option that takes a value.
    value: Option<String>,
}

impl Shape {
    fn of(arg: &clap::Arg) -> Self {
        let metavar = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut flags = Vec::new();
        if let Some(short) = arg.get_short() {
            flags.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long() {
            flags.push(format!("--{long}"));
        }
        let value = (!flags.is_empty() && arg.get_action().takes_values()).then(|| metavar.clone());
        Self {
            flags,
            metavar,
            value,
        }
    }
}

/// argparse's usage line for these flags, wrapped as argparse wraps it: `usage: basehttp [-h]
/// [--cgi] …` and, when it does not fit on one line, the positional on a line of its own.
pub(crate) fn usage() -> String {
    let command = Args::command();
    let mut optionals = Vec::new();
    let mut positionals = Vec::new();
    for arg in command.get_arguments() {
        let shape = Shape::of(arg);
        if shape.flags.is_empty() {
            positionals.push(format!("[{}]", shape.metavar));
            continue;
        }
        // argparse's usage names an option by its first flag (the short one when there is one).
        let flag = &shape.flags[0];
        optionals.push(match &shape.value {
            Some(metavar) => format!("[{flag} {metavar}]"),
            None => format!("[{flag}]"),
        });
    }
    let prefix = "usage: basehttp ";
    let width = 78;
    let indent = " ".repeat(prefix.len());
    let one_line = format!("{prefix}{} {}", optionals.join(" "), positionals.join(" "));
    if one_line.len() <= width {
        return one_line;
    }
    let mut lines = vec![prefix.to_owned()];
    for part in optionals {
        let line = lines.last_mut().map_or(0, |l| l.len());
        if line + part.len() + 1 > width && line > prefix.len() {
            lines.push(indent.clone());
        }
        if let Some(last) = lines.last_mut() {
            if last.len() > indent.len() {
                last.push(' ');
            }
            last.push_str(&part);
        }
    }
    for part in positionals {
        lines.push(format!("{indent}{part}"));
    }
    lines.join("\n")
}

/// argparse's `--help`: the usage, then each argument's invocation (`-b, --bind ADDRESS`) and
/// help, laid out as `HelpFormatter` lays them out for an 80-column terminal: help at column 24,
/// wrapped at 78, on its own line when the invocation is longer than 20 columns.
pub(crate) fn help() -> String {
    const HELP_POSITION: usize = 24;
    const WIDTH: usize = 78;
    let command = Args::command();
    let entry = |invocation: String, help: &str| {
        let words: Vec<&str> = help.split_whitespace().collect();
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in words {
            if !line.is_empty() && line.len() + 1 + word.len() > WIDTH - HELP_POSITION {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
        let mut text = format!("  {invocation}");
        let mut lines = lines.into_iter();
        if invocation.len() <= HELP_POSITION - 4 {
            text = format!("{text:<HELP_POSITION$}");
            text.push_str(&lines.next().unwrap_or_default());
        }
        for line in lines {
            text.push('\n');
            text.push_str(&" ".repeat(HELP_POSITION));
            text.push_str(&line);
        }
        text.push('\n');
        text
    };
    let mut positionals = String::new();
    let mut options = String::new();
    for arg in command.get_arguments() {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let shape = Shape::of(arg);
        if shape.flags.is_empty() {
            positionals.push_str(&entry(shape.metavar, &help));
            continue;
        }
        let mut invocation = shape.flags.join(", ");
        if let Some(metavar) = &shape.value {
            invocation.push(' ');
            invocation.push_str(metavar);
        }
        options.push_str(&entry(invocation, &help));
    }
    format!(
        "{}\n\npositional arguments:\n{positionals}\noptions:\n{options}",
        usage()
    )
}

/// What argparse says where clap refused the command line: `unrecognized arguments: --foo`,
/// `argument -b/--bind: expected one argument`.
pub(crate) fn clap_error_message(err: &clap::Error) -> String {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(texts)) => Some(texts.join(" ")),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg);
    match (err.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(arg)) => format!("unrecognized arguments: {arg}"),
        (ErrorKind::InvalidValue | ErrorKind::NoEquals, Some(arg))
            if context(ContextKind::InvalidValue).is_none_or(|v| v.is_empty()) =>
        {
            format!("argument {}: expected one argument", argparse_name(&arg))
        }
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(arg)) => format!(
            "argument {}: invalid value: '{}'",
            argparse_name(&arg),
            context(ContextKind::InvalidValue).unwrap_or_default()
        ),
        _ => {
            // Anything else: clap's own first line, in argparse's frame.
            let text = err
                .kind()
                .as_str()
                .map_or_else(|| err.to_string(), |kind| kind.to_owned());
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        }
    }
}

/// `-b/--bind` for clap's `--bind <ADDRESS>`, as argparse names an option in its errors.
fn argparse_name(clap_display: &str) -> String {
    let flag = clap_display
        .split([' ', '='])
        .next()
        .unwrap_or(clap_display);
    let Some(long) = flag.strip_prefix("--") else {
        return flag.trim_matches(['[', ']', '<', '>']).to_owned();
    };
    let short = Args::command()
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(clap::Arg::get_short);
    match short {
        Some(short) => format!("-{short}/--{long}"),
        None => format!("--{long}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(parse_protocol("HTTP/1.0"), Ok(Version::HTTP_10));
        assert_eq!(parse_protocol("HTTP/1.1"), Ok(Version::HTTP_11));
        assert_eq!(parse_protocol("HTTP/2.0"), Ok(Version::HTTP_2));
        assert!(parse_protocol("http/1.1").is_err());
        assert!(parse_protocol("HTTP/3.0").is_err());
    }

    #[test]
    fn defaults_are_pythons() {
        let args = Args::try_parse_from(["basehttp"]).map_err(|e| e.to_string());
        let config = args.and_then(Args::into_config);
        let config = config.as_ref().ok();
        assert_eq!(config.map(|c| c.port), Some(8000));
        assert_eq!(config.map(|c| c.protocol), Some(Version::HTTP_10));
        assert_eq!(config.and_then(|c| c.bind.clone()), None);
    }

    #[test]
    fn memory_cache_sizes() {
        let cache = |args: &[&str]| {
            let args = [&["basehttp"], args].concat();
            Args::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Args::into_config)
                .map(|config| config.memory_cache)
        };
        assert_eq!(cache(&[]), Ok(16 << 20));
        assert_eq!(cache(&["--memory-cache", "0"]), Ok(0));
        assert_eq!(cache(&["--memory-cache", "64M"]), Ok(64 << 20));
        let valid = |args: &[&str]| {
            let args = [&["basehttp"], args].concat();
            Args::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Args::into_config)
                .map(|config| config.memory_cache_valid)
        };
        assert_eq!(valid(&[]), Ok(std::time::Duration::ZERO));
        assert_eq!(
            valid(&["--memory-cache-valid", "1.5"]),
            Ok(std::time::Duration::from_millis(1500))
        );
    }

    #[test]
    fn headers_like_python_3_15() {
        let parsed = parse_header("  X-Test :  a: b  ");
        assert_eq!(
            parsed,
            Ok((
                HeaderName::from_static("x-test"),
                HeaderValue::from_static("a: b")
            ))
        );
        assert_eq!(
            parse_header("NoColon").err().as_deref(),
            Some("Header NoColon must be of the form Header: value")
        );
        assert_eq!(
            parse_header(" : v").err().as_deref(),
            Some("Header  : v must have a non-empty name")
        );
        assert!(parse_header("Bad Name: v").is_err());
        assert!(parse_header("X: a\u{7f}b").is_err());
        let args = Args::try_parse_from(["basehttp", "-H", "A: 1", "--header", "B: 2"]);
        let config = args.map_err(|e| e.to_string()).and_then(Args::into_config);
        assert_eq!(config.map(|c| c.headers.len()), Ok(2));
    }

    #[test]
    fn tls_flags_like_python_3_14() {
        let config = |args: &[&str]| {
            let args = [&["basehttp"], args].concat();
            Args::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Args::into_config)
        };
        assert_eq!(
            config(&["--tls-key", "k.pem"]).err().as_deref(),
            Some("--tls-key requires --tls-cert to be set")
        );
        assert_eq!(
            config(&["--tls-password-file", "p"]).err().as_deref(),
            Some("--tls-password-file requires --tls-cert to be set")
        );
        let missing = config(&["--tls-cert", "c.pem", "--tls-password-file", "/nonexist"]);
        let missing = missing.err().unwrap_or_default();
        assert!(
            missing.starts_with("Failed to read TLS password file: "),
            "{missing}"
        );
        let ok = config(&["--tls-cert", "c.pem"]);
        assert_eq!(ok.map(|c| c.tls.map(|t| t.cert)), Ok(Some("c.pem".into())));
        assert_eq!(config(&[]).map(|c| c.log_format), Ok(LogFormat::Python));
        assert_eq!(
            config(&["--log-format", "json"]).map(|c| c.log_format),
            Ok(LogFormat::Json)
        );
    }

    fn error_of(args: &[&str]) -> String {
        let args = [&["basehttp"], args].concat();
        match Args::try_parse_from(args) {
            Ok(args) => args.into_config().err().unwrap_or_default(),
            Err(err) => clap_error_message(&err),
        }
    }

    #[test]
    fn errors_are_argparses() {
        for (args, expected) in [
            // CPython 3.14's own wording where it has one.
            (&["abc"][..], "argument port: invalid int value: 'abc'"),
            (&["--foo"], "unrecognized arguments: --foo"),
            (&["1", "2"], "unrecognized arguments: 2"),
            (&["-b"], "argument -b/--bind: expected one argument"),
            (
                &["--protocol"],
                "argument -p/--protocol: expected one argument",
            ),
            (
                &["--cgi-timeout"],
                "argument --cgi-timeout: expected one argument",
            ),
            // basehttp's own checks, in the same form.
            (
                &["70000"],
                "argument port: invalid port value: '70000' (use 0 to 65535)",
            ),
            (
                &["-p", "HTTP/3"],
                "argument -p/--protocol: invalid choice: 'HTTP/3' (choose from HTTP/1.0, HTTP/1.1, HTTP/2.0)",
            ),
            (
                &["--log-format", "xml"],
                "argument --log-format: invalid choice: 'xml' (choose from python, json)",
            ),
            (
                &["--cgi-timeout", "soon"],
                "argument --cgi-timeout: invalid float value: 'soon'",
            ),
            (
                &["-H", "NoColon"],
                "argument -H/--header: Header NoColon must be of the form Header: value",
            ),
            (
                &["--memory-cache", "lots"],
                "argument --memory-cache: invalid size: 'lots'",
            ),
            (
                &["--memory-cache-valid=-1"],
                "argument --memory-cache-valid: not a number of seconds: '-1'",
            ),
        ] {
            assert_eq!(error_of(args), expected, "{args:?}");
        }
    }

    /// CPython 3.14's `python -m http.server --help`, from "positional arguments:" on.
    const PYTHON_314_HELP: &str = "\
positional arguments:
  port                  bind to this port (default: 8000)

options:
  -h, --help            show this help message and exit
  --cgi                 run as CGI server
  -b, --bind ADDRESS    bind to this address (default: all interfaces)
  -d, --directory DIRECTORY
                        serve this directory (default: current directory)
  -p, --protocol VERSION
                        conform to this HTTP version (default: HTTP/1.0)
  --tls-cert PATH       path to the TLS certificate chain file
  --tls-key PATH        path to the TLS key file
  --tls-password-file PATH
                        path to the password file for the TLS key
";

    #[test]
    fn help_is_argparses() {
        let help = help();
        // Python's options come first, exactly as CPython 3.14 prints them; basehttp's own
        // follow, laid out the same way.
        let start = help.find("positional arguments:").unwrap_or_default();
        assert!(help[start..].starts_with(PYTHON_314_HELP), "{help}");
        assert!(help.starts_with(&usage()), "{help}");
        assert!(
            help.contains("\n  -V, --version         show program's version number and exit\n")
        );
        assert!(help.lines().all(|l| l.len() <= 78), "{help}");
    }

    #[test]
    fn usage_is_argparses() {
        let usage = usage();
        let lines: Vec<&str> = usage.lines().collect();
        assert!(
            lines[0].starts_with("usage: basehttp [-h] [--cgi] [-b ADDRESS] [-d DIRECTORY]"),
            "{usage}"
        );
        // argparse wraps at 78 columns (an 80-column terminal, less its margin).
        assert!(lines.iter().all(|l| l.len() <= 78), "{usage}");
        assert_eq!(lines.last().map(|l| l.trim()), Some("[port]"), "{usage}");
        for line in &lines[1..] {
            assert!(
                line.starts_with(&" ".repeat("usage: basehttp ".len())),
                "{usage}"
            );
        }
    }
}

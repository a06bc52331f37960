//! Which names in a request path may reach the file system, per platform: pure functions, so
//! that Windows' rules are tested on every platform.

/// The file-name rules a request path is translated with (Python's `translate_path` on one
/// platform or the other), selected with
/// [`StaticFiles::path_rules`](super::StaticFiles::path_rules).
///
/// On Windows a name is more than its bytes: `\` and `C:` are separators, `file.txt::$DATA`
/// is the file itself (an alternate data stream), `NUL.txt` is a device, `secret.txt.` is
/// `secret.txt`, and `PROGRA~1` is another name for `Program Files`. Python 3.14 on Windows
/// skips the components `os.path.dirname` splits (those holding `\` or a drive) and opens the
/// rest as Windows reads it. [`PathRules::Windows`] refuses all of these forms with `404`,
/// so no name reaches a file by another name than its own.
///
/// ```
/// use basehttp::static_files::{PathRules, StaticFiles};
///
/// // A share that Windows clients also use, served from Linux with Windows' refusals.
/// let files = StaticFiles::new("/srv/share").path_rules(PathRules::Windows);
/// # let _ = files;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathRules {
    /// POSIX names: only `/` separates, every other byte belongs to a name (`\`, `:` and
    /// trailing dots included). Python's rules on Unix, and the default there.
    #[cfg_attr(not(windows), default)]
    Posix,
    /// Windows names, refusing (`404 File not found`) every component that Windows would read
    /// as something else than a plain name below its parent:
    ///
    /// - a `\` (`..\..\x`, `%5c`) or a `:` (drives `C:`, alternate data streams
    ///   `file.txt::$DATA` and `name:stream`);
    /// - a character Windows forbids in names (`<>"|?*` and controls);
    /// - a trailing dot or space (`secret.txt.`, which Windows opens as `secret.txt`);
    /// - a reserved device name with any extension (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`,
    ///   `LPT0`–`LPT9`, `CONIN$`, `CONOUT$`: `nul.txt`, `Com1.tar.gz`);
    /// - the shape of an 8.3 short name (`PROGRA~1`, `SECRET~1.TXT`), which may alias a name the
    ///   request could not otherwise reach (a real file of that shape is refused too).
    ///
    /// UNC forms (`//server/share`) never leave the directory: `/` components stay below it.
    /// The default on Windows.
    #[cfg_attr(windows, default)]
    Windows,
    /// Windows names translated exactly as Python 3.14 translates them: components holding `\`
    /// or a drive are skipped, and the rest are kept — the switch back to Python's translation.
    /// Opening differs from Python's on Windows: files are opened by their verbatim path
    /// (`\\?\C:\…`), where Windows parses no names, so `NUL.txt` and `secret.txt.` name files
    /// literally (not the null device, not `secret.txt`), and a name holding `:` (an alternate
    /// data stream) is never opened. On other systems every kept name is opened as it is.
    WindowsAsPython,
}

/// What happens to one decoded path component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A plain name: joined to the path.
    Keep,
    /// Python's skip (`os.path.dirname(word)` is not empty): left out of the path.
    Skip,
    /// Nothing is served: `404`.
    Refuse,
}

impl PathRules {
    /// The verdict on `word`, one decoded component (never empty, `.` or `..`).
    pub(crate) fn judge(self, word: &[u8]) -> Verdict {
        match self {
            Self::Posix => Verdict::Keep,
            Self::Windows if is_windows_hazard(word) => Verdict::Refuse,
            Self::Windows => Verdict::Keep,
            Self::WindowsAsPython if has_dirname(word) => Verdict::Skip,
            Self::WindowsAsPython => Verdict::Keep,
        }
    }

    /// Whether every component is kept as it is (no check needed).
    pub(crate) fn keeps_all(self) -> bool {
        self == Self::Posix
    }
}

/// `ntpath.dirname(word)` is not empty: a `\` (or `/`, split already), or a drive (any
/// character followed by `:`, as `ntpath.splitroot` reads it).
fn has_dirname(word: &[u8]) -> bool {
    if word.contains(&b'\\') {
        return true;
    }
    let first = match word.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(_) => 2,
        None => return false,
    };
    word.get(first) == Some(&b':')
}

/// Whether Windows would read `word` as something other than a plain name.
fn is_windows_hazard(word: &[u8]) -> bool {
    word.iter()
        .any(|&b| b < 0x20 || matches!(b, b'\\' | b':' | b'<' | b'>' | b'"' | b'|' | b'?' | b'*'))
        || word.ends_with(b".")
        || word.ends_with(b" ")
        || is_device_name(word)
        || is_short_name(word)
}

/// Windows' reserved device names, which name the device whatever the extension (`NUL.txt`)
/// and whatever spaces end the stem (`NUL .txt`); compared without case.
fn is_device_name(word: &[u8]) -> bool {
    let stem = word.split(|&b| b == b'.').next().unwrap_or_default();
    let stem = stem.trim_ascii_end();
    const NAMES: [&[u8]; 6] = [b"CON", b"PRN", b"AUX", b"NUL", b"CONIN$", b"CONOUT$"];
    if NAMES.iter().any(|name| stem.eq_ignore_ascii_case(name)) {
        return true;
    }
    // COM0–COM9 and LPT0–LPT9, and the superscript digits ¹²³ Windows also accepts.
    let Some(prefix) = stem.get(..3) else {
        return false;
    };
    if !prefix.eq_ignore_ascii_case(b"COM") && !prefix.eq_ignore_ascii_case(b"LPT") {
        return false;
    }
    matches!(&stem[3..], [b'0'..=b'9'] | [0xC2, 0xB9 | 0xB2 | 0xB3])
}

/// The shape of an 8.3 short name: a stem of at most eight characters ending in `~` and digits,
/// and an extension of at most three.
fn is_short_name(word: &[u8]) -> bool {
    let (stem, extension) = match word.iter().rposition(|&b| b == b'.') {
        Some(dot) => (&word[..dot], &word[dot + 1..]),
        None => (word, &b""[..]),
    };
    // Characters, not bytes: a short name may hold non-ASCII letters.
    let chars = |bytes: &[u8]| bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    if chars(stem) > 8 || chars(extension) > 3 {
        return false;
    }
    let digits = stem.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && stem.len() > digits + 1 && stem[stem.len() - digits - 1] == b'~'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `rules`' verdict on each word, naming the word that fails.
    fn assert_judged(rules: PathRules, words: &[&[u8]], verdict: Verdict) {
        for word in words {
            assert_eq!(
                rules.judge(word),
                verdict,
                "{rules:?} on {}",
                String::from_utf8_lossy(word)
            );
        }
    }

    #[test]
    fn windows_refuses_what_windows_reads_otherwise() {
        let refused = [
            &b"..\\..\\win.ini"[..],
            b"a\\b",
            b"C:",
            b"c:windows",
            b"file.txt::$DATA",
            b"file.txt:stream",
            b"name:",
            b"CON",
            b"con",
            b"NUL.txt",
            b"nul.tar.gz",
            b"NUL .txt",
            b"Com1",
            b"lpt9.log",
            b"COM0",
            b"LPT\xc2\xb9",
            b"CONIN$",
            b"conout$.x",
            b"secret.txt.",
            b"secret.txt ",
            b"dir...",
            b"PROGRA~1",
            b"SECRET~1.TXT",
            b"ab~12.htm",
            "ÉÉÉÉÉÉ~1.TXT".as_bytes(),
            b"a<b",
            b"a>b",
            b"a\"b",
            b"a|b",
            b"a?b",
            b"a*b",
            b"a\x01b",
            b"a\x00b",
        ];
        assert_judged(PathRules::Windows, &refused, Verdict::Refuse);
        assert_judged(PathRules::Posix, &refused, Verdict::Keep);
        let kept = [
            &b"file.txt"[..],
            b"CONFIG",
            b"console.log",
            b"nullable.rs",
            b"COM10",
            b"LPT",
            b"aux_data",
            b".hidden",
            b"~1",
            b"backup~",
            b"a~b.txt",
            b"verylongname~1.txt",
            b"PROGRA~1.HTML",
            b"caf\xc3\xa9",
            b"\xff",
            b"a b",
        ];
        assert_judged(PathRules::Windows, &kept, Verdict::Keep);
    }

    #[test]
    fn windows_as_python_skips_what_dirname_splits() {
        let skipped = [&b"a\\b"[..], b"C:", b"c:x", b"\xc3\xa9:x", b"\\\\server"];
        assert_judged(PathRules::WindowsAsPython, &skipped, Verdict::Skip);
        let kept = [
            &b"file.txt::$DATA"[..],
            b"NUL.txt",
            b"x.",
            b"PROGRA~1",
            b"ab:c",
        ];
        assert_judged(PathRules::WindowsAsPython, &kept, Verdict::Keep);
    }

    #[test]
    fn the_default_is_the_platforms_own() {
        let expected = if cfg!(windows) {
            PathRules::Windows
        } else {
            PathRules::Posix
        };
        assert_eq!(PathRules::default(), expected);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A kept name never holds what Windows splits or strips.
            #[test]
            fn kept_windows_names_are_plain(word in proptest::collection::vec(any::<u8>(), 1..24)) {
                if PathRules::Windows.judge(&word) == Verdict::Keep {
                    prop_assert!(!word.contains(&b'\\') && !word.contains(&b':'));
                    prop_assert!(!word.ends_with(b".") && !word.ends_with(b" "));
                    prop_assert!(!is_device_name(&word));
                }
                // Python's skip is a subset of the refusals.
                if PathRules::WindowsAsPython.judge(&word) == Verdict::Skip {
                    prop_assert_eq!(PathRules::Windows.judge(&word), Verdict::Refuse);
                }
            }
        }
    }
}

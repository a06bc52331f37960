//! Which names an upload may be stored under: pure functions, where the property tests go.

use crate::static_files::PathRules;

/// The longest name stored, in bytes (most file systems' limit).
pub(crate) const MAX_NAME: usize = 255;

/// Why a name is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Empty, `.` or `..` once reduced to its last component.
    Empty,
    /// Longer than [`MAX_NAME`] bytes.
    TooLong,
    /// A NUL or another control character.
    Control,
    /// Starts with `.` (hidden), and hidden names are not allowed.
    Hidden,
    /// Something the platform's rules read as more than a plain name (Windows: a device name,
    /// a stream, a trailing dot).
    Special,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Empty => "No file name",
            Self::TooLong => "File name too long",
            Self::Control => "Control character in file name",
            Self::Hidden => "Hidden file names are not accepted",
            Self::Special => "File name not accepted on this system",
        }
    }
}

/// The name a multipart part's `filename` is stored under: its last component (after `/` or
/// `\`, as browsers and `pathlib.Path(name).name` strip the folders a client sends), checked
/// by [`check`].
pub(crate) fn client_file_name(
    raw: &str,
    allow_hidden: bool,
    rules: PathRules,
) -> Result<&str, Refusal> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    check(name, allow_hidden, rules)?;
    Ok(name)
}

/// Whether `name` (one path component) may be created: not empty, `.` or `..`; at most
/// [`MAX_NAME`] bytes; no control character (NUL included); not hidden unless `allow_hidden`;
/// and a plain name under the Windows rules whatever `rules` says (so that a folder shared with
/// Windows never receives a name Windows reads as something else), plus `rules`' own verdict.
pub(crate) fn check(name: &str, allow_hidden: bool, rules: PathRules) -> Result<(), Refusal> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Refusal::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(Refusal::TooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(Refusal::Control);
    }
    if name.contains(['/', '\\']) {
        return Err(Refusal::Special);
    }
    if !allow_hidden && name.starts_with('.') {
        return Err(Refusal::Hidden);
    }
    if name.starts_with(super::store::TEMP_PREFIX) {
        // The names of files being written.
        return Err(Refusal::Special);
    }
    let keep = crate::static_files::names::Verdict::Keep;
    if PathRules::Windows.judge(name.as_bytes()) != keep || rules.judge(name.as_bytes()) != keep {
        return Err(Refusal::Special);
    }
    Ok(())
}

/// The longest extension kept after the number (a longer one is part of the stem).
const MAX_EXTENSION: usize = 32;

/// `uploadserver`'s `auto_rename`: `name (n).ext` for the `n`-th attempt (`n` ≥ 1), the
/// number before the last extension (`a.tar.gz` → `a.tar (1).gz`), the stem shortened to fit
/// [`MAX_NAME`].
pub(crate) fn numbered(name: &str, n: u32) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION => name.split_at(dot),
        _ => (name, ""),
    };
    let suffix = format!(" ({n}){ext}");
    let mut keep = MAX_NAME.saturating_sub(suffix.len()).min(stem.len());
    while !stem.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &stem[..keep])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POSIX: PathRules = PathRules::Posix;

    #[test]
    fn client_names_lose_their_folders() {
        for (raw, stored) in [
            ("a.txt", "a.txt"),
            ("../../etc/passwd", "passwd"),
            ("/etc/passwd", "passwd"),
            (r"C:\Users\me\report.pdf", "report.pdf"),
            (r"..\..\win.ini", "win.ini"),
            ("dir/ünïcödé.txt", "ünïcödé.txt"),
        ] {
            assert_eq!(client_file_name(raw, false, POSIX), Ok(stored), "{raw}");
        }
    }

    #[test]
    fn dangerous_names_are_refused() {
        for (raw, refusal) in [
            ("", Refusal::Empty),
            ("../", Refusal::Empty),
            ("a/..", Refusal::Empty),
            ("a\\.", Refusal::Empty),
            ("nul\0.txt", Refusal::Control),
            ("line\nbreak", Refusal::Control),
            (".bashrc", Refusal::Hidden),
            (".basehttp-upload-1-2-3.part", Refusal::Hidden),
            ("../.ssh", Refusal::Hidden),
            ("CON", Refusal::Special),
            ("nul.txt", Refusal::Special),
            ("file.txt:stream", Refusal::Special),
            ("trailing.", Refusal::Special),
            ("a<b>.txt", Refusal::Special),
        ] {
            assert_eq!(client_file_name(raw, false, POSIX), Err(refusal), "{raw:?}");
        }
        assert_eq!(
            client_file_name(&"x".repeat(256), false, POSIX),
            Err(Refusal::TooLong)
        );
        assert_eq!(
            client_file_name(&"x".repeat(255), false, POSIX).map(str::len),
            Ok(255)
        );
        assert_eq!(client_file_name(".env", true, POSIX), Ok(".env"));
        assert_eq!(
            client_file_name(".basehttp-upload-1-2-3.part", true, POSIX),
            Err(Refusal::Special)
        );
    }

    #[test]
    fn renamed_as_uploadserver_renames() {
        assert_eq!(numbered("a.txt", 1), "a (1).txt");
        assert_eq!(numbered("a.tar.gz", 2), "a.tar (2).gz");
        assert_eq!(numbered("README", 3), "README (3)");
        assert_eq!(numbered(".env", 1), ".env (1)");
        assert_eq!(numbered(" ¡", 1), " ¡ (1)");
        let long = format!("{}.txt", "é".repeat(200));
        let renamed = numbered(&long, 12);
        assert!(
            renamed.len() <= MAX_NAME && renamed.ends_with(" (12).txt"),
            "{renamed}"
        );
    }

    proptest! {
        #[test]
        fn numbered_names_fit(stem in "[a-zé]{1,200}", ext in "[a-z.]{0,300}", n in any::<u32>()) {
            let name = format!("{stem}.{ext}");
            let mut end = name.len().min(MAX_NAME);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            let name = &name[..end];
            let renamed = numbered(name, n);
            prop_assert!(renamed.len() <= MAX_NAME, "{}", renamed);
            prop_assert!(!renamed.starts_with(' '), "{}", renamed);
        }

        #[test]
        fn a_stored_name_is_one_plain_component(raw in ".{0,300}", hidden in any::<bool>()) {
            if let Ok(name) = client_file_name(&raw, hidden, POSIX) {
                prop_assert!(!name.is_empty() && name != "." && name != "..");
                prop_assert!(!name.contains(['/', '\\', '\0']));
                prop_assert!(name.len() <= MAX_NAME);
                prop_assert!(hidden || !name.starts_with('.'));
                prop_assert!(raw.ends_with(name));
                for n in [1, 99, u32::MAX] {
                    let renamed = numbered(name, n);
                    prop_assert!(renamed.len() <= MAX_NAME && !renamed.contains('/'));
                    // Numbering keeps the name's start: it never cuts the stem down to nothing.
                    prop_assert!(renamed.starts_with(name.chars().next().unwrap_or(' ')), "{}", renamed);
                }
            }
        }
    }
}

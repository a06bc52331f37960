//! The load benchmark itself (`benches/load.py`): what it promises about how it measures.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

/// Runs `benches/load.py` over `python -m http.server` with sequential `curl` downloads of
/// `/hello.txt`, two rounds of one second (plus `extra`): its exit status, stdout and stderr.
fn load_py(extra: &[&str]) -> (bool, String, String) {
    let root = env!("CARGO_MANIFEST_DIR");
    let docroot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-py-root");
    let output = Command::new("python3")
        .arg(format!("{root}/benches/load.py"))
        .args([
            "-m",
            "curl",
            "-u",
            "/hello.txt",
            "-r",
            "2",
            "-d",
            "1",
            "-w",
            "1",
            "-T",
            "10",
        ])
        .arg("--dir")
        .arg(&docroot)
        .arg("-s")
        .arg("py=python3 -m http.server {PORT} --bind 127.0.0.1 --directory {DIR}")
        .args(extra)
        .output()
        .expect("run benches/load.py");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `py` row of load.py's table: its cells.
fn row(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("| py |"))
        .unwrap_or_else(|| panic!("no row for py in:\n{stdout}"));
    line.split('|').map(|c| c.trim().to_owned()).collect()
}

/// `--fresh` measures every round after the first on a new process of the server (a new pid
/// and port, the old one stopped), and the downloads of that round succeed; without it, the
/// one process serves every round.
#[test]
fn load_py_fresh_measures_each_round_on_a_new_process() {
    if python3().is_none() || !installed("curl") {
        return;
    }
    let (ok, stdout, stderr) = load_py(&["--fresh"]);
    assert!(ok, "load.py --fresh failed:\n{stdout}\n{stderr}");
    let restarts: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("a new process for round"))
        .collect();
    assert_eq!(restarts.len(), 1, "one restart (round 2) in:\n{stderr}");
    let restart = restarts[0];
    assert!(
        restart.contains("py: a new process for round 2 (pid "),
        "{restart}"
    );
    let pid_after = |marker: &str| -> u32 {
        let at = restart.find(marker).expect("a pid") + marker.len();
        restart[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|digits| digits.parse().ok())
            .expect("a pid number")
    };
    let (new, old) = (pid_after("(pid "), pid_after("was pid "));
    assert_ne!(new, old, "{restart}");
    // Both rounds downloaded, without errors: round 2 went to the new process.
    let rounds: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("/hello.txt curl round "))
        .collect();
    assert_eq!(rounds.len(), 2, "{stderr}");
    assert!(rounds.iter().all(|l| l.contains(", 0 errors")), "{stderr}");
    let cells = row(&stdout);
    // | py | MiB/s | min–max | req/s | errors | ...
    assert_eq!(cells[5], "0", "errors: {stdout}");

    let (ok, stdout, stderr) = load_py(&[]);
    assert!(ok, "load.py failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("a new process"), "{stderr}");
    assert_eq!(row(&stdout)[5], "0", "errors: {stdout}");
    assert!(
        !stdout.contains("own CPU time"),
        "no children did the work: {stdout}"
    );
}

/// Where exited children (CGI scripts) did the work, load.py also gives the server's own CPU
/// time without them: here Python's `--cgi` forks a script that spins for each download.
#[test]
fn load_py_separates_a_servers_own_cpu_time_from_its_scripts() {
    if python3().is_none() || !installed("curl") {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let docroot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("load-py-cgi-root");
    let script = docroot.join("cgi-bin/spin.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(
        &script,
        "#!/bin/sh\ni=0\nwhile [ $i -lt 30000 ]; do i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\nspun\\n'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new("python3")
        .arg(format!("{root}/benches/load.py"))
        .args(["-m", "curl", "-u", "/cgi-bin/spin.sh", "-r", "1", "-d", "2"])
        .args(["-w", "1", "-T", "10", "--dir"])
        .arg(&docroot)
        .arg("-s")
        .arg("py=python3 -m http.server {PORT} --bind 127.0.0.1 --directory {DIR} --cgi")
        .output()
        .expect("run benches/load.py");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "load.py failed:\n{stdout}\n{stderr}"
    );
    let cells = row(&stdout);
    assert_eq!(cells[5], "0", "errors: {stdout}");
    // | py | MiB/s | min–max | req/s | errors | peak RSS MiB | server CPU % | CPU ms/download |
    let with_scripts: f64 = cells[8].replace(',', "").parse().expect("CPU ms/download");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("The servers' own CPU time"))
        .unwrap_or_else(|| panic!("no own-CPU line in:\n{stdout}"));
    let own: f64 = line
        .rsplit("py ")
        .next()
        .and_then(|figure| figure.trim().replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no figure for py in {line:?}"));
    assert!(
        own > 0.0 && own < 0.9 * with_scripts,
        "own {own} ms against {with_scripts} ms with the scripts: {stdout}"
    );
}

/// A server answering its first request (`paced.py`'s check that it is up) with 200 and
/// every later one with 503.
const FLAKY_SERVER: &str = r#"
import http.server, sys
answered = 0
class Flaky(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global answered
        answered += 1
        self.send_response(200 if answered == 1 else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Flaky).serve_forever()
"#;

/// `benches/paced.py` sends each server one request at a time, after a pause: `-n` requests
/// per server and URL, answers other than 200 counted as failures and left out of the times,
/// the baseline's ratio 1.00x.
#[test]
fn paced_py_times_one_request_at_a_time_and_counts_failures() {
    if python3().is_none() {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let flaky = tmp.join("paced-flaky.py");
    std::fs::write(&flaky, FLAKY_SERVER).unwrap();
    let started = std::time::Instant::now();
    let output = Command::new("python3")
        .arg(format!("{root}/benches/paced.py"))
        .args(["-n", "4", "-p", "100", "-u", "/hello.txt", "-b", "py"])
        .arg("--dir")
        .arg(tmp.join("paced-py-root"))
        .arg("-s")
        .arg("py=python3 -m http.server {PORT} --bind 127.0.0.1 --directory {DIR}")
        .arg("-s")
        .arg(format!("flaky=python3 {} {{PORT}}", flaky.display()))
        .output()
        .expect("run benches/paced.py");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let cells = |server: &str| -> Vec<String> {
        let start = format!("| /hello.txt | {server} |");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&start))
            .unwrap_or_else(|| panic!("no row {start} in:\n{stdout}"));
        line.split('|').map(|c| c.trim().to_owned()).collect()
    };
    // | URL | server | median | p90 | max | failures | vs py |
    let ok = cells("py");
    let median: f64 = ok[3].parse().expect("a median");
    let max: f64 = ok[5].parse().expect("a max");
    assert!(median > 0.0 && max >= median, "{ok:?}");
    assert_eq!((ok[6].as_str(), ok[7].as_str()), ("0", "1.00x"), "{ok:?}");
    let failed = cells("flaky");
    assert_eq!(failed[3], "", "no time for failures: {failed:?}");
    assert_eq!(failed[6], "4", "{failed:?}");
    // 4 requests to each of 2 servers, each after a pause of 100 ms: at least 0.8 s measuring,
    // as paced.py reports it (`… 100 ms apart (0.83 s)`), within the whole run.
    let took: f64 = stdout
        .split(" ms apart (")
        .nth(1)
        .and_then(|rest| rest.split(" s)").next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("no duration in:\n{stdout}"));
    assert!(
        took >= 0.8 && took <= elapsed.as_secs_f64(),
        "{took} s, run {elapsed:?}"
    );
}

/// This process's cgroup directory in the cgroup v2 hierarchy, if one is mounted.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_dir(membership.lines().find_map(|l| l.strip_prefix("0::"))?)
}

/// `benches/servers/no-cgroup.sh` runs its command with the cgroup v2 hierarchy read-only (so
/// that a server cannot give scripts cgroups of their own), leaves it writable for everyone
/// else, and execs the command: its PID is the command's, which load.py stops by that PID.
#[test]
fn no_cgroup_sh_makes_the_cgroup_hierarchy_read_only_for_its_command_only() {
    if !installed("unshare") || !installed("findmnt") {
        return;
    }
    let Some(dir) = own_cgroup_dir() else {
        require_tools("a cgroup v2 hierarchy");
        eprintln!("no cgroup v2 hierarchy: skipped");
        return;
    };
    let probe = dir.join(format!("basehttp-no-cgroup-probe-{}", std::process::id()));
    if std::fs::create_dir(&probe).is_err() {
        // Writable for root, or in a delegated cgroup; no-cgroup.sh needs root anyway.
        require_tools("a writable cgroup v2");
        eprintln!("no writable cgroup: skipped");
        return;
    }
    std::fs::remove_dir(&probe).expect("remove the probe cgroup");

    let script = format!(
        "{}/benches/servers/no-cgroup.sh",
        env!("CARGO_MANIFEST_DIR")
    );
    let child = Command::new(&script)
        .args(["sh", "-c", "echo $$; mkdir \"$1\"", "sh"])
        .arg(&probe)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run no-cgroup.sh");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait for no-cgroup.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let made = probe.exists();
    if made {
        let _ = std::fs::remove_dir(&probe);
    }
    assert!(!made, "the command made a cgroup: {stderr}");
    assert!(!output.status.success(), "mkdir succeeded: {stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert_eq!(
        stdout.trim(),
        pid.to_string(),
        "the command runs as the script's process"
    );
    // The host's hierarchy is as writable as before.
    std::fs::create_dir(&probe).expect("the hierarchy is still writable outside");
    std::fs::remove_dir(&probe).expect("remove the probe cgroup");
}

/// Every file under `dir`: its inode, ctime and mtime (nanoseconds).
fn identities(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, [i64; 5]> {
    use std::os::unix::fs::MetadataExt;
    let mut found = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).expect("read the fixtures") {
            let path = entry.expect("an entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat a fixture");
            if meta.is_dir() {
                todo.push(path.clone());
            }
            let ino = i64::try_from(meta.ino()).expect("an inode number");
            let identity = [
                ino,
                meta.ctime(),
                meta.ctime_nsec(),
                meta.mtime(),
                meta.mtime_nsec(),
            ];
            found.insert(path, identity);
        }
    }
    found
}

/// `benches/fixtures.sh` run again over its own document root leaves every file and directory
/// as it was, ctime included: basehttp's memory cache keeps only files unchanged for a second,
/// so a fixture touched just before a measurement (`benches/allocs.sh`, `benches/syscalls.sh`
/// measure at once) would be served from disk, not from memory. The scripts it writes are
/// executable and the rest readable.
#[test]
fn fixtures_sh_leaves_the_files_it_finds_untouched() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docroot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures-twice");
    let run = || {
        let output = Command::new("sh")
            .arg(format!("{root}/benches/fixtures.sh"))
            .arg(&docroot)
            .output()
            .expect("run benches/fixtures.sh");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run();
    let before = identities(&docroot);
    assert!(before.len() > 1000, "{} files", before.len());
    run();
    let after = identities(&docroot);
    let changed: Vec<_> = before
        .iter()
        .filter(|(path, identity)| after.get(*path) != Some(identity))
        .map(|(path, _)| path)
        .collect();
    assert!(changed.is_empty(), "touched again: {changed:?}");
    assert_eq!(before.len(), after.len());
    assert_eq!(
        std::fs::read(docroot.join("hello.txt")).unwrap(),
        b"Hello, world!"
    );
    for script in ["cgi-bin/hello.sh", "cgi-bin/hello.py"] {
        let mode = std::fs::metadata(docroot.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{script}");
    }
}

//! The PostgreSQL server the tests use: `CONSORT_TEST_POSTGRES` when set, else the one
//! answering on 127.0.0.1:5432, else a throwaway cluster of the test process's own (the
//! system's `initdb` and `pg_ctl`, in a temporary directory, on a free port), stopped and
//! removed when the process ends. `CONSORT_TEST_POSTGRES=throwaway` asks for the throwaway
//! cluster even when a server answers. Without PostgreSQL's binaries the PostgreSQL tests
//! fail, saying how to install them: they never skip silently.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The conventional local server.
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432";

/// Base URL (without a database) of the server the tests use, decided once per process.
pub fn base_url() -> String {
    static BASE: OnceLock<Result<String, String>> = OnceLock::new();
    BASE.get_or_init(|| match std::env::var("CONSORT_TEST_POSTGRES") {
        Ok(v) if v == "throwaway" => throwaway(),
        Ok(url) => Ok(url),
        Err(_) if answers(([127, 0, 0, 1], 5432).into()) => Ok(LOCAL.to_owned()),
        Err(_) => throwaway(),
    })
    .clone()
    .unwrap_or_else(|e| panic!("the PostgreSQL tests need a server: {e}"))
}

fn answers(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

/// Starts a cluster for this process and a watchdog that removes it once the process ends.
fn throwaway() -> Result<String, String> {
    let bin = binaries().ok_or(
        "no server answers on 127.0.0.1:5432, CONSORT_TEST_POSTGRES is unset, and PostgreSQL's \
         initdb and pg_ctl are not installed (Debian: apt-get install postgresql; or point \
         CONSORT_TEST_POSTGRES at a server, e.g. postgres://postgres@127.0.0.1:5432)",
    )?;
    let dir = tempfile::Builder::new()
        .prefix("consort-test-pg-")
        .tempdir()
        .map_err(|e| format!("a directory for the throwaway cluster: {e}"))?
        .keep();
    let data = dir.join("data");
    let port = crate::local::free_port().map_err(|e| format!("a free port: {e}"))?;
    // PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user.
    let as_user = is_root().then_some("postgres");
    if let Some(user) = as_user {
        run(Command::new("chown").arg(user).arg(&dir), "chown")?;
    }
    run(
        command(as_user, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
        "initdb",
    )?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=500",
        dir.display()
    );
    run(
        command(as_user, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(&options)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "start"]),
        "pg_ctl start",
    )?;
    // Stops the cluster and removes its directory when this process is gone.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {prefix}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        prefix = as_user
            .map(|u| format!("runuser -u {u} -- "))
            .unwrap_or_default(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("the throwaway cluster's watchdog: {e}"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}"))
}

/// The directory holding `initdb` and `pg_ctl`: on the `PATH`, or Debian's newest
/// `/usr/lib/postgresql/<version>/bin`.
fn binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn command(as_user: Option<&str>, program: &Path) -> Command {
    match as_user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

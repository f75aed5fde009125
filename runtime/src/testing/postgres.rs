//! A throwaway PostgreSQL server for tests: `initdb` into a fresh directory,
//! `postgres` listening only on a Unix socket in that directory (no TCP port,
//! so parallel tests and other programs never collide), stopped and removed on
//! drop. The server binaries are found under `/usr/lib/postgresql/*/bin`
//! (Debian's layout, newest version first) or on `PATH`; when they are missing
//! [`TestPostgres::start`] panics saying so: a test that needs PostgreSQL never
//! skips itself.
//!
//! PostgreSQL refuses to run as root: as root the server runs as the `postgres`
//! system user (or `flowc-test`, created when neither exists), through
//! `setpriv`. The server gets a parent-death signal, so a test process that is
//! killed takes its server with it (the signal follows the thread that spawned
//! the server, so a keeper thread of its own does that and lives as long as
//! the server).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

/// The superuser the test cluster is made with (trust authentication on its socket).
pub const TEST_USER: &str = "flowc";

/// A running test server; stopped and its directory removed on drop.
#[derive(Debug)]
pub struct TestPostgres {
    server: Server,
    /// Asks the keeper thread (the server's parent) to restart or stop it.
    keeper: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A request to the keeper thread and where its answer goes.
type Request = (Keep, mpsc::Sender<Result<(), String>>);

/// What the keeper thread is asked to do.
#[derive(Debug, Clone, Copy)]
enum Keep {
    Restart,
    Stop,
}

/// The server's files and how to run its binaries.
#[derive(Debug, Clone)]
struct Server {
    dir: PathBuf,
    bin: PathBuf,
    /// The system user the server runs as, when the tests run as root.
    run_as: Option<String>,
    durable: bool,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Where the server binaries are: `/usr/lib/postgresql/<newest>/bin`, else `PATH`.
pub fn find_bin_dir() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .ok_or_else(|| {
            "the PostgreSQL server binaries (initdb, postgres) are not installed: none under \
             /usr/lib/postgresql/*/bin or on PATH. Install them (Debian: `apt-get install \
             postgresql`); the PostgreSQL store's tests need a real server"
                .to_string()
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user_ids(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, user]).output().ok()?;
        if !o.status.success() {
            return None;
        }
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// The unprivileged user to run the server as when we are root.
fn server_user() -> Result<(String, u32, u32), String> {
    for user in ["postgres", "flowc-test"] {
        if let Some((uid, gid)) = user_ids(user) {
            return Ok((user.to_string(), uid, gid));
        }
    }
    let st = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ])
        .arg("flowc-test")
        .status()
        .map_err(|e| format!("cannot run useradd to make the `flowc-test` user: {e}"))?;
    if !st.success() {
        return Err(format!(
            "useradd flowc-test failed ({st}); PostgreSQL cannot run as root"
        ));
    }
    let (uid, gid) = user_ids("flowc-test").ok_or("the `flowc-test` user was not created")?;
    Ok(("flowc-test".to_string(), uid, gid))
}

impl TestPostgres {
    /// A fresh server with `fsync=off` (fast; a crash of the machine is not tested).
    /// Panics, saying why, when PostgreSQL cannot be started.
    pub fn start() -> TestPostgres {
        TestPostgres::try_start(false).unwrap_or_else(|e| panic!("test PostgreSQL: {e}"))
    }

    /// One server shared by the tests of this process that run at the same
    /// time (each takes a database of its own with
    /// [`TestPostgres::create_database`]); stopped when the last lets go.
    pub fn shared() -> Arc<TestPostgres> {
        static SHARED: Mutex<Weak<TestPostgres>> = Mutex::new(Weak::new());
        let mut s = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pg) = s.upgrade() {
            return pg;
        }
        let pg = Arc::new(TestPostgres::start());
        *s = Arc::downgrade(&pg);
        pg
    }

    /// A fresh server; `durable` keeps `fsync=on` (PostgreSQL's default).
    pub fn try_start(durable: bool) -> Result<TestPostgres, String> {
        let bin = find_bin_dir()?;
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("flowc-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let run_as = if is_root() {
            let (user, uid, gid) = server_user()?;
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to {user}: {e}", dir.display()))?;
            Some(user)
        } else {
            None
        };
        let server = Server {
            dir,
            bin,
            run_as,
            durable,
        };
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(server.data_dir())
            .args(["-U", TEST_USER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&server.dir);
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // The keeper thread starts the server and lives as long as it: the
        // server's parent-death signal follows the thread that spawned it.
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let keeper = server.clone();
        let thread = std::thread::Builder::new()
            .name("test-postgres".into())
            .spawn(move || {
                let mut child = keeper.launch();
                let ok = child.as_ref().map(|_| ()).map_err(Clone::clone);
                let _ = ready_tx.send(ok);
                while let Ok((what, reply)) = rx.recv() {
                    if let Ok(c) = child.as_mut() {
                        keeper.stop(c);
                    }
                    match what {
                        Keep::Stop => {
                            let _ = reply.send(Ok(()));
                            return;
                        }
                        Keep::Restart => {
                            child = keeper.launch();
                            let _ = reply.send(child.as_ref().map(|_| ()).map_err(Clone::clone));
                        }
                    }
                }
                if let Ok(c) = child.as_mut() {
                    keeper.stop(c);
                }
            })
            .map_err(|e| format!("cannot start the keeper thread: {e}"))?;
        let pg = TestPostgres {
            server,
            keeper: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        };
        ready_rx
            .recv()
            .map_err(|_| "the keeper thread died".to_string())??;
        Ok(pg)
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.server.dir
    }

    /// The last lines of the server's log (for a failure message).
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// The URL of database `db` (over the Unix socket).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{TEST_USER}@/{db}?host={}",
            self.server.dir.to_string_lossy()
        )
    }

    /// Creates a fresh database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("flowc_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.server.bin.join("createdb"))
            .arg("-h")
            .arg(&self.server.dir)
            .args(["-U", TEST_USER, &name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run createdb: {e}"));
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    fn ask(&self, what: Keep) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        let keeper = self.keeper.lock().unwrap_or_else(|e| e.into_inner());
        keeper
            .as_ref()
            .ok_or("the server was stopped")?
            .send((what, tx))
            .map_err(|_| "the keeper thread is gone".to_string())?;
        rx.recv()
            .map_err(|_| "the keeper thread is gone".to_string())?
    }

    /// Stops the server (fast shutdown: clients are disconnected) and starts it
    /// again on the same data and socket.
    pub fn restart(&self) {
        self.ask(Keep::Restart)
            .unwrap_or_else(|e| panic!("test PostgreSQL did not restart: {e}"));
    }
}

impl Server {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server binary, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--init-groups");
                if program == "postgres" {
                    // Dies with its keeper thread, even after a SIGKILL of the test.
                    c.arg("--pdeathsig").arg("QUIT");
                }
                c.arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn launch(&self) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot open the server log: {e}"))?;
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=", "-c", "max_connections=200"])
            .args([
                "-c",
                if self.durable {
                    "fsync=on"
                } else {
                    "fsync=off"
                },
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(&self.dir)
                .args(["-U", TEST_USER, "-d", "postgres", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(child);
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "postgres did not become ready ({}): {}",
                    exited.map_or("timed out".to_string(), |s| s.to_string()),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn stop(&self, child: &mut Child) {
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = self.ask(Keep::Stop);
        self.keeper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.server.dir);
    }
}

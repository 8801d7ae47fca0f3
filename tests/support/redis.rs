//! The tests' Redis: the server this machine runs (or `ROUTEWISE_TEST_REDIS`), started
//! here when nothing answers on its loopback port, each test under a key prefix of its
//! own so tests run in parallel, and throwaway servers a test can kill.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routewise::shared::{RedisState, RedisStateBuilder};

/// The URL of the shared test server. A server meant to be on this machine
/// (`redis://127.0.0.1:<port>`) that does not answer is started, as a daemon that outlives
/// the tests (as `.ci/run` starts one), so that `cargo test --all-features` needs only
/// the `redis-server` binary.
pub fn redis_url() -> String {
    let url =
        std::env::var("ROUTEWISE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if let Some(port) = url
        .strip_prefix("redis://127.0.0.1:")
        .and_then(|port| port.trim_end_matches('/').parse::<u16>().ok())
    {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| ensure_local_server(port));
    }
    url
}

/// Starts `redis-server` on `port` unless something answers there already. Test
/// processes racing to start it are harmless: one binds the port, the others' servers
/// exit, and every one of them then finds the survivor answering.
fn ensure_local_server(port: u16) {
    let answers = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    if answers() {
        return;
    }
    let status = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("redis-server is installed (the redis tests start it when it is not running)");
    assert!(
        status.success(),
        "redis-server did not start on port {port}"
    );
    for _ in 0..300 {
        if answers() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server on port {port} does not answer");
}

/// A prefix no other test run uses.
pub fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("rwtest:{test}:{}:{nanos}:{n}", std::process::id())
}

/// Settings for a state under a fresh prefix on the shared test server, with a timeout
/// generous enough for a loaded CI machine.
pub fn fresh_state(test: &str) -> RedisStateBuilder {
    RedisState::builder(redis_url())
        .prefix(unique_prefix(test))
        .timeout(Duration::from_secs(2))
}

/// A `redis-server` of the test's own on a free port, killed on drop.
pub struct ThrowawayRedis {
    pub port: u16,
    child: Option<Child>,
    /// Where a durable server keeps its append-only file, across restarts.
    durable: Option<tempfile::TempDir>,
}

impl ThrowawayRedis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            durable: None,
        };
        redis.restart();
        redis
    }

    /// A server that writes every change to an append-only file and syncs it before it
    /// answers (`appendfsync always`), so that a kill loses no write it acknowledged and
    /// a restart reads back everything it had.
    #[allow(dead_code)] // Not every test binary that includes this module needs one.
    pub fn start_durable() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            durable: Some(tempfile::tempdir().unwrap()),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same port) and waits until it answers.
    pub fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        match &self.durable {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir.path()),
            None => command.args(["--appendonly", "no"]),
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Successful calls and failed ones, by command, from `INFO commandstats`.
    pub fn command_stats(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "info", "commandstats"])
            .output()
            .expect("redis-cli is installed with redis-server");
        let text = String::from_utf8(output.stdout).unwrap();
        text.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| {
                let (command, fields) = line.split_once(':')?;
                let field = |name: &str| -> u64 {
                    fields
                        .split(',')
                        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0)
                };
                let calls = field("calls");
                let failed = field("failed_calls") + field("rejected_calls");
                Some((command.to_owned(), (calls, failed)))
            })
            .collect()
    }

    /// Holds every client's commands for `duration` (`CLIENT PAUSE`): they wait, queued,
    /// and run in order once it ends.
    #[allow(dead_code)] // Not every test binary that includes this module pauses.
    pub fn pause(&self, duration: Duration) {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "client", "pause"])
            .arg(duration.as_millis().to_string())
            .output()
            .expect("redis-cli is installed with redis-server");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "OK");
    }

    /// Stops the server's process (`SIGSTOP`): it reads nothing and answers nothing,
    /// while connections stay open and what clients send waits in their sockets, to be
    /// run once it resumes, as with a server stalled by swapping or a long fork.
    #[allow(dead_code)] // Not every test binary that includes this module stalls one.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a [`freeze`](Self::freeze)d server (`SIGCONT`).
    #[allow(dead_code)]
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

//! The real `marquee` binary as child processes (`serve`, `queue drain`), given nothing but
//! `PATH` and the settings of the scenario, every line they print kept for the secrets search,
//! and killed with SIGKILL when the scenario says so.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Everything the children printed and the routes answered, for the secrets search.
#[derive(Clone, Default)]
pub struct Transcript {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Transcript {
    pub fn push(&self, line: String) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// How to run `marquee`: the binary and the settings (upper-cased, as the environment holds them).
#[derive(Clone)]
pub struct Launcher {
    pub binary: PathBuf,
    pub settings: Vec<(String, String)>,
    pub transcript: Transcript,
}

impl Launcher {
    /// Starts `marquee args…`; its output goes to the transcript, and each line to `lines` too.
    pub fn spawn(&self, args: &[&str], lines: Option<mpsc::UnboundedSender<String>>) -> anyhow::Result<Running> {
        let mut command = Command::new(&self.binary);
        command.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &self.settings {
            command.env(name, value);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("cannot run {}", self.binary.display()))?;
        let mut readers = Vec::new();
        let stdout = child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        let stderr = child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let (transcript, lines) = (self.transcript.clone(), lines.clone());
            readers.push(tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if let Some(tx) = &lines {
                        let _ = tx.send(line.clone());
                    }
                    transcript.push(line);
                }
            }));
        }
        Ok(Running { child, readers })
    }

    /// `marquee serve` on a free port, once it says it serves.
    pub async fn serve(&self) -> anyhow::Result<Serve> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let running = self.spawn(&["serve", "--listen", &format!("127.0.0.1:{port}")], Some(tx))?;
        let started = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = rx.recv().await {
                if line.contains("marquee serving on") {
                    return true;
                }
            }
            false
        });
        match started.await {
            Ok(true) => Ok(Serve { running, base: format!("http://127.0.0.1:{port}") }),
            _ => Err(anyhow!("marquee serve did not start within 60 s")),
        }
    }

    /// `marquee args…` to its end, killed if it runs longer than `limit`; whether it succeeded.
    pub async fn run(&self, args: &[&str], limit: Duration) -> anyhow::Result<bool> {
        let mut running = self.spawn(args, None)?;
        match tokio::time::timeout(limit, running.child.wait()).await {
            Ok(status) => {
                running.join_readers().await;
                Ok(status?.success())
            }
            Err(_) => {
                running.kill().await;
                Err(anyhow!("marquee {} ran longer than {} s", args.join(" "), limit.as_secs()))
            }
        }
    }
}

pub struct Running {
    child: Child,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// SIGKILL (what `Child::start_kill` sends on Unix): no handler, no clean-up, as when a
    /// platform stops an invocation or a machine dies.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.join_readers().await;
    }

    async fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.await;
        }
    }
}

/// A running `marquee serve`.
pub struct Serve {
    pub running: Running,
    pub base: String,
}

//! `marquee serve`: the library's routing table over a native HTTP server (hyper), so every
//! route can be called and tested without Spin.
//!
//! Worker threads (one per core by default) accept from one listening socket; each runs a
//! single-threaded runtime, like a Spin instance (the library's futures are not `Send`), with
//! its own pool of PostgreSQL sessions ([`NativePool`]): a request takes a session already open,
//! and a session's connection task runs on the thread that uses it.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use marquee::api;
use tokio::sync::watch;

use crate::native::{NativeHttp, NativePool, NativeSettings, SystemClock};

/// How the server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Threads serving requests.
    pub workers: usize,
    /// PostgreSQL sessions the server keeps open at most, in all (shared out among workers).
    pub db_sessions: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ServeOptions { workers: cores, db_sessions: 8 * cores }
    }
}

pub struct Server {
    addr: SocketAddr,
    shutdown: Option<watch::Sender<bool>>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0: any free port) and serves until dropped, with the default options.
    pub fn start(addr: SocketAddr, settings: NativeSettings) -> std::io::Result<Server> {
        Server::start_with(addr, settings, ServeOptions::default())
    }

    pub fn start_with(addr: SocketAddr, settings: NativeSettings, options: ServeOptions) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        let workers = options.workers.max(1);
        let sessions_each = options.db_sessions.div_ceil(workers).max(1);
        let url = settings.value("database_url").unwrap_or_default().to_owned();
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let (listener, settings, mut stop) = (listener.try_clone()?, settings.clone(), stop.clone());
            let pool = NativePool::new(&url, sessions_each);
            let thread = std::thread::Builder::new().name(format!("marquee-serve-{n}")).spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let http = NativeHttp::default();
                    loop {
                        let (stream, _) = tokio::select! {
                            accepted = listener.accept() => match accepted { Ok(s) => s, Err(_) => continue },
                            _ = stop.changed() => break,
                        };
                        let _ = stream.set_nodelay(true);
                        let (settings, http, pool) = (settings.clone(), http.clone(), pool.clone());
                        tokio::task::spawn_local(async move {
                            let service = service_fn(move |request| {
                                let (settings, http, pool) = (settings.clone(), http.clone(), pool.clone());
                                async move {
                                    Ok::<_, std::convert::Infallible>(handle(&settings, http, pool, request).await)
                                }
                            });
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        });
                    }
                });
            })?;
            threads.push(thread);
        }
        Ok(Server { addr, shutdown: Some(shutdown), threads })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Blocks until the server threads end (they run until the process is stopped).
    pub fn wait(mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(true);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

async fn handle(
    settings: &NativeSettings,
    http: NativeHttp,
    pool: NativePool,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let response = api::read_body_then(request, async |request| {
        // The pool was made from the same `database_url` the library reads.
        api::serve(settings, |_url: &str| pool, http, SystemClock, None, request).await
    })
    .await;
    response.map(|body| Full::new(Bytes::from(body)))
}

//! `marquee serve`: the library's routing table over a native HTTP server (hyper), so every
//! route can be called and tested without Spin. Runs on its own thread with a single-threaded
//! runtime, like a Spin instance: the library's futures are not `Send`.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use marquee::api;
use tokio::sync::oneshot;

use crate::native::{NativeDb, NativeHttp, NativeSettings, SystemClock};

pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0: any free port) and serves until dropped.
    pub fn start(addr: SocketAddr, settings: NativeSettings) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, mut stop) = oneshot::channel();
        let thread = std::thread::Builder::new().name("marquee-serve".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let http = NativeHttp::default();
                loop {
                    let (stream, _) = tokio::select! {
                        accepted = listener.accept() => match accepted { Ok(s) => s, Err(_) => continue },
                        _ = &mut stop => break,
                    };
                    let (settings, http) = (settings.clone(), http.clone());
                    tokio::task::spawn_local(async move {
                        let service = service_fn(move |request| {
                            let (settings, http) = (settings.clone(), http.clone());
                            async move { Ok::<_, std::convert::Infallible>(handle(&settings, http, request).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
            });
        })?;
        Ok(Server { addr, shutdown: Some(shutdown), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Blocks until the server thread ends (it runs until the process is stopped).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn handle(
    settings: &NativeSettings,
    http: NativeHttp,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let response = api::read_body_then(request, async |request| {
        api::serve(settings, |url: &str| NativeDb::new(url), http, SystemClock, None, request).await
    })
    .await;
    response.map(|body| Full::new(Bytes::from(body)))
}

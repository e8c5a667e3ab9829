//! A TCP proxy that puts the database "across a network" for benchmarks: every chunk of bytes
//! is delivered half a round trip after it was read, in each direction, so each request/response
//! exchange costs `rtt` more, as it does against a managed PostgreSQL elsewhere. Bandwidth is not
//! limited: chunks are delayed, not serialised behind each other's delays (a delay line).
//!
//! It also counts the round trips clients make: the requests a PostgreSQL client waits for (see
//! [`RoundTrips`]).

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The proxy runs on threads of its own with blocking sockets: a thread's sleep is precise to
/// tens of microseconds, where an async timer rounds every wait up to the next millisecond.
pub struct LatencyProxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
}

impl LatencyProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, adding `rtt`
    /// to each round trip.
    pub fn start(upstream: SocketAddr, rtt: Duration) -> anyhow::Result<LatencyProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let round_trips = Arc::new(AtomicU64::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        let (counter, stop) = (round_trips.clone(), stopped.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (Ok(client), Ok(server)) = (client, TcpStream::connect(upstream)) else { continue };
                forward(client, server, rtt / 2, counter.clone());
            }
        });
        Ok(LatencyProxy { addr, round_trips, stopped })
    }

    /// `url` (a `postgres://` URL over TCP) pointed at the proxy.
    pub fn url_for(&self, url: &str) -> anyhow::Result<String> {
        url_through(url, self.addr)
    }

    /// Round trips made through the proxy so far, by all its connections.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}

impl Drop for LatencyProxy {
    /// Stops accepting (connections already made live on until their ends close them).
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The server address of a `postgres://` URL over TCP.
pub fn upstream_of(url: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs as _;
    let (before, after) = split_authority(url)?;
    let host_port = url[before..after].rsplit_once('@').map_or(&url[before..after], |(_, h)| h);
    let with_port = if host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| "the database URL's host cannot be resolved")?
        .next()
        .context("the database URL's host has no address")
}

/// `url` with its host and port replaced by `addr`, keeping credentials, database and options.
pub fn url_through(url: &str, addr: SocketAddr) -> anyhow::Result<String> {
    let (before, after) = split_authority(url)?;
    let userinfo = url[before..after].rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    Ok(format!("{}{userinfo}{addr}{}", &url[..before], &url[after..]))
}

/// The byte range of the URL's authority (`user:password@host:port`).
fn split_authority(url: &str) -> anyhow::Result<(usize, usize)> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        bail!("the database URL must be a postgres:// URL to measure through a proxy");
    };
    let end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    if url[scheme_end..end].rsplit('@').next().is_none_or(str::is_empty) {
        bail!("the database URL has no TCP host (a Unix socket cannot go through the proxy)");
    }
    Ok((scheme_end, end))
}

fn forward(client: TcpStream, server: TcpStream, one_way: Duration, round_trips: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_out), Ok(server_out)) = (client.try_clone(), server.try_clone()) else { return };
    let mut requests = RoundTrips::new(round_trips);
    delay_line(client, server_out, one_way, move |chunk| requests.feed(chunk));
    delay_line(server, client_out, one_way, |_| {});
}

/// Counts, from the bytes a PostgreSQL client sends, the requests it then waits for: the TLS
/// request and the startup, each password/SASL message, each simple query, and each `Sync` that ends a batch of
/// extended-protocol messages asking for something (parse, bind, describe, execute). A batch
/// that only closes a statement is not counted: tokio-postgres (on which the Spin host is built
/// too) closes every statement it prepared that way after use, without waiting for the answer.
/// A session that switches to TLS cannot be read; its requests are not counted.
struct RoundTrips {
    count: Arc<AtomicU64>,
    /// Before the startup message, messages carry no type byte.
    started: bool,
    /// The client asked for TLS (or GSS): its next bytes are either a handshake or the startup.
    asked_encryption: bool,
    opaque: bool,
    header: Vec<u8>,
    /// Bytes of the current message's body still to skip.
    skip: usize,
    batch_waits: bool,
}

impl RoundTrips {
    fn new(count: Arc<AtomicU64>) -> RoundTrips {
        RoundTrips {
            count,
            started: false,
            asked_encryption: false,
            opaque: false,
            header: Vec::new(),
            skip: 0,
            batch_waits: false,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.opaque {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if self.asked_encryption && self.header.is_empty() && data[0] == 0x16 {
                // A TLS ClientHello: from here on the session is encrypted.
                self.opaque = true;
                return;
            }
            let header_len = if self.started { 5 } else { 8 };
            let n = (header_len - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() < header_len {
                return;
            }
            let header = std::mem::take(&mut self.header);
            if self.started {
                let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
                self.skip = length.saturating_sub(4);
                self.message(header[0]);
            } else {
                let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let code = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
                self.skip = length.saturating_sub(8);
                // SSLRequest and GSSENCRequest are answered with one byte, the startup with
                // authentication: each is waited for. A CancelRequest gets no answer.
                self.asked_encryption = matches!(code, 80_877_103 | 80_877_104);
                self.started = !self.asked_encryption;
                if code != 80_877_102 {
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn message(&mut self, kind: u8) {
        match kind {
            b'P' | b'B' | b'D' | b'E' => self.batch_waits = true,
            b'S' if std::mem::take(&mut self.batch_waits) => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            b'Q' | b'p' => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Copies `from` to `to` on two threads, delivering each chunk `delay` after it was read;
/// `on_read` sees every chunk. Either end closing closes the other.
fn delay_line(
    mut from: TcpStream,
    mut to: TcpStream,
    delay: Duration,
    mut on_read: impl FnMut(&[u8]) + Send + 'static,
) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            on_read(&buf[..n]);
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_pointed_at_the_proxy_keeping_credentials_database_and_options() {
        assert_eq!(
            upstream_of("postgres://u:p@127.0.0.1:54330/db?sslmode=disable").unwrap(),
            "127.0.0.1:54330".parse().unwrap()
        );
        assert_eq!(upstream_of("postgres://127.0.0.1/db").unwrap(), "127.0.0.1:5432".parse().unwrap());
        assert!(upstream_of("postgres:///db?host=/var/run/postgresql").is_err());
        assert!(upstream_of("not a url").is_err());
        let proxy: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(
            url_through("postgres://u:p%40ss@db.example:5432/marquee?sslmode=require", proxy).unwrap(),
            "postgres://u:p%40ss@127.0.0.1:40001/marquee?sslmode=require"
        );
        assert_eq!(url_through("postgres://127.0.0.1:5/x", proxy).unwrap(), "postgres://127.0.0.1:40001/x");
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn the_requests_a_client_waits_for_are_counted_whatever_the_chunking() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&8u32.to_be_bytes());
        bytes.extend_from_slice(&80_877_103u32.to_be_bytes()); // SSLRequest, refused ('N'): 1
        bytes.extend_from_slice(&12u32.to_be_bytes());
        bytes.extend_from_slice(&196_608u32.to_be_bytes()); // startup: 2
        bytes.extend_from_slice(b"u\0\0\0");
        for (kind, body) in [(b'P', &b"s1"[..]), (b'D', b"Ss1"), (b'S', b"")] {
            bytes.extend(message(kind, body)); // prepare: 3
        }
        for (kind, body) in [(b'B', &[7u8; 70_000][..]), (b'E', b""), (b'S', b"")] {
            bytes.extend(message(kind, body)); // execute, with a large parameter: 4
        }
        bytes.extend(message(b'C', b"Ss1")); // close, not waited for
        bytes.extend(message(b'S', b""));
        bytes.extend(message(b'Q', b"BEGIN\0")); // 5
        for chunk_size in [1, 3, 7, 4096, usize::MAX] {
            let count = Arc::new(AtomicU64::new(0));
            let mut counter = RoundTrips::new(count.clone());
            for chunk in bytes.chunks(chunk_size.min(bytes.len())) {
                counter.feed(chunk);
            }
            assert_eq!(count.load(Ordering::Relaxed), 5, "chunks of {chunk_size}");
        }
        let count = Arc::new(AtomicU64::new(0));
        let mut counter = RoundTrips::new(count.clone());
        counter.feed(&bytes[..8]);
        counter.feed(&[0x16, 3, 1, 0, 200]);
        counter.feed(&bytes[8..]);
        assert_eq!(count.load(Ordering::Relaxed), 1, "a TLS session is not read past its request");
    }
}

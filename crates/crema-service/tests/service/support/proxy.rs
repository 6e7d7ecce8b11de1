//! A TCP proxy on loopback in front of the S3 server, to see and disturb
//! what really goes over the wire: it keeps every byte the client sends
//! (to check headers), counts the bytes the server sends back, answers the
//! next N connections with `503 Service Unavailable` itself, and can cut all
//! connections once a budget of response bytes is spent (an interrupted
//! download). Plain byte forwarding, no HTTP parsing beyond reading one
//! request's head and `Content-Length` for the 503 answers.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy saw and what it is told to do.
#[derive(Default)]
pub struct ProxyState {
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// The next this-many connections get a 503 from the proxy.
    pub fail_next: AtomicUsize,
    /// Response bytes still allowed before every connection is cut (`u64::MAX`: no limit).
    pub budget: AtomicU64,
    /// Response bytes forwarded to the client.
    pub down_bytes: AtomicU64,
    /// Every byte clients sent (headers and bodies), in arrival order per read.
    pub sent: Mutex<Vec<u8>>,
}

/// A running proxy; stops with the test's runtime.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Counters and knobs.
    pub state: Arc<ProxyState>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream_port`.
    pub async fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState { budget: AtomicU64::new(u64::MAX), ..Default::default() });
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                tokio::spawn(async move {
                    let fail =
                        st.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                    if fail {
                        answer_503(client, &st).await;
                    } else if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await {
                        forward(client, server, st).await;
                    }
                });
            }
        });
        Proxy { endpoint: format!("http://127.0.0.1:{port}"), state }
    }

    /// Everything clients sent so far, lowercased (header names are case-insensitive).
    pub fn sent_lowercase(&self) -> String {
        String::from_utf8_lossy(&self.state.sent.lock().unwrap()).to_ascii_lowercase()
    }
}

/// Reads one request (head and `Content-Length` body) and answers 503.
async fn answer_503(mut client: TcpStream, st: &ProxyState) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let body_len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < body_len {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    st.sent.lock().unwrap().extend_from_slice(&buf[..head_end]);
    let body = "<Error><Code>ServiceUnavailable</Code></Error>";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(resp.as_bytes()).await;
    let _ = client.shutdown().await;
}

async fn forward(client: TcpStream, server: TcpStream, st: Arc<ProxyState>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up_state = st.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            up_state.sent.lock().unwrap().extend_from_slice(&buf[..n]);
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed =
            st.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| Some(b.saturating_sub(n as u64))).unwrap();
        let take = (allowed.min(n as u64)) as usize;
        if take > 0 && cw.write_all(&buf[..take]).await.is_err() {
            break;
        }
        st.down_bytes.fetch_add(take as u64, Ordering::SeqCst);
        if take < n {
            break; // budget spent: cut the connection
        }
    }
    up.abort();
    let _ = cw.shutdown().await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

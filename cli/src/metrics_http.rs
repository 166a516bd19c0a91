//! `serve --metrics ADDR`: a minimal HTTP/1.1 endpoint for Prometheus scrapers. Each
//! connection gets one answer (the request head is read, bounded in size and time) and is
//! closed; nothing else is served.

use std::sync::Arc;
use std::time::Duration;

use muxwire::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head read (bigger ones get 431).
const MAX_HEAD: usize = 8 * 1024;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `server`'s counters on `listener` until the task is aborted.
pub(crate) fn spawn(listener: TcpListener, server: Arc<Running>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let server = server.clone();
            // One connection at a time is plenty for a scraper, and bounds the work.
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(conn, &server)).await;
        }
    })
}

async fn answer(mut conn: TcpStream, server: &Running) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(&mut conn, "431 Request Header Fields Too Large", "").await;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics" | "/")) => {
            respond(&mut conn, "200 OK", &server.stats().prometheus()).await
        }
        (Some("GET"), _) => respond(&mut conn, "404 Not Found", "try /metrics\n").await,
        _ => respond(&mut conn, "405 Method Not Allowed", "").await,
    }
}

async fn respond(conn: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

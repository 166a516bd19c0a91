//! The floor: a raw echo over the same sockets and runtime, no protocol at all. The
//! sockets are set up as muxwire sets up its own (TCP_NODELAY; a Unix socket's send buffer
//! as `Options::unix_send_buffer` says), so that the protocol is the only difference.
//! The client's first byte picks the mode: `E` echoes everything back, `S` sinks
//! everything and answers the byte count (u64 LE) at EOF.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

const MSG: usize = 64;

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut mode = [0u8; 1];
    if s.read_exact(&mut mode).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        if mode[0] == b'E' && s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    if mode[0] == b'S' {
        let _ = s.write_all(&total.to_le_bytes()).await;
    }
}

pub(crate) async fn serve(url: &str) -> i32 {
    if let Some(addr) = url.strip_prefix("tcp://") {
        let l = TcpListener::bind(addr).await.expect("bind");
        println!("tcp://{}", l.local_addr().expect("addr"));
        loop {
            let (s, _) = l.accept().await.expect("accept");
            let _ = s.set_nodelay(true);
            tokio::spawn(handle(s));
        }
    }
    let path = url.trim_start_matches("unix://");
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).expect("bind");
    println!("{url}");
    loop {
        let (s, _) = l.accept().await.expect("accept");
        like_muxwire(&s);
        tokio::spawn(handle(s));
    }
}

pub(crate) async fn workload(w: &str, url: &str, quick: bool) -> Result<Value, String> {
    if let Some(addr) = url.strip_prefix("tcp://") {
        let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        run(w, s, quick).await
    } else {
        let s = UnixStream::connect(url.trim_start_matches("unix://"))
            .await
            .map_err(|e| e.to_string())?;
        like_muxwire(&s);
        run(w, s, quick).await
    }
}

/// The send buffer muxwire gives its Unix sockets by default.
fn like_muxwire(s: &UnixStream) {
    if let Some(n) = muxwire::Options::default().unix_send_buffer {
        let _ = socket2::SockRef::from(s).set_send_buffer_size(n);
    }
}

async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    w: &str,
    s: S,
    quick: bool,
) -> Result<Value, String> {
    let err = |e: std::io::Error| e.to_string();
    let (mut r, mut wr) = tokio::io::split(s);
    match w {
        "W1" => {
            wr.write_all(b"E").await.map_err(err)?;
            let n = if quick { 3_000 } else { 20_000 };
            let msg = [7u8; MSG];
            let mut back = [0u8; MSG];
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                wr.write_all(&msg).await.map_err(err)?;
                r.read_exact(&mut back).await.map_err(err)?;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            lat.sort_by(f64::total_cmp);
            Ok(
                json!({"p50_us": super::percentile(&lat, 0.5), "p99_us": super::percentile(&lat, 0.99), "calls": n}),
            )
        }
        "W2" => {
            wr.write_all(b"E").await.map_err(err)?;
            let dur = if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(3)
            };
            let window = 128 * MSG;
            let batch = vec![7u8; window];
            wr.write_all(&batch).await.map_err(err)?;
            let mut buf = vec![0u8; 256 * 1024];
            let (mut received, mut carry) = (0u64, 0usize);
            let start = Instant::now();
            while start.elapsed() < dur {
                let n = r.read(&mut buf).await.map_err(err)?;
                if n == 0 {
                    return Err("raw server closed".into());
                }
                carry += n;
                let msgs = carry / MSG;
                carry %= MSG;
                received += msgs as u64;
                // Keep 128 messages in flight: one new request per reply.
                wr.write_all(&batch[..msgs * MSG]).await.map_err(err)?;
            }
            let secs = start.elapsed().as_secs_f64();
            Ok(json!({"calls_per_s": received as f64 / secs, "calls": received}))
        }
        // One floor for both W3 rows: the raw echo overlaps both directions anyway.
        "W3" | "W3p" => {
            wr.write_all(b"E").await.map_err(err)?;
            let n = if quick { 12 } else { 400 };
            let body = vec![5u8; 4 << 20];
            let mut back = vec![0u8; 4 << 20];
            let start = Instant::now();
            for _ in 0..n {
                let (a, b) = tokio::join!(wr.write_all(&body), r.read_exact(&mut back));
                a.map_err(err)?;
                b.map_err(err)?;
            }
            let secs = start.elapsed().as_secs_f64();
            Ok(json!({"mb_per_s": (n * body.len()) as f64 / secs / 1e6}))
        }
        // The batched variant has the same floor: bytes into a sink.
        "W4" | "W4b" => {
            wr.write_all(b"S").await.map_err(err)?;
            let n: usize = if quick { 300_000 } else { 3_000_000 };
            // Each message carries a 4-byte length, as a real framing would.
            let mut one = Vec::with_capacity(MSG + 4);
            one.extend_from_slice(&(MSG as u32).to_le_bytes());
            one.extend_from_slice(&[9u8; MSG]);
            let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
            let start = Instant::now();
            for _ in 0..n / 1000 {
                wr.write_all(&chunk).await.map_err(err)?;
            }
            wr.shutdown().await.map_err(err)?;
            let mut total = [0u8; 8];
            r.read_exact(&mut total).await.map_err(err)?;
            let secs = start.elapsed().as_secs_f64();
            let msgs = u64::from_le_bytes(total) / one.len() as u64;
            Ok(json!({"msgs_per_s": msgs as f64 / secs, "msgs": msgs}))
        }
        other => Err(format!("unknown workload {other}")),
    }
}

//! The muxwire side of the benchmark: the CLI's built-in server and a client per workload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use muxwire::{Client, Options, Server};
use serde_json::{json, Value};

/// Options sized for the workloads (4 MiB messages, 128 calls in flight).
fn options() -> Options {
    let mut o = Options::default();
    o.max_frame_size = 256 * 1024;
    o.max_message_size = 8 << 20;
    o.initial_stream_window = 8 << 20;
    o.initial_connection_window = 64 << 20;
    o
}

/// A throwaway self-signed certificate for a `tls://` bench server (the client trusts
/// anything: the work of encrypting is the same whoever signed the certificate).
fn tls_options(url: &str, server: bool) -> Result<Options, String> {
    let mut o = options();
    if !url.starts_with("tls://") {
        return Ok(o);
    }
    if server {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .map_err(|e| e.to_string())?;
        let tls = muxwire::TlsServerConfig::from_pem(
            ck.cert.pem().as_bytes(),
            ck.key_pair.serialize_pem().as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        o.tls_server = Some(tls);
    } else {
        o.tls_client = Some(muxwire::TlsClientConfig::danger_accept_any_server_certificate());
    }
    Ok(o)
}

pub(crate) async fn serve(url: &str) -> i32 {
    let opts = match tls_options(url, true) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench server: {e}");
            return 1;
        }
    };
    let server = match Server::new(crate::serve::router(Arc::default()), opts)
        .bind(url)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench server: {e}");
            return 1;
        }
    };
    println!("{}", server.local_endpoint());
    std::future::pending::<()>().await;
    0
}

async fn server_allocs(c: &Client) -> Result<u64, String> {
    let b = c
        .call("stats", Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&b)
        .parse()
        .map_err(|_| "bad stats reply".to_string())
}

/// W2 across several servers behind one `Balanced` client (power of two choices): 128
/// calls in flight in all, 64 B echo.
pub(crate) async fn balanced_w2(urls: &[&str], quick: bool) -> Result<Value, String> {
    let b = muxwire::Balanced::connect(urls, options(), muxwire::BalanceOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let msg = Bytes::from(vec![7u8; 64]);
    for _ in 0..3000 {
        b.call("echo", msg.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let dur = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(3)
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..128 {
        let (b, m) = (b.clone(), msg.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            'run: while start.elapsed() < dur {
                for _ in 0..16 {
                    if b.call("echo", m.clone()).await.is_err() {
                        break 'run;
                    }
                    n += 1;
                }
            }
            n
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await.map_err(|e| e.to_string())?;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_server: Vec<u64> = b.endpoints().iter().map(|e| e.calls).collect();
    b.close().await;
    Ok(json!({"calls_per_s": calls as f64 / secs, "calls": calls, "per_server": per_server}))
}

pub(crate) async fn workload(w: &str, url: &str, quick: bool) -> Result<Value, String> {
    let client = Client::connect_with(url, tls_options(url, false)?, None)
        .await
        .map_err(|e| e.to_string())?;
    let msg = Bytes::from(vec![7u8; 64]);
    let result = match w {
        "W1" => {
            let n = if quick { 3_000 } else { 20_000 };
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                client
                    .call("echo", msg.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            lat.sort_by(f64::total_cmp);
            json!({"p50_us": super::percentile(&lat, 0.5), "p99_us": super::percentile(&lat, 0.99), "calls": n})
        }
        "W2" => {
            let dur = if quick {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(3)
            };
            // Warm up, then measure calls and the server's allocations in steady state.
            for _ in 0..1000 {
                client
                    .call("echo", msg.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let allocs_before = server_allocs(&client).await?;
            let client_before = crate::alloc::count();
            let writev_before = client.stats().write_syscalls;
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..128 {
                let (c, m) = (client.clone(), msg.clone());
                tasks.push(tokio::spawn(async move {
                    // The clock is read every 16 calls, as the raw floor reads it once per
                    // batch: a read per call would be the harness's cost, not muxwire's.
                    let mut n = 0u64;
                    'run: while start.elapsed() < dur {
                        for _ in 0..16 {
                            if c.call("echo", m.clone()).await.is_err() {
                                break 'run;
                            }
                            n += 1;
                        }
                    }
                    n
                }));
            }
            let mut calls = 0;
            for t in tasks {
                calls += t.await.map_err(|e| e.to_string())?;
            }
            let secs = start.elapsed().as_secs_f64();
            let client_allocs = crate::alloc::count() - client_before;
            let allocs = server_allocs(&client).await?.saturating_sub(allocs_before);
            json!({
                "calls_per_s": calls as f64 / secs,
                "calls": calls,
                "server_allocs_per_call": allocs as f64 / calls.max(1) as f64,
                "client_allocs_per_call": client_allocs as f64 / calls.max(1) as f64,
                "client_writev": client.stats().write_syscalls - writev_before,
            })
        }
        "W3" | "W3p" => {
            // W3: one call at a time. W3p: two in flight, so that one request travels while
            // the other's reply comes back (the raw floor overlaps both directions too).
            let in_flight = if w == "W3p" { 2 } else { 1 };
            let n = if quick { 12 } else { 400 };
            let body = Bytes::from(vec![5u8; 4 << 20]);
            let start = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..in_flight {
                let (c, body) = (client.clone(), body.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..n / in_flight {
                        let r = c
                            .call("echo", body.clone())
                            .await
                            .map_err(|e| e.to_string())?;
                        if r.len() != body.len() {
                            return Err("short echo".to_string());
                        }
                    }
                    Ok(())
                }));
            }
            for t in tasks {
                t.await.map_err(|e| e.to_string())??;
            }
            let secs = start.elapsed().as_secs_f64();
            json!({"mb_per_s": (n * body.len()) as f64 / secs / 1e6, "in_flight": in_flight})
        }
        "W4" => {
            let n: u64 = if quick { 300_000 } else { 3_000_000 };
            let before = sink_count(&client).await?;
            let start = Instant::now();
            for _ in 0..n {
                client
                    .notify("sink", msg.clone())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            wait_for_sink(&client, before + n).await?;
            let secs = start.elapsed().as_secs_f64();
            json!({"msgs_per_s": n as f64 / secs, "msgs": n, "client_writev": client.stats().write_syscalls})
        }
        "W4b" => {
            // The same messages, handed over 64 at a time with `notify_batch`.
            let n: u64 = if quick { 300_000 } else { 3_000_000 };
            let before = sink_count(&client).await?;
            let start = Instant::now();
            let mut sent = 0;
            while sent < n {
                let k = (n - sent).min(64);
                let batch = (0..k).map(|_| msg.clone()).collect();
                client
                    .notify_batch("sink", batch)
                    .await
                    .map_err(|e| e.to_string())?;
                sent += k;
            }
            wait_for_sink(&client, before + n).await?;
            let secs = start.elapsed().as_secs_f64();
            json!({"msgs_per_s": n as f64 / secs, "msgs": n, "client_writev": client.stats().write_syscalls})
        }
        other => return Err(format!("unknown workload {other}")),
    };
    client.close().await;
    Ok(result)
}

/// Messages the server's sink has received so far (its counter is shared by all clients).
async fn sink_count(client: &Client) -> Result<u64, String> {
    let c = client
        .call("count", Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&c)
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Returns once the server's sink count has reached `target`.
async fn wait_for_sink(client: &Client, target: u64) -> Result<(), String> {
    while sink_count(client).await? < target {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

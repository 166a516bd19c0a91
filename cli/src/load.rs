//! `muxwire load`: a load generator against any server, in the mould of ghz: a number of
//! concurrent callers, a total count or a duration, an optional rate, and a report of
//! latency percentiles, throughput and every status seen.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use muxwire::{CallOptions, Client, Status};
use serde_json::json;

use crate::exit;

/// Arguments of `muxwire load`.
#[derive(Args)]
pub(crate) struct LoadArgs {
    /// tcp://host:port or unix:///path
    url: String,
    /// The method to call (unary).
    method: String,
    /// Callers running at once (each has one call in flight).
    #[arg(short = 'c', long, default_value_t = 50)]
    concurrency: u64,
    /// Calls in all (the run ends at whichever of -n and --duration comes first).
    #[arg(short = 'n', long)]
    total: Option<u64>,
    /// How long to run, ms (default: 10 s unless -n is given).
    #[arg(long)]
    duration_ms: Option<u64>,
    /// Calls per second at most, across all callers (0: as fast as answers come).
    #[arg(long, default_value_t = 0)]
    rps: u64,
    /// Request size in bytes (pseudo-random content).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Connections to spread the calls over.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Per-call timeout, ms.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tuning: crate::tuning::Tuning,
}

/// What the callers found.
#[derive(Default)]
struct Tally {
    /// Latencies of calls that ended OK, µs.
    latencies: Vec<f64>,
    /// Calls by outcome name (OK or the status code's name).
    outcomes: BTreeMap<String, u64>,
    bytes: u64,
}

pub(crate) fn run(args: LoadArgs) -> i32 {
    if let Err(e) = args.url.parse::<muxwire::Endpoint>() {
        eprintln!("muxwire load: {}", e.0);
        return exit::USAGE;
    }
    if args.concurrency == 0 || args.total == Some(0) {
        eprintln!("muxwire load: -c and -n must be at least 1");
        return exit::USAGE;
    }
    let duration = match (args.duration_ms, args.total) {
        (Some(ms), _) => Some(Duration::from_millis(ms)),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let mut opts = match args.tuning.client_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("muxwire load: {e}");
            return exit::FAILED;
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt.block_on(async {
        opts.pool_size = args.connections.max(1);
        let client = Client::connect_with(&args.url, opts, None).await?;
        client.ping().await?;
        let report = drive(&client, &args, duration).await;
        client.close().await;
        Ok::<_, Status>(report)
    });
    match result {
        Ok((tally, elapsed)) => {
            print_report(&args, &tally, elapsed);
            match tally.outcomes.keys().any(|k| k != "OK") {
                true => exit::FAILED,
                false => exit::OK,
            }
        }
        Err(e) => crate::call::fail(&e),
    }
}

/// Runs the callers; what they found and how long it took.
async fn drive(client: &Client, args: &LoadArgs, duration: Option<Duration>) -> (Tally, Duration) {
    let body: Bytes = (0..args.size)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect::<Vec<u8>>()
        .into();
    let issued = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let end = duration.map(|d| start + d);
    let opts = CallOptions {
        timeout: args.timeout_ms.map(Duration::from_millis),
        ..CallOptions::default()
    };
    // With a rate, call i may start only at start + i / rps.
    let spacing = (args.rps > 0).then(|| Duration::from_secs_f64(1.0 / args.rps as f64));
    let mut callers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, body, opts) = (client.clone(), body.clone(), opts.clone());
        let (issued, tally, method, total) = (
            issued.clone(),
            tally.clone(),
            args.method.clone(),
            args.total,
        );
        callers.push(tokio::spawn(async move {
            let mut mine = Tally::default();
            loop {
                let i = issued.fetch_add(1, Relaxed);
                if total.is_some_and(|t| i >= t) || end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
                if let Some(s) = spacing {
                    let at = start + s.mul_f64(i as f64);
                    if end.is_some_and(|e| at >= e) {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                }
                let t = Instant::now();
                let r = client.call_with(&method, body.clone(), &opts).await;
                let name = match &r {
                    Ok(reply) => {
                        mine.latencies.push(t.elapsed().as_secs_f64() * 1e6);
                        mine.bytes += (body.len() + reply.len()) as u64;
                        "OK".to_string()
                    }
                    Err(e) => e.code.name().to_string(),
                };
                *mine.outcomes.entry(name).or_default() += 1;
            }
            let mut t = tally.lock().expect("tally");
            t.latencies.extend(mine.latencies);
            t.bytes += mine.bytes;
            for (k, n) in mine.outcomes {
                *t.outcomes.entry(k).or_default() += n;
            }
        }));
    }
    for c in callers {
        let _ = c.await;
    }
    let elapsed = start.elapsed();
    let mut t = std::mem::take(&mut *tally.lock().expect("tally"));
    t.latencies.sort_by(f64::total_cmp);
    (t, elapsed)
}

fn print_report(args: &LoadArgs, t: &Tally, elapsed: Duration) {
    let calls: u64 = t.outcomes.values().sum();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let p = |q| crate::bench::percentile(&t.latencies, q);
    let max = t.latencies.last().copied().unwrap_or(0.0);
    if args.json {
        let doc = json!({
            "url": args.url, "method": args.method, "concurrency": args.concurrency,
            "size": args.size, "calls": calls, "seconds": secs,
            "calls_per_s": calls as f64 / secs, "mb_per_s": t.bytes as f64 / secs / 1e6,
            "latency_us": {"p50": p(0.5), "p90": p(0.9), "p99": p(0.99), "max": max},
            "outcomes": t.outcomes,
        });
        println!("{doc}");
        return;
    }
    println!(
        "{calls} calls in {secs:.2} s: {:.0} calls/s, {:.2} MB/s ({} callers, {} B requests)",
        calls as f64 / secs,
        t.bytes as f64 / secs / 1e6,
        args.concurrency,
        args.size
    );
    println!(
        "latency of OK calls: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        p(0.5),
        p(0.9),
        p(0.99),
        max
    );
    for (outcome, n) in &t.outcomes {
        println!("  {outcome:<20} {n}");
    }
}

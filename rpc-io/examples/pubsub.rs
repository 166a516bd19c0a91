//! Publish/subscribe on a server's registry of connected peers: clients subscribe to
//! topics, publish to a topic's subscribers or to one client, and every call needs a
//! bearer token. A subscriber that does not keep up is skipped (and counted), never
//! waited for; one that disconnects leaves every topic.
//!
//! `cargo run -p muxwire --example pubsub`

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use muxwire::{
    CallInfo, CallOptions, Client, Context, Options, PeerEvent, Peers, Router, Server, Status,
    StatusCode,
};
use tokio::sync::mpsc;

const TOKEN: &[u8] = b"Bearer pubsub-example";

/// Subscribers (connection ids) by topic.
type Topics = Arc<Mutex<BTreeMap<String, BTreeSet<u64>>>>;

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The server's methods: subscribe, unsubscribe, publish ("topic\nmessage") and
/// publish_to ("connection-id\nmessage"); whoami answers the caller's connection id.
fn broker(peers: Peers, topics: Topics) -> Router {
    let (t1, t2, t3) = (topics.clone(), topics.clone(), topics);
    let (p1, p2) = (peers.clone(), peers);
    Router::new()
        .unary_sync("whoami", |ctx: &Context, _b: Bytes| {
            Ok(Bytes::from(ctx.peer().connection_id().to_string()))
        })
        .unary_sync("subscribe", move |ctx: &Context, topic: Bytes| {
            let id = ctx.peer().connection_id();
            t1.lock()
                .unwrap()
                .entry(text(&topic))
                .or_default()
                .insert(id);
            Ok(Bytes::new())
        })
        .unary_sync("unsubscribe", move |ctx: &Context, topic: Bytes| {
            if let Some(s) = t2.lock().unwrap().get_mut(&text(&topic)) {
                s.remove(&ctx.peer().connection_id());
            }
            Ok(Bytes::new())
        })
        .unary_sync("publish", move |_ctx: &Context, req: Bytes| {
            let req = text(&req);
            let (topic, _) = req
                .split_once('\n')
                .ok_or_else(|| Status::invalid_argument("publish takes \"topic\\nmessage\""))?;
            let subscribers = t3.lock().unwrap().get(topic).cloned().unwrap_or_default();
            let report = p1.notify_where("message", Bytes::from(req.clone()), |p| {
                subscribers.contains(&p.connection_id())
            });
            Ok(Bytes::from(format!(
                "delivered {}, skipped {}",
                report.sent,
                report.missed.len()
            )))
        })
        .unary_sync("publish_to", move |_ctx: &Context, req: Bytes| {
            let req = text(&req);
            let (to, message) = req
                .split_once('\n')
                .and_then(|(id, m)| Some((id.parse::<u64>().ok()?, m)))
                .ok_or_else(|| Status::invalid_argument("publish_to takes \"id\\nmessage\""))?;
            let peer = p2
                .get(to)
                .ok_or_else(|| Status::new(StatusCode::NOT_FOUND, format!("no client {to}")))?;
            peer.try_notify("message", Bytes::from(format!("direct\n{message}")))?;
            Ok(Bytes::new())
        })
        .authorize_calls(|call: &CallInfo<'_>| {
            match call.get("authorization").map(|v| &v[..]) == Some(TOKEN) {
                true => Ok(()),
                false => Err(Status::new(
                    StatusCode::UNAUTHENTICATED,
                    "bearer token needed",
                )),
            }
        })
}

/// A client named `name` whose received messages go to `inbox`.
async fn subscriber(
    url: &str,
    name: &'static str,
    inbox: mpsc::UnboundedSender<String>,
) -> Result<Client, Status> {
    let router = Router::new().unary_sync("message", move |_ctx: &Context, m: Bytes| {
        let _ = inbox.send(format!("{name} got {:?}", text(&m)));
        Ok(Bytes::new())
    });
    Client::connect_with(url, Options::default(), Some(router)).await
}

fn main() -> Result<(), Status> {
    muxwire::Runtime::new(2)?.block_on(async {
        let (peers, topics) = (Peers::new(), Topics::default());
        // Whoever leaves, leaves every topic.
        let (mut events, t) = (peers.events(), topics.clone());
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if let PeerEvent::Disconnected(p) = e {
                    for subs in t.lock().unwrap().values_mut() {
                        subs.remove(&p.connection_id());
                    }
                }
            }
        });
        let registry = peers.clone();
        let server = Server::new(broker(peers.clone(), topics), Options::default())
            .with_peers(peers)
            .bind("tcp://127.0.0.1:0")
            .await?;
        let url = server.local_endpoint().to_string();
        let auth = CallOptions {
            metadata: vec![("authorization".into(), Bytes::from_static(TOKEN))],
            ..CallOptions::default()
        };
        let (tx, mut inbox) = mpsc::unbounded_channel();
        let alice = subscriber(&url, "alice", tx.clone()).await?;
        let bob = subscriber(&url, "bob", tx.clone()).await?;
        let carol = subscriber(&url, "carol", tx).await?;
        for c in [&alice, &bob] {
            c.call_with("subscribe", Bytes::from_static(b"weather"), &auth)
                .await?;
        }
        let r = carol
            .call_with(
                "publish",
                Bytes::from_static(b"weather\nrain at noon"),
                &auth,
            )
            .await?;
        println!("carol publishes to weather: {}", text(&r));
        for _ in 0..2 {
            println!("  {}", inbox.recv().await.unwrap_or_default());
        }
        let bob_id = bob.call_with("whoami", Bytes::new(), &auth).await?;
        let to_bob = format!("{}\nsee you at five", text(&bob_id));
        carol
            .call_with("publish_to", Bytes::from(to_bob), &auth)
            .await?;
        println!(
            "carol writes to bob alone:\n  {}",
            inbox.recv().await.unwrap_or_default()
        );
        alice
            .call_with("unsubscribe", Bytes::from_static(b"weather"), &auth)
            .await?;
        bob.close().await;
        // The server sees bob go a moment later.
        while registry.len() > 2 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let r = carol
            .call_with("publish", Bytes::from_static(b"weather\nsun later"), &auth)
            .await?;
        println!("after alice unsubscribed and bob left: {}", text(&r));
        let refused = carol
            .call("publish", Bytes::from_static(b"weather\nspam"))
            .await;
        println!("without the token: {}", refused.unwrap_err());
        server.shutdown(std::time::Duration::from_secs(1)).await;
        Ok(())
    })?
}

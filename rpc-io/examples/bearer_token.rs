//! A server that serves only callers with the right bearer token in their metadata, and
//! keeps `admin.*` methods for clients whose TLS certificate or Unix user says so.
//!
//! `cargo run -p muxwire --example bearer_token`

use bytes::Bytes;
use muxwire::{
    CallInfo, CallOptions, Client, Context, Options, Router, Server, Status, StatusCode,
};

/// The token this server accepts (a real one comes from a secret store, never the source).
const TOKEN: &[u8] = b"Bearer example-token";

fn check(call: &CallInfo<'_>) -> Result<(), Status> {
    if call.get("authorization").map(|v| &v[..]) != Some(TOKEN) {
        return Err(Status::new(
            StatusCode::UNAUTHENTICATED,
            "missing or wrong bearer token",
        ));
    }
    let admin = call
        .peer
        .identity
        .is_some_and(|id| id.subject.contains("CN=admin") || id.unix.is_some_and(|u| u.uid == 0));
    if call.method.starts_with("admin.") && !admin {
        return Err(Status::new(
            StatusCode::PERMISSION_DENIED,
            "admin methods need an admin",
        ));
    }
    Ok(())
}

fn main() -> Result<(), Status> {
    let rt = muxwire::Runtime::new(1)?;
    rt.block_on(async {
        let router = Router::new()
            .unary_sync("hello", |_ctx: &Context, name: Bytes| {
                Ok(Bytes::from(format!(
                    "hello, {}",
                    String::from_utf8_lossy(&name)
                )))
            })
            .authorize_calls(check);
        let server = Server::new(router, Options::default())
            .bind("tcp://127.0.0.1:0")
            .await?;
        let client = Client::connect(&server.local_endpoint().to_string()).await?;

        let with_token = CallOptions {
            metadata: vec![("authorization".into(), Bytes::from_static(TOKEN))],
            ..CallOptions::default()
        };
        let reply = client
            .call_with("hello", Bytes::from_static(b"ada"), &with_token)
            .await?;
        println!("with the token:    {}", String::from_utf8_lossy(&reply));
        let refused = client
            .call("hello", Bytes::from_static(b"eve"))
            .await
            .unwrap_err();
        println!("without the token: {refused}");
        let admin = client
            .call_with("admin.reset", Bytes::new(), &with_token)
            .await
            .unwrap_err();
        println!("admin method:      {admin}");
        server.shutdown(std::time::Duration::from_secs(1)).await;
        Ok(())
    })?
}

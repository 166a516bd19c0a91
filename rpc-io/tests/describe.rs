//! The built-in `muxwire.describe` (spec section 6.3): every served method with its kind
//! and what the application said of it, one method on request, NOT_FOUND for others, and
//! a description of a method never registered refused at bind.

mod common;

use bytes::Bytes;
use common::{echo_router, serve, GRACE};
use muxwire::{Client, MethodInfo, Options, Server, StatusCode, DESCRIBE_METHOD};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_is_described_with_its_kind_and_the_text_given() {
    let router = echo_router()
        .describe(
            "echo",
            MethodInfo::new("Answers the request as it came", "bytes", "bytes"),
        )
        .describe(
            "sum",
            MethodInfo::new("Adds up message sizes", "stream of bytes", "decimal text"),
        );
    let server = serve("tcp://127.0.0.1:0", router, Options::default()).await;
    let client = Client::connect(&server.local_endpoint().to_string())
        .await
        .unwrap();
    let all: Value =
        serde_json::from_slice(&client.call(DESCRIBE_METHOD, Bytes::new()).await.unwrap()).unwrap();
    let methods = all["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let listed = client.list().await.unwrap();
    assert_eq!(
        names, listed,
        "the same methods, in the same order, as muxwire.list"
    );
    let by = |n: &str| methods.iter().find(|m| m["name"] == n).unwrap().clone();
    assert_eq!(
        by("echo"),
        json!({"name": "echo", "kind": "unary", "description": "Answers the request as it came",
               "request": "bytes", "reply": "bytes"})
    );
    assert_eq!(by("sum")["kind"], "streaming");
    assert_eq!(
        by("fail"),
        json!({"name": "fail", "kind": "unary"}),
        "undescribed"
    );

    let one: Value = serde_json::from_slice(
        &client
            .call(DESCRIBE_METHOD, Bytes::from_static(b"sum"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(one["methods"].as_array().unwrap().len(), 1);
    assert_eq!(one["methods"][0]["reply"], "decimal text");
    let e = client
        .call(DESCRIBE_METHOD, Bytes::from_static(b"nope"))
        .await
        .unwrap_err();
    assert_eq!(e.code, StatusCode::NOT_FOUND);
    server.shutdown(GRACE).await;
}

#[tokio::test]
async fn describing_a_method_never_registered_is_refused_at_bind() {
    let router = echo_router().describe("ghost", MethodInfo::default());
    let e = Server::new(router, Options::default())
        .bind("tcp://127.0.0.1:0")
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    assert!(e.message.contains("ghost"), "{e}");
    let e = Server::new(
        echo_router().unary(
            "muxwire.describe",
            |_c: muxwire::Context, b: Bytes| async move { Ok(b) },
        ),
        Options::default(),
    )
    .bind("tcp://127.0.0.1:0")
    .await
    .err()
    .unwrap();
    assert_eq!(
        e.code,
        StatusCode::ALREADY_EXISTS,
        "the built-in name is taken"
    );
}

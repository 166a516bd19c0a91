//! TLS (`tls://`): certificates made here with rcgen (never committed keys), a server
//! with and without client certificates, trust from a CA or from nothing (insecure), the
//! verified client identity in handlers' contexts, ALPN, handshakes that never finish,
//! and a certificate reloaded without a restart.
#![cfg(feature = "tls")]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{serve, within, GRACE};
use muxwire::{
    Client, Context, Options, Router, StatusCode, TlsClientConfig, TlsServerConfig, ALPN,
};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio::io::AsyncReadExt;

/// A certificate authority of the test's own.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        Ca {
            cert: p.self_signed(&key).unwrap(),
            key,
        }
    }

    fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A leaf certificate for `names` (DNS names or IP addresses) with common name `cn`,
    /// as (certificate PEM, key PEM).
    fn issue(
        &self,
        cn: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (Vec<u8>, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
    }

    fn server_cert(&self) -> (Vec<u8>, Vec<u8>) {
        self.issue(
            "test server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }
}

/// `whoami` answers the subject of the caller's certificate (or "nobody").
fn router() -> Router {
    Router::new()
        .unary("echo", |_ctx: Context, req: Bytes| async move { Ok(req) })
        .unary_sync("whoami", |ctx: &Context, _req: Bytes| {
            Ok(Bytes::from(match ctx.peer_identity() {
                Some(id) => format!("{} {:?}", id.subject, id.dns_names),
                None => "nobody".to_string(),
            }))
        })
}

async fn tls_server(config: TlsServerConfig) -> muxwire::Running {
    let mut opts = Options::default();
    opts.tls_server = Some(config);
    serve("tls://127.0.0.1:0", router(), opts).await
}

async fn tls_client(url: &str, config: TlsClientConfig) -> Result<Client, muxwire::Status> {
    let mut opts = Options::default();
    opts.tls_client = Some(config);
    opts.reconnect_base = Duration::from_millis(10);
    Client::connect_with(url, opts, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_travel_over_tls_to_a_server_the_client_trusts() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server_cert();
    let server = tls_server(TlsServerConfig::from_pem(&cert, &key).unwrap()).await;
    let url = server.local_endpoint().to_string();
    assert!(url.starts_with("tls://127.0.0.1:"), "{url}");
    let client = tls_client(&url, TlsClientConfig::from_ca_pem(&ca.pem()).unwrap())
        .await
        .unwrap();
    let big = Bytes::from(vec![7u8; 3 << 20]);
    assert_eq!(client.call("echo", big.clone()).await.unwrap(), big);
    assert_eq!(
        &client.call("whoami", Bytes::new()).await.unwrap()[..],
        b"nobody"
    );
    // The same server name by DNS: the certificate carries both.
    let by_name = url.replace("127.0.0.1", "localhost");
    let client2 = tls_client(&by_name, TlsClientConfig::from_ca_pem(&ca.pem()).unwrap())
        .await
        .unwrap();
    client2
        .call("echo", Bytes::from_static(b"hi"))
        .await
        .unwrap();
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_is_refused_with_the_reason() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server_cert();
    let server = tls_server(TlsServerConfig::from_pem(&cert, &key).unwrap()).await;
    let url = server.local_endpoint().to_string();
    let other = Ca::new("another CA");
    let err = tls_client(&url, TlsClientConfig::from_ca_pem(&other.pem()).unwrap())
        .await
        .err()
        .expect("an untrusted certificate fails the handshake");
    assert_eq!(err.code, StatusCode::UNAVAILABLE);
    assert!(err.message.contains("certificate"), "{}", err.message);
    // A name the certificate does not carry fails too.
    let err = tls_client(
        &url,
        TlsClientConfig::from_ca_pem(&ca.pem())
            .unwrap()
            .with_server_name("elsewhere.example"),
    )
    .await
    .err()
    .expect("a wrong name fails the handshake");
    assert!(err.message.contains("certificate"), "{}", err.message);
    // Trusting anything (tests only) connects, unauthenticated.
    let insecure = tls_client(
        &url,
        TlsClientConfig::danger_accept_any_server_certificate(),
    )
    .await
    .unwrap();
    insecure
        .call("echo", Bytes::from_static(b"x"))
        .await
        .unwrap();
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_hands_the_verified_client_to_handlers_and_refuses_clients_without_one() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server_cert();
    let clients_ca = Ca::new("clients CA");
    let config = TlsServerConfig::from_pem(&cert, &key)
        .unwrap()
        .require_client_certificates(&clients_ca.pem())
        .unwrap();
    let server = tls_server(config).await;
    let url = server.local_endpoint().to_string();
    let (ccert, ckey) = clients_ca.issue(
        "client-1",
        &["client-1.internal"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let with_cert = TlsClientConfig::from_ca_pem(&ca.pem())
        .unwrap()
        .with_client_certificate(&ccert, &ckey)
        .unwrap();
    let client = tls_client(&url, with_cert).await.unwrap();
    let who = client.call("whoami", Bytes::new()).await.unwrap();
    let who = String::from_utf8_lossy(&who);
    assert!(who.contains("CN=client-1"), "{who}");
    assert!(who.contains("client-1.internal"), "{who}");

    // No certificate, or one the server's client CA did not sign: no calls.
    let (stranger, skey) = ca.issue("stranger", &["x"], ExtendedKeyUsagePurpose::ClientAuth);
    for config in [
        TlsClientConfig::from_ca_pem(&ca.pem()).unwrap(),
        TlsClientConfig::from_ca_pem(&ca.pem())
            .unwrap()
            .with_client_certificate(&stranger, &skey)
            .unwrap(),
    ] {
        // TLS 1.3 reports a refused client certificate after the client's side of the
        // handshake is done: the connection then ends before the muxwire handshake.
        let refused = match tls_client(&url, config).await {
            Err(e) => e,
            Ok(c) => c.call("whoami", Bytes::new()).await.unwrap_err(),
        };
        assert_eq!(refused.code, StatusCode::UNAVAILABLE, "{refused}");
    }
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_finishes_its_handshake_holds_up_nobody_and_is_cut_at_the_timeout() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server_cert();
    let mut opts = Options::default();
    opts.tls_server = Some(TlsServerConfig::from_pem(&cert, &key).unwrap());
    opts.handshake_timeout = Duration::from_millis(300);
    let server = serve("tls://127.0.0.1:0", router(), opts).await;
    let url = server.local_endpoint().to_string();
    // Connects and says nothing: the accept loop must not wait for it.
    let mut silent = tokio::net::TcpStream::connect(url.trim_start_matches("tls://"))
        .await
        .unwrap();
    let client = tls_client(&url, TlsClientConfig::from_ca_pem(&ca.pem()).unwrap())
        .await
        .unwrap();
    client
        .call("echo", Bytes::from_static(b"hi"))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = within("the silent peer is cut", silent.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "the server closed the silent connection");
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_offers_only_muxwire_over_alpn() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server_cert();
    let server = tls_server(TlsServerConfig::from_pem(&cert, &key).unwrap()).await;
    let url = server.local_endpoint().to_string();
    assert_eq!(ALPN, b"muxwire/1");
    // A client that speaks only h2 is refused by the handshake itself.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            ca.cert.der().to_vec(),
        ))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("tls://"))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let r = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await;
    let Err(e) = r else {
        panic!("a client with no protocol in common connected")
    };
    assert!(e.to_string().to_lowercase().contains("protocol"), "{e}");
    server.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_serves_new_handshakes_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("muxwire-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let (cert, key) = old_ca.server_cert();
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let config = TlsServerConfig::from_pem_files(&cert_path, &key_path).unwrap();
    let server = tls_server(config.clone()).await;
    let url = server.local_endpoint().to_string();
    let trusts_new = || TlsClientConfig::from_ca_pem(&new_ca.pem()).unwrap();
    assert!(tls_client(&url, trusts_new()).await.is_err());

    // A broken file is refused and the old certificate stays.
    std::fs::write(&key_path, b"not a key").unwrap();
    let e = config.reload().unwrap_err();
    assert!(e.message.contains("key.pem"), "{}", e.message);
    let old = tls_client(&url, TlsClientConfig::from_ca_pem(&old_ca.pem()).unwrap())
        .await
        .unwrap();
    old.call("echo", Bytes::from_static(b"still"))
        .await
        .unwrap();

    let (cert, key) = new_ca.server_cert();
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    config.reload().unwrap();
    let client = tls_client(&url, trusts_new()).await.unwrap();
    client
        .call("echo", Bytes::from_static(b"new"))
        .await
        .unwrap();
    // The connection made before the reload goes on.
    old.call("echo", Bytes::from_static(b"old")).await.unwrap();
    server.shutdown(GRACE).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_settings_are_refused_with_what_is_wrong() {
    let e = TlsServerConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .unwrap_err();
    assert_eq!(e.code, StatusCode::INVALID_ARGUMENT);
    assert!(e.message.contains("/nonexistent/cert.pem"), "{}", e.message);
    let e = TlsClientConfig::from_ca_pem(b"hello").unwrap_err();
    assert!(e.message.contains("no CERTIFICATE"), "{}", e.message);
    let ca = Ca::new("test CA");
    let (cert, _) = ca.server_cert();
    let (_, other_key) = ca.server_cert();
    let e = TlsServerConfig::from_pem(&cert, &other_key).unwrap_err();
    assert!(e.message.contains("does not match"), "{}", e.message);
    // A tls:// server needs its certificate.
    let e = muxwire::Server::new(router(), Options::default())
        .bind("tls://127.0.0.1:0")
        .await
        .err()
        .expect("no certificate, no TLS server");
    assert!(e.message.contains("tls_server"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balanced_client_follows_a_name_to_tls_servers_and_checks_the_name() {
    let ca = Ca::new("test CA");
    let (cert, key) = ca.issue(
        "server",
        &["localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let server = tls_server(TlsServerConfig::from_pem(&cert, &key).unwrap()).await;
    let port = server
        .local_endpoint()
        .to_string()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let (ccert, ckey) = ca.issue("client", &["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let mut opts = Options::default();
    opts.tls_client = Some(
        TlsClientConfig::from_ca_pem(&ca.pem())
            .unwrap()
            .with_client_certificate(&ccert, &ckey)
            .unwrap(),
    );
    // localhost's addresses are endpoints; the certificate (for "localhost" only, not
    // 127.0.0.1) is checked against the name, not the address.
    let b = muxwire::Balanced::resolve(
        &format!("tls://localhost:{port}"),
        opts,
        muxwire::BalanceOptions::default(),
    )
    .await
    .unwrap();
    for _ in 0..5 {
        b.call("echo", Bytes::from_static(b"hi")).await.unwrap();
    }
    b.close().await;
    server.shutdown(GRACE).await;
}

//! `muxwire serve` and `muxwire call` over TLS: `--cert`/`--key` on both sides,
//! `--cacert` for trust (and, on a server, to require client certificates), `--insecure`
//! for tests, `-v` showing the frames inside the session. Certificates are made here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_muxwire"))
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in a
/// directory of this test's own.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("muxwire-cli-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "cli test CA");
        let ca = p.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (file, cn, sans, usage) in [
            (
                "server",
                "server",
                vec!["127.0.0.1".to_string()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                "client-7",
                vec!["client-7".to_string()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(sans).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = vec![usage];
            let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
            std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        }
        Pki { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Serving(Child, String);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str]) -> Serving {
    let mut child = bin()
        .args(["serve", "tls://127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("tls://"))
        .unwrap_or_else(|| panic!("no tls:// URL in the banner {banner:?}"))
        .to_string();
    Serving(child, url)
}

fn call(url: &str, args: &[&str]) -> Output {
    bin()
        .args(["call", url, "echo", "hi", "--connect-timeout-ms", "20000"])
        .args(args)
        .output()
        .unwrap()
}

fn exists(p: &str) -> &str {
    assert!(Path::new(p).exists(), "{p}");
    p
}

#[test]
fn a_call_crosses_mutual_tls_and_fails_without_the_client_certificate() {
    let pki = Pki::new("mutual");
    let (ca, cert, key) = (
        pki.file("ca.pem"),
        pki.file("server.pem"),
        pki.file("server.key"),
    );
    let server = serve(&["--cert", exists(&cert), "--key", &key, "--cacert", &ca]);
    let (ccert, ckey) = (pki.file("client.pem"), pki.file("client.key"));
    let out = call(
        &server.1,
        &["--cacert", &ca, "--cert", &ccert, "--key", &ckey],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");
    let refused = call(&server.1, &["--cacert", &ca]);
    assert_eq!(
        refused.status.code(),
        Some(64 + 14),
        "UNAVAILABLE without a client certificate: {}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn trust_comes_from_the_ca_given_never_from_nowhere_and_insecure_skips_it() {
    let pki = Pki::new("trust");
    let server = serve(&[
        "--cert",
        &pki.file("server.pem"),
        "--key",
        &pki.file("server.key"),
    ]);
    let trusted = call(&server.1, &["--cacert", &pki.file("ca.pem"), "-v"]);
    assert_eq!(trusted.status.code(), Some(0));
    let frames = String::from_utf8_lossy(&trusted.stderr);
    assert!(
        frames.contains("HELLO"),
        "-v shows the frames inside TLS: {frames}"
    );
    // The platform's roots do not know this test's CA.
    let untrusted = call(&server.1, &[]);
    assert_eq!(untrusted.status.code(), Some(64 + 14));
    let why = String::from_utf8_lossy(&untrusted.stderr);
    assert!(why.contains("certificate"), "{why}");
    let insecure = call(&server.1, &["--insecure"]);
    assert_eq!(insecure.status.code(), Some(0));
}

#[test]
fn unusable_tls_files_fail_with_the_file_named() {
    let out = bin()
        .args([
            "serve",
            "tls://127.0.0.1:0",
            "--cert",
            "/nonexistent/c.pem",
            "--key",
            "/nonexistent/k.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/c.pem"));
    let out = call("tls://127.0.0.1:9", &["--cacert", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ca.pem"));
    // A tls:// server needs its certificate.
    let out = bin().args(["serve", "tls://127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate"));
}

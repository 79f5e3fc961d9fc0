//! The HTTPS listener: a real TLS handshake with a throwaway certificate, HSTS, the `__Host-`
//! secure session cookie, and the header read timeout on TLS connections. Needs the `openssl`
//! command to make the certificate.

use std::sync::Arc;

use crate::common::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A TLS connection to the server, the handshake done.
async fn connect(
    addr: std::net::SocketAddr,
    roots: &rustls::RootCertStore,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
}

/// Sends one HTTP/1.1 request over TLS and returns the whole response as text.
async fn https(addr: std::net::SocketAddr, roots: &rustls::RootCertStore, request: &str) -> String {
    let mut tls = connect(addr, roots).await;
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out).await;
    out
}

/// A throwaway certificate for `localhost` in `dir` (certificate and key paths); `None`, with the
/// test reported skipped, without the `openssl` command.
fn certificate(dir: &std::path::Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        moon_testkit::skip::skip(
            "the TLS test",
            &format!("the openssl command could not make a test certificate ({made:?})"),
            "To run it, install openssl",
        );
        return None;
    }
    Some((cert, key))
}

fn roots(cert: &std::path::Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_speaks_tls_with_hsts_and_secure_cookies() {
    let dir = std::env::temp_dir().join(format!("moon-tls-{}", std::process::id()));
    let Some((cert, key)) = certificate(&dir) else { return };
    let files = moon_http::tls::TlsFiles { cert: cert.clone(), key: key.clone() };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.security.tls = Some(files);
        c.security.sessions.secure_cookies = true;
    })
    .await
    .unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let roots = roots(&cert);

    let res = https(addr, &roots, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(res.to_lowercase().contains("strict-transport-security: max-age="), "HSTS under TLS: {res}");

    let (_, name, password) = app.user("analyst", None).await;
    let body = serde_json::json!({"username": name, "password": password}).to_string();
    let req = format!(
        "POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let res = https(addr, &roots, &req).await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    let cookie = res.lines().find(|l| l.to_lowercase().starts_with("set-cookie:")).unwrap();
    assert!(cookie.contains("__Host-moon_session=") && cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no answer from the API.
    let plain = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 3 over TLS: a client that finishes the handshake but never the headers of its request
/// is closed once the header read timeout (1 s here) runs out, as on plain TCP; a complete
/// request on a TLS connection is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_that_never_finish_their_headers_are_closed() {
    let dir = std::env::temp_dir().join(format!("moon-tls-slow-{}", std::process::id()));
    let Some((cert, key)) = certificate(&dir) else { return };
    let files = moon_http::tls::TlsFiles { cert: cert.clone(), key };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.security.tls = Some(files);
        c.connections.header_read_timeout = std::time::Duration::from_secs(1);
    })
    .await
    .unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let roots = roots(&cert);

    let mut partial = connect(addr, &roots).await;
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(8), partial.read_to_end(&mut buf)).await;
    let after = started.elapsed();
    let text = String::from_utf8_lossy(&buf);
    assert!(read.is_ok(), "a TLS connection with unfinished headers is still open after 8 s");
    assert!(after >= std::time::Duration::from_millis(900), "closed too early ({after:?}): {text}");
    assert!(after < std::time::Duration::from_secs(4), "closed late ({after:?})");
    assert!(!text.contains("200 OK"), "{text}");

    let res = https(addr, &roots, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

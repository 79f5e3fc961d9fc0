//! The HTTPS listener: a real TLS handshake with a throwaway certificate, HSTS, and the
//! `__Host-` secure session cookie. Needs the `openssl` command to make the certificate.

use std::sync::Arc;

use crate::common::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// Sends one HTTP/1.1 request over TLS and returns the whole response as text.
async fn https(addr: std::net::SocketAddr, roots: &rustls::RootCertStore, request: &str) -> String {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_speaks_tls_with_hsts_and_secure_cookies() {
    let dir = std::env::temp_dir().join(format!("moon-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
        return;
    }
    let files = moon_http::tls::TlsFiles { cert: cert.clone(), key: key.clone() };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.security.tls = Some(files);
        c.security.sessions.secure_cookies = true;
    })
    .await
    .unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }

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

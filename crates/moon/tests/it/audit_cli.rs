//! `moon audit verify` on the real binary: passes on an intact trail, exits 1 and names the
//! entry after one is edited behind the application's back.

use std::process::Command;

use moon_db::sqlx::{self, Connection};

fn moon(dir: &std::path::Path, db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_moon"))
        .args(args)
        .current_dir(dir)
        .env_remove("MOON_CONFIG")
        .env("MOON_DATABASE_URL", db)
        .output()
        .unwrap()
}

#[tokio::test]
async fn verify_passes_then_names_the_edited_entry() {
    let dir = std::env::temp_dir().join(format!("moon-audit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/moon.db", dir.display());
    assert!(moon(&dir, &db, &["demo"]).status.success(), "the demo loads");

    let ok = moon(&dir, &db, &["audit", "verify"]);
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{err}");
    assert!(err.contains("audit trail intact"), "{err}");

    let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
    sqlx::query("UPDATE audit_log SET changes = '{}' WHERE id = 7").execute(&mut c).await.unwrap();
    drop(c);
    let bad = moon(&dir, &db, &["audit", "verify"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("audit entry 7"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

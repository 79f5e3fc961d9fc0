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

/// `moon audit checkpoint` prints and writes a signed line; `verify --checkpoint` passes on the
/// same trail and exits 1 once the tail is cut off with the sequence row lowered to match,
/// which plain `verify` cannot see. Without a key, both refuse to run.
#[tokio::test]
async fn a_checkpoint_catches_a_tail_cut_with_its_sequence() {
    let dir = std::env::temp_dir().join(format!("moon-audit-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/moon.db", dir.display());
    assert!(moon(&dir, &db, &["demo"]).status.success(), "the demo loads");
    let key = dir.join("checkpoint.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef-kept-off-the-db\n").unwrap();
    let key = key.to_str().unwrap();
    let file = dir.join("checkpoint.txt");
    let file = file.to_str().unwrap();

    let no_key = moon(&dir, &db, &["audit", "checkpoint"]);
    assert!(!no_key.status.success());
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("MOON_AUDIT_CHECKPOINT_KEY"));

    let taken = moon(&dir, &db, &["audit", "checkpoint", "--key-file", key, "--out", file]);
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    let line = String::from_utf8_lossy(&taken.stdout).trim().to_owned();
    assert!(line.starts_with("moon-audit-checkpoint/v1 last_id=") && line.contains(" hmac="), "{line}");
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), line);
    let ok = moon(&dir, &db, &["audit", "verify", "--checkpoint", file, "--key-file", key]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let last: i64 = line.split("last_id=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let mut c = sqlx::SqliteConnection::connect(&db).await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE id >= ?").bind(last - 2).execute(&mut c).await.unwrap();
    sqlx::query("UPDATE change_sequence SET last_id = ? WHERE name = 'audit_log'")
        .bind(last - 3)
        .execute(&mut c)
        .await
        .unwrap();
    drop(c);
    assert!(moon(&dir, &db, &["audit", "verify"]).status.success(), "plain verify cannot see this");
    let bad = moon(&dir, &db, &["audit", "verify", "--checkpoint", file, "--key-file", key]);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains(&format!("audit entry {last}")) && out.contains("cut short"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! `moon user ...`, `moon token ...`, `moon org ...` and `moon commission-plans ...` as an operator
//! runs them: against a fresh SQLite file, secrets printed once on stdout, everything else on stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Cli {
    dir: std::path::PathBuf,
}

impl Cli {
    fn new() -> Cli {
        // Tests run in parallel threads: a counter keeps their databases apart.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("moon-cli-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Cli { dir }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moon"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("MOON_CONFIG")
            .env("MOON_DATABASE_URL", format!("sqlite://{}/moon.db", self.dir.display()))
            .env("MOON_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> (String, String) {
        let out = self.run(args, stdin);
        let (so, se) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
        assert!(out.status.success(), "moon {args:?} failed:\n{se}");
        (so, se)
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn operators_manage_users_and_tokens_from_the_command_line() {
    let cli = Cli::new();
    let (password, err) = cli.ok(&["user", "add", "boss", "--role", "admin"], None);
    assert!(err.contains("created user boss"), "{err}");
    assert_eq!(password.trim().len(), 24, "a generated password is printed once: {password:?}");

    // A manager's branch must be one of the organisation's: refused, with the known ones
    // listed, until it exists.
    let unknown = cli.run(&["user", "add", "ann", "--role", "manager", "--branch", "Galle"], None);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("--branch") && err.contains("no branch \"Galle\""), "{err}");
    cli.ok(&["org", "add", "branch", "Galle"], None);
    let (out, _) = cli.ok(
        &["user", "add", "ann", "--role", "manager", "--branch", "galle", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert!(out.is_empty(), "a password read from stdin is not echoed");
    let bad = cli.run(&["user", "add", "bob", "--role", "manager"], None);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("branch"));
    let short = cli.run(&["user", "add", "cy", "--role", "analyst", "--password-stdin"], Some("short\n"));
    assert!(!short.status.success(), "the password policy applies to the CLI too");

    let (list, _) = cli.ok(&["user", "list"], None);
    assert!(list.contains("boss") && list.contains("ann") && list.contains("Galle"), "{list}");
    assert!(!list.contains("argon2"));

    let (token, _) = cli.ok(&["token", "create", "boss", "--name", "ci", "--expires-days", "7"], None);
    let token = token.trim();
    assert!(token.starts_with("moon_") && token.len() > 40, "{token}");
    let (tokens, _) = cli.ok(&["token", "list"], None);
    assert!(tokens.contains("ci") && tokens.contains(&token[..12]) && !tokens.contains(token), "{tokens}");

    cli.ok(&["user", "set-role", "ann", "--role", "agent", "--agent-code", "AGT007"], None);
    cli.ok(&["user", "disable", "ann"], None);
    let (new_password, _) = cli.ok(&["user", "set-password", "boss"], None);
    assert_ne!(new_password.trim(), password.trim());
    cli.ok(&["token", "revoke", "1"], None);
    let (list, _) = cli.ok(&["user", "list"], None);
    let ann = list.lines().find(|l| l.contains("ann")).unwrap();
    assert!(ann.contains("agent") && ann.contains("AGT007") && ann.contains("true"), "{ann}");
    let (tokens, _) = cli.ok(&["token", "list", "--user", "boss"], None);
    assert!(tokens.lines().nth(1).unwrap().trim_end().ends_with("true"), "revoked: {tokens}");
}

#[test]
fn operators_manage_the_organisation_from_the_command_line() {
    let cli = Cli::new();
    cli.ok(&["demo"], None);
    let (out, _) = cli.ok(&["org", "add", "branch", "Negombo", "--region", "western"], None);
    assert!(out.contains("created branch \"Negombo\""), "{out}");
    let (out, _) = cli.ok(&["org", "rename", "branch", "negombo", "Negombo City"], None);
    assert!(out.contains("\"Negombo\" is now named \"Negombo City\""), "{out}");
    let (list, _) = cli.ok(&["org", "list", "branches"], None);
    assert!(list.contains("Negombo City") && list.contains("Western") && list.contains("Colombo"), "{list}");
    let bad = cli.run(&["org", "add", "branch", "negombo"], None);
    assert!(!bad.status.success(), "a second branch with the same code in another case");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("already exists"));

    let (history, _) =
        cli.ok(&["org", "move", "AGT001", "--team", "Beta", "--branch", "Negombo", "--from", "2026-07-01"], None);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(lines[0].contains("start") && lines[0].contains("2026-07-01") && lines[0].contains("Alpha"), "{history}");
    assert!(lines[1].contains("Negombo") && lines[1].contains("Beta"), "{history}");
    let (report, _) = cli.ok(&["org", "backfill"], None);
    assert!(report.contains("nothing to do"), "the demo's agents were placed when they were created: {report}");
}

#[test]
fn operators_manage_commission_plans_from_the_command_line() {
    let cli = Cli::new();
    cli.ok(&["demo"], None);
    let (list, _) = cli.ok(&["commission-plans", "list"], None);
    assert_eq!(list.lines().count(), 3, "the demo's three plans: {list}");
    assert!(list.contains("Life agents") && list.contains("line Life") && list.contains("2 version(s)"), "{list}");

    let body = r#"{"name":"Health agents","role":"agent","product_line":"Health","effective_from":"2026-01-01",
        "rules":{"base_rate":"4","tiers":[{"from_percent":100,"multiplier":"1.25"}]}}"#;
    let (out, _) = cli.ok(&["commission-plans", "add", "--json", body], None);
    assert!(out.contains("Health agents") && out.contains("1 version(s), version 1 in force"), "{out}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (out, _) = cli.ok(
        &[
            "commission-plans",
            "add",
            "--plan",
            &id,
            "--json",
            r#"{"effective_from":"2099-01-01","rules":{"base_rate":"4.5"}}"#,
        ],
        None,
    );
    assert!(out.contains("2 version(s), version 1 in force"), "a future version is not yet in force: {out}");
    cli.ok(
        &["commission-plans", "add", "--plan", &id, "--retire", "--json", r#"{"effective_from":"2100-01-01"}"#],
        None,
    );
    let (shown, _) = cli.ok(&["commission-plans", "show", &id], None);
    let plan: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let statuses: Vec<&str> =
        plan["versions"].as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "active", "retired"], "{shown}");
    assert_eq!(plan["versions"][0]["rules"]["tiers"][0]["multiplier"], "1.25");
    assert_eq!(plan["versions"][0]["created_by"], "operator");

    // Validated as the API does: every bad field named, nothing written, exit 1.
    let bad = cli.run(
        &[
            "commission-plans",
            "add",
            "--json",
            r#"{"name":"x","role":"boss","effective_from":"2026-02-30","rules":{"base_rate":-1}}"#,
        ],
        None,
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    for field in ["role", "effective_from", "rules.base_rate"] {
        assert!(err.contains(&format!("{field}: ")), "{field} is named: {err}");
    }
    let (list, _) = cli.ok(&["commission-plans", "list", "--json"], None);
    let plans: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(plans.as_array().unwrap().len(), 4, "{list}");
}

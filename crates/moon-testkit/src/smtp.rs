//! A real SMTP server on loopback that records what it receives, for tests of the e-mail channel.
//!
//! It speaks just enough of RFC 5321 for a client such as lettre to deliver a message (EHLO/HELO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), without TLS or AUTH, and keeps each
//! message's envelope and raw data in memory. It runs on the test's own tokio runtime and stops
//! when dropped, so a test needs nothing installed beside cargo. (An embeddable server crate was
//! considered: the one that fits serves from a blocking thread pool it cannot stop and always
//! builds rustls with its default features, which would change the TLS build the other tests use.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// One message as the sink received it.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`), without angle brackets; empty for the null sender.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in order.
    pub to: Vec<String>,
    /// What followed `DATA` (headers and body), dot-unstuffed, each line ending in CRLF, without
    /// the terminating `.` line.
    pub data: Vec<u8>,
}

impl Mail {
    /// The data as text, for assertions (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail").field("from", &self.from).field("to", &self.to).field("data", &self.text()).finish()
    }
}

/// A running SMTP server on `127.0.0.1` and an ephemeral port; stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    received: watch::Receiver<Vec<Mail>>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink, listening before this returns (a client may connect at once).
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink on loopback");
        let addr = listener.local_addr().expect("the SMTP sink's address");
        let (record, received) = watch::channel(Vec::new());
        let server = tokio::spawn(serve(listener, Arc::new(record)));
        SmtpSink { addr, received, server }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The messages received so far, in the order their data ended.
    pub fn messages(&self) -> Vec<Mail> {
        self.received.borrow().clone()
    }

    /// Waits until at least `n` messages have arrived and returns all of them.
    ///
    /// # Panics
    ///
    /// When fewer than `n` have arrived within `limit`.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Mail> {
        let mut received = self.received.clone();
        let arrived =
            tokio::time::timeout(limit, async { received.wait_for(|m| m.len() >= n).await.map(|m| m.clone()) }).await;
        match arrived {
            Ok(Ok(mail)) => mail,
            _ => panic!("expected {n} messages at the SMTP sink within {limit:?}, have {:?}", self.messages()),
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open session.
        self.server.abort();
    }
}

/// Accepts connections and runs a session for each until aborted.
async fn serve(listener: TcpListener, record: Arc<watch::Sender<Vec<Mail>>>) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    sessions.spawn(session(stream, record.clone()));
                }
            }
            // Reap finished sessions so the set does not grow with every connection.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

/// The envelope of the transaction in progress.
#[derive(Default)]
struct Envelope {
    from: String,
    to: Vec<String>,
}

/// The address of a `MAIL FROM:<a>` / `RCPT TO:<a>` argument after `keyword` (`FROM:`, `TO:`),
/// ignoring ESMTP parameters such as `BODY=8BITMIME`; `None` when malformed.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    match rest.strip_prefix('<') {
        Some(inside) => inside.split_once('>').map(|(a, _)| a.to_owned()),
        None => rest.split_whitespace().next().map(str::to_owned),
    }
}

/// A line without its line ending (CRLF, or a bare LF from a sloppy client).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One SMTP session, until QUIT or the client goes away.
async fn session(stream: TcpStream, record: Arc<watch::Sender<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 moon-testkit ESMTP sink\r\n").await?;
    let mut envelope: Option<Envelope> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(trim_eol(&line)).into_owned();
        let (verb, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                envelope = None;
                b"250-moon-testkit\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            }
            "HELO" => {
                envelope = None;
                b"250 moon-testkit\r\n"
            }
            "MAIL" if envelope.is_some() => b"503 5.5.1 MAIL already given\r\n",
            "MAIL" => match path(arg, "FROM:") {
                Some(from) => {
                    envelope = Some(Envelope { from, to: Vec::new() });
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&mut envelope, path(arg, "TO:")) {
                (None, _) => b"503 5.5.1 MAIL first\r\n",
                (Some(_), None) => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
                (Some(e), Some(to)) => {
                    e.to.push(to);
                    b"250 2.1.5 OK\r\n"
                }
            },
            "DATA" => match envelope.take() {
                Some(e) if !e.to.is_empty() => {
                    write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                    let Some(data) = read_data(&mut read).await? else { return Ok(()) };
                    // Recorded before the reply: once a client has its 250, the test sees the
                    // message.
                    record.send_modify(|m| m.push(Mail { from: e.from, to: e.to, data }));
                    b"250 2.0.0 OK: queued\r\n"
                }
                kept => {
                    envelope = kept;
                    b"503 5.5.1 RCPT first\r\n"
                }
            },
            "RSET" => {
                envelope = None;
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads message data up to the lone `.` line, undoing dot-stuffing (a leading `.` doubled by
/// the client); `None` when the client goes away first.
async fn read_data(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let content = trim_eol(&line);
        if content == b"." {
            return Ok(Some(data));
        }
        data.extend_from_slice(content.strip_prefix(b".").unwrap_or(content));
        data.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends one line and returns the whole reply (all its lines).
    struct Client {
        read: BufReader<tokio::net::tcp::OwnedReadHalf>,
        write: tokio::net::tcp::OwnedWriteHalf,
    }

    impl Client {
        async fn connect(sink: &SmtpSink) -> (Client, String) {
            let (read, write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
            let mut c = Client { read: BufReader::new(read), write };
            let greeting = c.reply().await;
            (c, greeting)
        }

        async fn reply(&mut self) -> String {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                self.read.read_line(&mut line).await.unwrap();
                all.push_str(&line);
                // "250-..." continues, "250 ..." ends a reply.
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        }

        async fn send(&mut self, line: &str) -> String {
            self.write.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
            self.reply().await
        }
    }

    #[tokio::test]
    async fn a_message_is_recorded_with_its_envelope_and_unstuffed_data() {
        let sink = SmtpSink::start().await;
        let (mut c, greeting) = Client::connect(&sink).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        let ehlo = c.send("EHLO client.test").await;
        assert!(ehlo.starts_with("250-") && ehlo.contains("8BITMIME"), "{ehlo}");
        assert!(c.send("MAIL FROM:<noreply@moon.test> BODY=8BITMIME").await.starts_with("250 "));
        assert!(c.send("rcpt to:<nimal@moon.test>").await.starts_with("250 "));
        assert!(c.send("RCPT TO: <ruwan@moon.test>").await.starts_with("250 "));
        assert!(c.send("DATA").await.starts_with("354 "));
        let done = c.send("Subject: hi\r\n\r\nline one\r\n..starts with a dot\r\n.").await;
        assert!(done.starts_with("250 "), "{done}");
        assert!(c.send("QUIT").await.starts_with("221 "));
        let mail = sink.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(
            mail,
            [Mail {
                from: String::from("noreply@moon.test"),
                to: vec![String::from("nimal@moon.test"), String::from("ruwan@moon.test")],
                data: b"Subject: hi\r\n\r\nline one\r\n.starts with a dot\r\n".to_vec(),
            }]
        );
    }

    #[tokio::test]
    async fn commands_out_of_order_are_refused_and_rset_forgets_the_envelope() {
        let sink = SmtpSink::start().await;
        let (mut c, _) = Client::connect(&sink).await;
        assert!(c.send("HELO client.test").await.starts_with("250 "));
        assert!(c.send("NOOP").await.starts_with("250 "));
        assert!(c.send("RCPT TO:<a@moon.test>").await.starts_with("503 "), "RCPT before MAIL");
        assert!(c.send("DATA").await.starts_with("503 "), "DATA before MAIL");
        assert!(c.send("MAIL FROM:<>").await.starts_with("250 "), "the null sender");
        assert!(c.send("MAIL FROM:<b@moon.test>").await.starts_with("503 "), "nested MAIL");
        assert!(c.send("DATA").await.starts_with("503 "), "DATA before RCPT");
        assert!(c.send("RCPT TO:<a@moon.test>").await.starts_with("250 "), "DATA refused keeps the envelope");
        assert!(c.send("RCPT nonsense").await.starts_with("501 "));
        assert!(c.send("RSET").await.starts_with("250 "));
        assert!(c.send("DATA").await.starts_with("503 "), "RSET forgot the envelope");
        assert!(c.send("VRFY a@moon.test").await.starts_with("502 "));
        // A second transaction on the same connection, and the null sender recorded as empty.
        assert!(c.send("MAIL FROM:<>").await.starts_with("250 "));
        assert!(c.send("RCPT TO:<a@moon.test>").await.starts_with("250 "));
        assert!(c.send("DATA").await.starts_with("354 "));
        assert!(c.send("x\r\n.").await.starts_with("250 "));
        let mail = sink.messages();
        assert_eq!((mail.len(), mail[0].from.as_str(), mail[0].text()), (1, "", String::from("x\r\n")));
    }
}

//! A fault-injecting HTTP proxy on a loopback port, in front of a test
//! registry: each request is forwarded (one connection per request, both
//! sides closed after it) unless a rule names it, and then it meets the
//! rule's fault. Every request is logged with what it met, so a test can
//! tell that a fault happened and how often the client asked again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded untouched (a rule that only counts, or lets some through).
    Pass,
    /// Answers with this status (and a registry-style JSON error body)
    /// without asking the registry.
    Status(u16),
    /// Forwards the request, then closes the connection without an answer
    /// (the registry did the work; the client cannot know).
    Reset,
    /// Forwards, then sends the headers and half the body.
    Truncate,
    /// Forwards, then sends the whole body with its last byte changed.
    CorruptBody,
    /// Waits this long before forwarding (past the client's timeout).
    Stall(Duration),
    /// `401` with a Basic challenge, as a registry whose login expired.
    Unauthorized,
}

struct Rule {
    method: &'static str,
    path_contains: String,
    remaining: usize,
    fault: Fault,
}

pub struct FaultProxy {
    /// `127.0.0.1:PORT`
    pub host: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<String>>>,
}

/// For `times`: the rule never runs out.
pub const ALWAYS: usize = usize::MAX;

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let host = listener.local_addr().unwrap().to_string();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, l, up) = (rules.clone(), log.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (r, l, up) = (r.clone(), l.clone(), up.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &up, &r, &l);
                });
            }
        });
        FaultProxy { host, rules, log }
    }

    /// The next `times` requests with `method` whose path contains
    /// `path_contains` meet `fault`; rules are matched in the order given.
    pub fn fault(&self, method: &'static str, path_contains: &str, times: usize, fault: Fault) {
        self.rules.lock().unwrap().push(Rule { method, path_contains: path_contains.to_owned(), remaining: times, fault });
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// `METHOD PATH -> what happened`, one per request, in arrival order.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log's lines that contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    /// An auth file (docker's config.json shape) for this proxy's host.
    pub fn auth_file(&self, dir: &std::path::Path, user: &str, password: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let path = dir.join("proxy-auth.json");
        std::fs::write(&path, format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.host)).unwrap();
        path
    }
}

fn serve(client: TcpStream, upstream: &str, rules: &Mutex<Vec<Rule>>, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            headers.push(line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let fault = {
        let mut rules = rules.lock().unwrap();
        rules.iter_mut().find(|r| r.remaining > 0 && r.method == method && path.contains(&r.path_contains)).map(|r| {
            r.remaining = r.remaining.saturating_sub(if r.remaining == ALWAYS { 0 } else { 1 });
            r.fault
        })
    };
    let path_only = path.split('?').next().unwrap_or("").to_owned();
    log.lock().unwrap().push(format!("{method} {path_only} -> {}", fault.map(|f| format!("{f:?}")).unwrap_or_else(|| "forwarded".into())));
    let mut client = client;
    match fault {
        Some(Fault::Status(status)) => {
            let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"injected by the test proxy"}]}"#;
            write!(client, "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
            return Ok(());
        }
        Some(Fault::Unauthorized) => {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            write!(client, "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"buildspec-test\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
            return Ok(());
        }
        Some(Fault::Stall(pause)) => std::thread::sleep(pause),
        _ => {}
    }
    // HTTP/1.0 upstream: the registry answers without chunks and closes.
    let mut up = TcpStream::connect(upstream)?;
    let mut request = format!("{method} {path} HTTP/1.0\r\n").into_bytes();
    for h in &headers {
        request.extend_from_slice(h.as_bytes());
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    request.extend_from_slice(&body);
    up.write_all(&request)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(response.len());
    let (head, mut payload) = (response[..split].to_vec(), response[split..].to_vec());
    match fault {
        Some(Fault::Reset) => return Ok(()),
        Some(Fault::Truncate) => payload.truncate(payload.len() / 2),
        Some(Fault::CorruptBody) => {
            if let Some(last) = payload.last_mut() {
                *last ^= 0xff;
            }
        }
        _ => {}
    }
    client.write_all(&head)?;
    client.write_all(&payload)?;
    client.flush()?;
    client.shutdown(std::net::Shutdown::Both)
}

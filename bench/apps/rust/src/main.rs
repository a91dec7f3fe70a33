//! greeter: a tiny HTTP server (std::net + httparse + itoa + serde_json).
//! `greeter --once` prints the greeting and exits; `greeter --health` exits 0.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

const GREETING: &str = "hello from the rust greeter";

static HITS: AtomicU64 = AtomicU64::new(0);

/// The body for a request path, or None for a 404.
fn body_for(path: &str, hits: u64) -> Option<String> {
    match path {
        "/" => {
            let mut buf = itoa::Buffer::new();
            Some(format!("{GREETING} (request #{})\n", buf.format(hits)))
        }
        "/health" => Some("ok\n".to_string()),
        "/version" => Some(
            serde_json::json!({"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")})
                .to_string(),
        ),
        _ => None,
    }
}

fn handle(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let path = match req.parse(&buf[..n]) {
        Ok(httparse::Status::Complete(_)) => {
            let target = req.path.unwrap_or("/");
            target.split('?').next().unwrap_or("/").to_string()
        }
        _ => return stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
    };
    let hits = HITS.fetch_add(1, Ordering::Relaxed) + 1;
    let (status, body) = match body_for(&path, hits) {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", "not found\n".to_string()),
    };
    let mut len = itoa::Buffer::new();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        len.format(body.len())
    )
}

fn main() -> std::io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("--once") => {
            print!("{}", body_for("/", 1).unwrap());
            return Ok(());
        }
        Some("--health") => return Ok(()),
        _ => {}
    }
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "0.0.0.0:8080".to_string());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("listening on {addr}");
    for stream in listener.incoming() {
        if let Err(e) = stream.and_then(handle) {
            eprintln!("request failed: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_counts_requests() {
        assert_eq!(body_for("/", 42).unwrap(), format!("{GREETING} (request #42)\n"));
    }

    #[test]
    fn version_is_json() {
        let v: serde_json::Value = serde_json::from_str(&body_for("/version", 1).unwrap()).unwrap();
        assert_eq!(v["name"], "greeter");
    }

    #[test]
    fn unknown_path_is_404() {
        assert!(body_for("/nope", 1).is_none());
    }
}

//! A tiny HTTP service on the standard library: `api --health` checks it,
//! `api --once` prints the response body and exits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn body() -> &'static str {
    "hello from api\n"
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--once") {
        print!("{}", body());
        return;
    }
    if args.iter().any(|a| a == "--health") {
        let ok = TcpStream::connect("127.0.0.1:8080").is_ok();
        std::process::exit(if ok { 0 } else { 1 });
    }
    let listener = TcpListener::bind("0.0.0.0:8080").expect("bind :8080");
    for stream in listener.incoming().flatten() {
        handle(stream);
    }
}

fn handle(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    let _ = stream.read(&mut buf);
    let body = body();
    let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{}", body.len(), body);
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_greets() {
        assert!(super::body().starts_with("hello"));
    }
}

//! Registry responses → `oci::registry::pull`: never a panic or a hang,
//! and the store only ever holds blobs that match their names, whatever a
//! registry answers. A loopback server (started once) answers the pull's
//! requests from the input, split at 0xff bytes:
//!
//! 1. a mode byte: bit 0 sends the manifest's answer raw (part 5 is the
//!    whole HTTP response), bit 1 answers blobs with `401` and a challenge
//!    whose realm is this server, bit 2 chunks the bodies, bit 3 cuts each
//!    body short by the next byte's value, bit 4 sends no Content-Type;
//! 2. the manifest (or index) body, in which `@C` and `@L` become the
//!    digests of parts 3 and 4 and `@M` the digest of part 6;
//! 3. the config; 4. a layer; 5. a raw response; 6. a second manifest,
//!    served for `@M` (an index's pick), with the same marks.
//!
//! `FUZZ_DEBUG=1` prints what each pull came to (to check that the seeds
//! reach a whole pull).
#![no_main]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn substitute(doc: &[u8], marks: &[(&str, &str)]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(doc).into_owned();
    for (mark, value) in marks {
        text = text.replace(mark, value);
    }
    text.into_bytes()
}

#[derive(Default)]
struct Script {
    mode: u8,
    cut: usize,
    manifest: Vec<u8>,
    second: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
    raw: Vec<u8>,
}

static SCRIPT: Mutex<Option<Script>> = Mutex::new(None);

fn answer(path: &str, port: u16) -> Vec<u8> {
    let guard = SCRIPT.lock().unwrap();
    let Some(s) = guard.as_ref() else { return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec() };
    let (status, body): (&str, Vec<u8>) = if path.starts_with("/token") {
        ("200 OK", s.raw.clone())
    } else if path.contains("/manifests/") {
        if s.mode & 1 != 0 {
            return s.raw.clone();
        }
        let second = digest(&s.second);
        if path.ends_with(&second) { ("200 OK", s.second.clone()) } else { ("200 OK", s.manifest.clone()) }
    } else if path.contains("/blobs/") {
        if s.mode & 2 != 0 {
            let challenge = format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fuzz\"\r\n");
            return format!("HTTP/1.1 401 Unauthorized\r\n{challenge}Content-Length: 0\r\n\r\n").into_bytes();
        }
        if path.ends_with(&digest(&s.config)) {
            ("200 OK", s.config.clone())
        } else if path.ends_with(&digest(&s.layer)) {
            ("200 OK", s.layer.clone())
        } else {
            ("404 Not Found", Vec::new())
        }
    } else {
        ("404 Not Found", Vec::new())
    };
    let mut head = format!("HTTP/1.1 {status}\r\n");
    if s.mode & 16 == 0 {
        head.push_str("Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    }
    let mut out;
    if s.mode & 4 != 0 {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        out = head.into_bytes();
        for chunk in body.chunks(7) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        out = head.into_bytes();
        out.extend_from_slice(&body);
    }
    if s.mode & 8 != 0 {
        out.truncate(out.len().saturating_sub(s.cut));
    }
    out
}

/// `bytes` with every `Location` header name (any case) spoiled.
fn without_location(mut bytes: Vec<u8>) -> Vec<u8> {
    let needle = b"location";
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if bytes[i..i + needle.len()].eq_ignore_ascii_case(needle) {
            bytes[i] = b'x';
        }
        i += 1;
    }
    bytes
}

/// The loopback server's port, started on first use.
fn server() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        // SAFETY: set once, before any thread of ours reads them.
        unsafe {
            std::env::set_var("BUILDSPEC_REGISTRY_RETRIES", "0");
            std::env::set_var("BUILDSPEC_REGISTRY_TIMEOUT", "2");
            std::env::set_var("REGISTRY_AUTH_FILE", "/nonexistent");
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if header.trim().is_empty() => break,
                        Ok(_) => {}
                    }
                }
                let _ = stream.write_all(&answer(&path, port));
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        port
    })
}

fuzz_target!(|data: &[u8]| {
    let port = server();
    let mut parts = data.split(|&b| b == 0xff);
    let head = parts.next().unwrap_or(b"");
    let mut part = || parts.next().unwrap_or(b"").to_vec();
    let (manifest, config, layer, raw, second) = (part(), part(), part(), part(), part());
    // No redirect may lead the pull off the loopback server.
    let raw = without_location(raw);
    let marks = |doc: &[u8], second: &str| substitute(doc, &[("@C", &digest(&config)), ("@L", &digest(&layer)), ("@M", second)]);
    let second = marks(&second, "");
    let manifest = marks(&manifest, &digest(&second));
    *SCRIPT.lock().unwrap() = Some(Script {
        mode: head.first().copied().unwrap_or(0),
        cut: head.get(1).copied().unwrap_or(0) as usize,
        manifest,
        second,
        config,
        layer,
        raw,
    });
    let dir = tempfile::tempdir().unwrap();
    let store = buildspec::oci::store::Store::open(dir.path()).unwrap();
    let reference = buildspec::oci::registry::Reference::parse(&format!("127.0.0.1:{port}/fuzz/app:1")).unwrap();
    let pulled = buildspec::oci::registry::pull(&reference, &store, "amd64");
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("pull: {:?}", pulled.map(|image| image.layers.len()));
    }
    // Whatever was answered, the store holds only the blobs asked for
    // (the config and the layer, served whole), each true to its name.
    let script = SCRIPT.lock().unwrap().take().unwrap();
    let asked = [digest(&script.config), digest(&script.layer)];
    for entry in std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("sha256:{}", path.file_name().unwrap().to_string_lossy());
        assert_eq!(digest(&std::fs::read(&path).unwrap()), name, "the store kept a blob that does not match its name");
        assert!(asked.contains(&name), "the store kept {name}, which was never served whole under that name");
    }
});

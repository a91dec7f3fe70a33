//! Image JSON (index, manifest, config) → an image read from an OCI
//! layout: never a panic, whatever the documents say. The input is split
//! at 0xff bytes into an index, a manifest, a config and a layer; the
//! harness stores each as a blob and writes `@M`, `@C` and `@L` in the
//! documents as the digests of the manifest, config and layer, so the
//! fuzzer can reach past the digest checks.
#![no_main]

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

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xff);
    let (index, manifest, config, layer) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""), parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let (config_digest, layer_digest) = (digest(config), digest(layer));
    let manifest = substitute(manifest, &[("@C", &config_digest), ("@L", &layer_digest)]);
    let manifest_digest = digest(&manifest);
    let index = substitute(index, &[("@M", &manifest_digest)]);
    for blob in [&manifest[..], config, layer] {
        std::fs::write(blobs.join(&digest(blob)["sha256:".len()..]), blob).unwrap();
    }
    std::fs::write(layout.join("index.json"), &index).unwrap();
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let store = buildspec::oci::store::Store::open(&dir.path().join("store")).unwrap();
    let _ = buildspec::oci::source::load(&format!("oci:{}", layout.display()), &store);
    let _ = buildspec::oci::source::load(&format!("oci:{}:app", layout.display()), &store);
});

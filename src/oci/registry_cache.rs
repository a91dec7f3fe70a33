//! The oci backend's step cache shared through a registry, so many
//! runners with empty cache directories reuse each other's layers.
//!
//! One cache entry is one step: an OCI artifact manifest tagged
//! `step-<key hex>` in the cache repository, whose one layer is the
//! step's layer blob (its uncompressed digest in an annotation) and whose
//! config is the OCI empty descriptor. A build asks only for the tags its
//! own step keys name, one at a time as it reaches each step, so nothing
//! else of the cache is downloaded. What comes back is checked: the
//! manifest must name the key asked for, the blob must hash to the digest
//! the manifest gives (the store checks it as it writes), and the caller
//! checks the uncompressed digest before using the layer.

use std::collections::HashMap;

use oci_spec::image::{ImageManifest, ImageManifestBuilder, MediaType};

use crate::oci::digest::Digest;
use crate::oci::image::{descriptor, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_ZSTD, MEDIA_MANIFEST};
use crate::oci::registry::{self, Body, Error, PushStats, Reference, Session};
use crate::oci::source::LayerRef;
use crate::oci::store::{parse_digest, Store};

/// The artifact type of a cache entry's manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.buildspec.step.v1";
/// The manifest annotation holding the step key.
const KEY_ANNOTATION: &str = "dev.buildspec.step.key";
/// The layer annotation holding the layer's uncompressed digest.
const DIFF_ID_ANNOTATION: &str = "dev.buildspec.layer.diff-id";
/// The media type of the OCI empty JSON blob.
const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The OCI empty JSON blob, the config of every entry.
const EMPTY_JSON: &[u8] = b"{}";

/// `registry:HOST/REPO`: a repository the cache lives in (its tags are
/// the step keys, so the spec names none).
pub fn parse_spec(spec: &str) -> Result<Reference, String> {
    let bad = || format!("`{spec}` is not a cache for --backend oci: use registry:HOST/REPO (the step keys are its tags, so give no tag)");
    let repo = spec.strip_prefix("registry:").ok_or_else(bad)?;
    let last = repo.rsplit('/').next().unwrap_or(repo);
    if repo.contains('@') || last.contains(':') || !repo.contains('/') {
        return Err(bad());
    }
    Reference::parse(repo).map_err(|_| bad())
}

/// The tag an entry for `key` has.
pub fn tag_of(key: &Digest) -> String {
    format!("step-{}", key.hex())
}

/// A session with one cache repository.
pub struct RegistryCache {
    session: Session,
    /// `HOST/REPO`, for messages.
    pub name: String,
}

impl RegistryCache {
    /// A cache to read from (`push` false) or write to.
    pub fn open(reference: &Reference, push: bool) -> RegistryCache {
        let access = if push { "pull,push" } else { "pull" };
        let session = Session::new(reference, vec![format!("repository:{}:{access}", reference.repository)]);
        RegistryCache { session, name: format!("{}/{}", reference.registry, reference.repository) }
    }

    /// The layer the cache holds for `key`, its blob fetched into the
    /// store and checked against the manifest's digest and size; `None`
    /// when the cache has no entry for it.
    pub fn fetch(&mut self, key: &Digest, store: &Store) -> Result<Option<LayerRef>, Error> {
        let what = format!("cache entry {}", tag_of(key));
        let url = self.session.url(&format!("manifests/{}", tag_of(key)));
        let registry_name = self.session.reference.registry.clone();
        let session = &mut self.session;
        let body = registry::retrying(|| {
            let response = session.send("GET", &url, &[("Accept", MEDIA_MANIFEST)], &Body::Empty, &[200, 404], &what)?;
            if response.status() == 404 {
                return Ok(None);
            }
            registry::read_document(response, &registry_name, &what).map(Some)
        })?;
        let Some(body) = body else { return Ok(None) };
        let layer = entry_layer(&body, key).map_err(|message| Error::Protocol { registry: registry_name.clone(), message: format!("{what}: {message}") })?;
        let size = registry::fetch_blob(&mut self.session, store, &layer.digest, Some(layer.size))?;
        if size != layer.size {
            return Err(Error::Protocol { registry: registry_name, message: format!("{what}: blob {} has {size} bytes, the entry says {}", layer.digest, layer.size) });
        }
        Ok(Some(layer))
    }

    /// Writes an entry per step unless the cache has one; returns how many
    /// were written and how the blobs got there.
    pub fn publish(&mut self, store: &Store, entries: &[(Digest, LayerRef)]) -> Result<(usize, PushStats), Error> {
        let (empty, _) = store.put(EMPTY_JSON).map_err(|error| Error::Io { what: "storing the empty config".into(), error })?;
        let mut written = 0;
        let mut stats = PushStats::default();
        for (key, layer) in entries {
            let tag = tag_of(key);
            let what = format!("cache entry {tag}");
            let url = self.session.url(&format!("manifests/{tag}"));
            let session = &mut self.session;
            let head = registry::retrying(|| session.send("HEAD", &url, &[("Accept", MEDIA_MANIFEST)], &Body::Empty, &[200, 404], &what))?;
            if head.status() == 200 {
                continue;
            }
            let pushed = registry::push_blobs(&mut self.session, store, &[layer.digest.clone(), empty.clone()])?;
            stats.uploaded += pushed.uploaded;
            stats.mounted += pushed.mounted;
            stats.existing += pushed.existing;
            registry::put_manifest(&mut self.session, &tag, &entry_manifest(key, layer, &empty))?;
            written += 1;
        }
        Ok((written, stats))
    }
}

/// The manifest of the entry for `key`.
fn entry_manifest(key: &Digest, layer: &LayerRef, empty: &Digest) -> Vec<u8> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::Other(ARTIFACT_TYPE.to_owned()))
        .config(descriptor(MEDIA_EMPTY, empty, EMPTY_JSON.len() as u64, None))
        .layers(vec![descriptor(&layer.media_type, &layer.digest, layer.size, Some((DIFF_ID_ANNOTATION, layer.diff_id.as_str())))])
        .annotations(HashMap::from([(KEY_ANNOTATION.to_owned(), key.to_string())]))
        .build()
        .expect("a manifest with every field");
    // One annotation per map, so the HashMaps serialize in one order.
    serde_json::to_vec(&manifest).expect("a manifest serializes")
}

/// The layer an entry's manifest names, if it is an entry for `key`.
fn entry_layer(body: &[u8], key: &Digest) -> Result<LayerRef, String> {
    let manifest: ImageManifest = serde_json::from_slice(body).map_err(|e| format!("not an OCI manifest: {e}"))?;
    if manifest.artifact_type().as_ref().map(|t| t.to_string()).as_deref() != Some(ARTIFACT_TYPE) {
        return Err(format!("not a buildspec cache entry (artifact type is not {ARTIFACT_TYPE})"));
    }
    let named = manifest.annotations().as_ref().and_then(|a| a.get(KEY_ANNOTATION)).and_then(|k| parse_digest(k));
    if named.as_ref() != Some(key) {
        return Err("the entry is for another step key".into());
    }
    let [layer] = manifest.layers().as_slice() else {
        return Err(format!("{} layers, not one", manifest.layers().len()));
    };
    let media_type = layer.media_type().to_string();
    if ![MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD, MEDIA_LAYER_TAR].contains(&media_type.as_str()) {
        return Err(format!("a layer of type {media_type}"));
    }
    let digest = parse_digest(layer.digest().as_ref()).ok_or("a layer digest that is not sha256")?;
    let diff_id = layer.annotations().as_ref().and_then(|a| a.get(DIFF_ID_ANNOTATION)).and_then(|d| parse_digest(d)).ok_or("no uncompressed digest")?;
    Ok(LayerRef { digest, diff_id, size: layer.size(), media_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> LayerRef {
        LayerRef { digest: Digest::of(b"blob"), diff_id: Digest::of(b"tar"), size: 4, media_type: MEDIA_LAYER_GZIP.to_owned() }
    }

    #[test]
    fn an_entry_reads_back_for_its_key_only() {
        let key = Digest::of(b"key");
        let body = entry_manifest(&key, &layer(), &Digest::of(EMPTY_JSON));
        assert_eq!(entry_layer(&body, &key), Ok(layer()));
        assert_eq!(entry_layer(&body, &Digest::of(b"other")), Err("the entry is for another step key".into()));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(r#""artifactType":"application/vnd.buildspec.step.v1""#), "{text}");
        assert!(text.contains(r#""mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2"#), "{text}");
    }

    #[test]
    fn other_documents_are_not_entries() {
        let key = Digest::of(b"key");
        assert!(entry_layer(b"{}", &key).is_err());
        assert!(entry_layer(b"not json", &key).is_err());
        let image = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        assert!(entry_layer(image.as_bytes(), &key).unwrap_err().contains("artifact type"));
    }

    #[test]
    fn a_cache_is_a_repository_without_a_tag() {
        assert_eq!(parse_spec("registry:127.0.0.1:5000/cache/app").unwrap().repository, "cache/app");
        for bad in ["127.0.0.1:5000/cache", "registry:127.0.0.1:5000/cache:tag", "registry:host/cache@sha256:00", "registry:cache", "type=registry,ref=x/y"] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }
}

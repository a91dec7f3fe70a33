//! Base images from files: `docker-archive:FILE` (what `docker save`
//! writes), `oci:DIR[:TAG]` (an OCI image layout) and
//! `oci-archive:FILE[:TAG]` (a tar of one), and `registry:REFERENCE`
//! (pulled over the distribution API). Their blobs go into the store;
//! what comes back is the image's config and layer list.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use crate::oci::digest::Digest;
use crate::oci::image::{self, Descriptor, ImageConfig, ImageIndex, ImageManifest, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, REF_NAME};
use crate::oci::store::{parse_digest, Store};

/// A layer of an image, stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

impl LayerRef {
    /// The layer as the JSON the cache keeps (import memos, step records).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"digest": self.digest.as_str(), "diff_id": self.diff_id.as_str(), "size": self.size, "media_type": self.media_type})
    }

    /// Reads [`to_json`](Self::to_json)'s form back; records without a
    /// media type are gzip (the only kind written before zstd).
    pub fn from_json(v: &serde_json::Value) -> Option<LayerRef> {
        Some(LayerRef {
            digest: parse_digest(v["digest"].as_str()?)?,
            diff_id: parse_digest(v["diff_id"].as_str()?)?,
            size: v["size"].as_u64()?,
            media_type: v["media_type"].as_str().unwrap_or(MEDIA_LAYER_GZIP).to_owned(),
        })
    }
}

/// An image: its config and layers (bottom first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{0}` is not an image source: use docker-archive:FILE, oci:DIR[:TAG], oci-archive:FILE[:TAG] or registry:HOST/REPO[:TAG]")]
    UnknownKind(String),
    #[error("pulling {source_name}: {error}")]
    Registry { source_name: String, error: crate::oci::registry::Error },
    #[error("reading image {source_name}: {message}")]
    Invalid { source_name: String, message: String },
    #[error("reading image {source_name}: {error}")]
    Io { source_name: String, error: io::Error },
}

/// Loads the image a source string names.
pub fn load(source: &str, store: &Store) -> Result<Image, Error> {
    let io_err = |error| Error::Io { source_name: source.to_owned(), error };
    if let Some(file) = source.strip_prefix("docker-archive:") {
        // An archive already imported (same path, size and mtime) is not
        // read again.
        let meta = fs::metadata(file).map_err(io_err)?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        let id = Digest::of(format!("{}\u{0}{}\u{0}{mtime}", fs::canonicalize(file).map_err(io_err)?.display(), meta.len()).as_bytes());
        let memo = store.memo_path(&id);
        if let Some(image) = fs::read(&memo).ok().and_then(|b| from_memo(&b, store)) {
            return Ok(image);
        }
        let f = fs::File::open(file).map_err(io_err)?;
        let image = docker_archive(io::BufReader::new(f), store, source)?;
        // Atomically: a killed import leaves no half memo.
        let _ = crate::oci::store::write_atomic(&memo, &to_memo(&image));
        return Ok(image);
    }
    if let Some(rest) = source.strip_prefix("oci:") {
        let (dir, tag) = split_tag(rest);
        return oci_layout(Path::new(dir), tag, store, source);
    }
    if let Some(rest) = source.strip_prefix("oci-archive:") {
        let (file, tag) = split_tag(rest);
        let tmp = tempfile::tempdir().map_err(io_err)?;
        let f = fs::File::open(file).map_err(io_err)?;
        tar::Archive::new(f).unpack(tmp.path()).map_err(io_err)?;
        return oci_layout(tmp.path(), tag, store, source);
    }
    if let Some(name) = source.strip_prefix("registry:") {
        let registry_err = |error| Error::Registry { source_name: name.to_owned(), error };
        let reference = crate::oci::registry::Reference::parse(name).map_err(registry_err)?;
        let arch = ImageConfig::scratch().architecture;
        return crate::oci::registry::pull(&reference, store, &arch).map_err(registry_err);
    }
    Err(Error::UnknownKind(source.to_owned()))
}

/// `PATH:TAG` → (PATH, Some(TAG)); a `:` inside the path's last part only.
pub(crate) fn split_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') && !tag.is_empty() => (path, Some(tag)),
        _ => (s, None),
    }
}

fn invalid(source: &str, message: impl Into<String>) -> Error {
    Error::Invalid { source_name: source.to_owned(), message: message.into() }
}

fn media_of(store: &Store, digest: &Digest) -> io::Result<String> {
    let mut magic = [0u8; 2];
    let mut f = fs::File::open(store.path(digest))?;
    let n = f.read(&mut magic)?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] { MEDIA_LAYER_GZIP } else { MEDIA_LAYER_TAR }.to_owned())
}

fn docker_archive(reader: impl Read, store: &Store, source: &str) -> Result<Image, Error> {
    let io_err = |error| Error::Io { source_name: source.to_owned(), error };
    let mut by_name: HashMap<String, (Digest, u64)> = HashMap::new();
    let mut manifest_json = None;
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(io_err)?;
            manifest_json = Some(text);
        } else {
            let stored = store.put_stream(&mut entry).map_err(io_err)?;
            by_name.insert(name, stored);
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_json.ok_or_else(|| invalid(source, "no manifest.json"))?)
            .map_err(|e| invalid(source, e.to_string()))?;
    let first = &manifest[0];
    let config_name = first["Config"].as_str().ok_or_else(|| invalid(source, "no Config in manifest.json"))?;
    let (config_digest, _) = by_name.get(config_name).ok_or_else(|| invalid(source, "config blob missing"))?;
    let config: ImageConfig = serde_json::from_slice(&store.read(config_digest).map_err(io_err)?)
        .map_err(|e| invalid(source, format!("config: {e}")))?;
    let names = first["Layers"].as_array().ok_or_else(|| invalid(source, "no Layers in manifest.json"))?;
    let mut layers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.as_str().unwrap_or_default();
        let (digest, size) = by_name.get(name).ok_or_else(|| invalid(source, format!("layer {name} missing")))?.clone();
        let diff_id = config
            .rootfs
            .diff_ids
            .get(i)
            .and_then(|d| parse_digest(d))
            .ok_or_else(|| invalid(source, "config has fewer diff ids than layers"))?;
        let media_type = media_of(store, &digest).map_err(io_err)?;
        layers.push(LayerRef { digest, diff_id, size, media_type });
    }
    Ok(Image { config, layers })
}

fn oci_layout(dir: &Path, tag: Option<&str>, store: &Store, source: &str) -> Result<Image, Error> {
    let io_err = |error| Error::Io { source_name: source.to_owned(), error };
    let blob = |descriptor: &Descriptor| -> Result<Vec<u8>, Error> {
        let d = image::digest_of(descriptor).ok_or_else(|| invalid(source, format!("digest {} is not sha256", descriptor.digest())))?;
        fs::read(dir.join("blobs/sha256").join(d.hex())).map_err(io_err)
    };
    let index: ImageIndex = serde_json::from_slice(&fs::read(dir.join("index.json")).map_err(io_err)?)
        .map_err(|e| invalid(source, format!("index.json: {e}")))?;
    let chosen = index
        .manifests()
        .iter()
        .find(|m| match tag {
            Some(tag) => m.annotations().as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|n| n == tag),
            None => true,
        })
        .ok_or_else(|| invalid(source, format!("no image tagged {}", tag.unwrap_or("(any)"))))?;
    let mut manifest_bytes = blob(chosen)?;
    // A manifest list: take this machine's platform.
    if let Ok(list) = serde_json::from_slice::<ImageIndex>(&manifest_bytes)
        && !list.manifests().is_empty()
        && serde_json::from_slice::<ImageManifest>(&manifest_bytes).is_err()
    {
        let arch = ImageConfig::scratch().architecture;
        let pick = image::linux_manifest(&list, &arch).ok_or_else(|| invalid(source, format!("no linux/{arch} image in the manifest list")))?;
        manifest_bytes = blob(pick)?;
    }
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|e| invalid(source, format!("manifest: {e}")))?;
    let config_bytes = blob(manifest.config())?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| invalid(source, format!("config: {e}")))?;
    let mut layers = Vec::new();
    for (i, layer) in manifest.layers().iter().enumerate() {
        let d = image::digest_of(layer).ok_or_else(|| invalid(source, "a layer digest that is not sha256"))?;
        let f = fs::File::open(dir.join("blobs/sha256").join(d.hex())).map_err(io_err)?;
        let (digest, size) = store.put_stream(f).map_err(io_err)?;
        if digest != d {
            return Err(invalid(source, format!("layer {d} does not match its digest")));
        }
        let diff_id = config.rootfs.diff_ids.get(i).and_then(|x| parse_digest(x)).ok_or_else(|| invalid(source, "missing diff id"))?;
        layers.push(LayerRef { digest, diff_id, size, media_type: layer.media_type().to_string() });
    }
    Ok(Image { config, layers })
}

/// An imported image remembered as JSON (config and layer list).
fn to_memo(image: &Image) -> Vec<u8> {
    let layers: Vec<_> = image.layers.iter().map(LayerRef::to_json).collect();
    serde_json::to_vec(&serde_json::json!({"config": image.config, "layers": layers})).expect("json")
}

fn from_memo(bytes: &[u8], store: &Store) -> Option<Image> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let config: ImageConfig = serde_json::from_value(v["config"].clone()).ok()?;
    let mut layers = Vec::new();
    for l in v["layers"].as_array()? {
        let layer = LayerRef::from_json(l)?;
        if !store.has(&layer.digest) {
            return None;
        }
        layers.push(layer);
    }
    Some(Image { config, layers })
}

//! Writing a built image out: an OCI image layout directory, an OCI
//! archive (a tar of one), or a docker archive (`docker load` reads it).
//! Everything is written to a temporary name first and renamed into
//! place, so an interrupted write leaves no half-written output.

use std::fs;
use std::io;
use std::path::Path;

use crate::oci::digest::Digest;
use crate::oci::image::{self, to_json, ImageConfig, MEDIA_CONFIG, MEDIA_MANIFEST, REF_NAME};
use crate::oci::source::LayerRef;
use crate::oci::store::Store;

/// A finished image: config and manifest in the store.
#[derive(Debug, Clone)]
pub struct Built {
    pub config: ImageConfig,
    pub config_digest: Digest,
    pub config_size: u64,
    pub layers: Vec<LayerRef>,
    pub manifest_digest: Digest,
    pub manifest_size: u64,
}

/// Stores the config and manifest of an image.
pub fn finish(store: &Store, config: ImageConfig, layers: Vec<LayerRef>) -> io::Result<Built> {
    let (config_digest, config_size) = store.put(&to_json(&config))?;
    let config_descriptor = image::descriptor(MEDIA_CONFIG, &config_digest, config_size, None);
    let layer_descriptors = layers.iter().map(|l| image::descriptor(&l.media_type, &l.digest, l.size, None)).collect();
    let manifest = image::manifest(config_descriptor, layer_descriptors);
    let (manifest_digest, manifest_size) = store.put(&to_json(&manifest))?;
    Ok(Built { config, config_digest, config_size, layers, manifest_digest, manifest_size })
}

fn write_layout_into(store: &Store, built: &Built, dir: &Path, tag: &str) -> io::Result<()> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let mut digests = vec![built.config_digest.clone(), built.manifest_digest.clone()];
    digests.extend(built.layers.iter().map(|l| l.digest.clone()));
    for digest in digests {
        let dest = blobs.join(digest.hex());
        if !dest.exists() {
            // Hard links where the store is on the same file system.
            if fs::hard_link(store.path(&digest), &dest).is_err() {
                fs::copy(store.path(&digest), &dest)?;
            }
        }
    }
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let named = image::descriptor(MEDIA_MANIFEST, &built.manifest_digest, built.manifest_size, Some((REF_NAME, tag)));
    let index = image::index(vec![named]);
    fs::write(dir.join("index.json"), to_json(&index))?;
    Ok(())
}

fn temp_beside(path: &Path) -> io::Result<tempfile::TempDir> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    tempfile::Builder::new().prefix(".buildspec-out-").tempdir_in(parent)
}

/// Writes `dir` as an OCI image layout holding the image under `tag`.
pub fn write_oci_dir(store: &Store, built: &Built, dir: &Path, tag: &str) -> io::Result<()> {
    let tmp = temp_beside(dir)?;
    write_layout_into(store, built, tmp.path(), tag)?;
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    let staged = tmp.keep();
    fs::rename(&staged, dir)
}

/// Writes a tar of the layout (and, for docker, the `manifest.json` that
/// `docker load` reads) to `file`.
pub fn write_archive(store: &Store, built: &Built, file: &Path, tag: &str, docker: bool) -> io::Result<()> {
    let tmp = temp_beside(file)?;
    let layout = tmp.path().join("layout");
    write_layout_into(store, built, &layout, tag)?;
    if docker {
        // docker wants `name:tag`.
        let last = tag.rsplit('/').next().unwrap_or(tag);
        let tag = if last.contains(':') { tag.to_owned() } else { format!("{tag}:latest") };
        let manifest = serde_json::json!([{
            "Config": format!("blobs/sha256/{}", built.config_digest.hex()),
            "RepoTags": [tag],
            "Layers": built.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
        }]);
        fs::write(layout.join("manifest.json"), serde_json::to_vec(&manifest).expect("json"))?;
    }
    let tar_path = tmp.path().join("image.tar");
    {
        let out = fs::File::create(&tar_path)?;
        let mut tar = tar::Builder::new(io::BufWriter::new(out));
        tar.mode(tar::HeaderMode::Deterministic);
        let mut names: Vec<_> = walk(&layout)?;
        names.sort();
        for rel in names {
            tar.append_path_with_name(layout.join(&rel), &rel)?;
        }
        tar.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::rename(&tar_path, file)
}

fn walk(dir: &Path) -> io::Result<Vec<String>> {
    let mut res = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        for entry in fs::read_dir(&path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if entry.file_type()?.is_dir() {
                stack.push((entry.path(), child));
            } else {
                res.push(child);
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The manifest and index bytes are those the hand-written serde
    /// types wrote before oci-spec's types replaced them, so the digests
    /// of every image built before stay the same.
    #[test]
    fn manifest_and_index_bytes_are_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("store")).unwrap();
        store.put(b"layer").unwrap();
        let layer = LayerRef {
            digest: Digest::of(b"layer"),
            diff_id: Digest::of(b"tar"),
            size: 5,
            media_type: crate::oci::image::MEDIA_LAYER_GZIP.to_owned(),
        };
        let built = finish(&store, ImageConfig::scratch(), vec![layer.clone()]).unwrap();
        let config = Digest::of(&to_json(&ImageConfig::scratch()));
        let expected = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":5}}]}}"#,
            built.config_size, layer.digest
        );
        assert_eq!(String::from_utf8(store.read(&built.manifest_digest).unwrap()).unwrap(), expected);
        write_layout_into(&store, &built, &tmp.path().join("layout"), "app").unwrap();
        let index = fs::read_to_string(tmp.path().join("layout/index.json")).unwrap();
        let expected = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"app"}}}}]}}"#,
            built.manifest_digest, built.manifest_size
        );
        assert_eq!(index, expected);
    }
}

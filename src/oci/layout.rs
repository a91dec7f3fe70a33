//! Writing a built image out: an OCI image layout directory, an OCI
//! archive (a tar of one), or a docker archive (`docker load` reads it).
//! Everything is written to a temporary name first and renamed into
//! place, so an interrupted write leaves no half-written output.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use crate::oci::digest::Digest;
use crate::oci::image::{to_json, Descriptor, ImageConfig, Index, Manifest, MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST};
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
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.to_owned(),
        config: Descriptor {
            media_type: MEDIA_CONFIG.to_owned(),
            digest: config_digest.to_string(),
            size: config_size,
            annotations: None,
            platform: None,
        },
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.to_string(),
                size: l.size,
                annotations: None,
                platform: None,
            })
            .collect(),
    };
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
    let mut annotations = BTreeMap::new();
    annotations.insert("org.opencontainers.image.ref.name".to_owned(), tag.to_owned());
    let index = Index {
        schema_version: 2,
        media_type: MEDIA_INDEX.to_owned(),
        manifests: vec![Descriptor {
            media_type: MEDIA_MANIFEST.to_owned(),
            digest: built.manifest_digest.to_string(),
            size: built.manifest_size,
            annotations: Some(annotations),
            platform: None,
        }],
    };
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

//! OCI image values. The manifest, index and descriptors are oci-spec's
//! types, made here with the fields buildspec writes; the image config is
//! our own serde type, because oci-spec's `Config` keeps labels, ports,
//! volumes and annotations in `HashMap`s (their JSON order would change
//! from run to run, and with it the config digest) and has no place for
//! docker's `Healthcheck` and `Shell`. Immutable in use: building an image
//! makes new values.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{DescriptorBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType};
pub use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::{Deserialize, Deserializer, Serialize};

use crate::oci::digest::Digest;
use crate::oci::store::parse_digest;

/// Reads `null` as the empty value (docker writes `"Labels": null`).
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The annotation naming an image in a layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What the image runs and how (the `config` object of the image config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeConfig {
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Docker's extension, kept so `docker load` gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl RuntimeConfig {
    /// The value of an environment variable.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// Sets an environment variable, replacing an earlier value in place.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self.env.iter_mut().find(|kv| kv.split_once('=').map(|x| x.0) == Some(name)) {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The image config (what `docker inspect` shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub config: RuntimeConfig,
    pub rootfs: RootFs,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

impl ImageConfig {
    /// An empty image (`scratch`) for this machine's platform.
    pub fn scratch() -> ImageConfig {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        ImageConfig {
            created: Some("1970-01-01T00:00:00Z".to_owned()),
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            variant: None,
            config: RuntimeConfig::default(),
            rootfs: RootFs { kind: "layers".to_owned(), diff_ids: Vec::new() },
            history: Vec::new(),
        }
    }
}

/// A descriptor of a blob, with at most one annotation. The OCI types'
/// annotation maps are `HashMap`s, so one entry is what keeps their bytes
/// (and so the digests of what holds them) the same from run to run.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64, annotation: Option<(&str, &str)>) -> Descriptor {
    let builder = DescriptorBuilder::default()
        .media_type(MediaType::from(media_type))
        .digest(digest.as_str().parse::<oci_spec::image::Digest>().expect("our digests are sha256"))
        .size(size);
    match annotation {
        Some((name, value)) => builder.annotations(HashMap::from([(name.to_owned(), value.to_owned())])),
        None => builder,
    }
    .build()
    .expect("a descriptor with every required field")
}

/// The manifest of an image: its config and layers, in order.
pub fn manifest(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("a manifest with every required field")
}

/// An index of `manifests`.
pub fn index(manifests: Vec<Descriptor>) -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .expect("an index with every required field")
}

/// A descriptor's digest as ours, when it is a sha256 digest.
pub fn digest_of(descriptor: &Descriptor) -> Option<Digest> {
    parse_digest(descriptor.digest().as_ref())
}

/// The platform a descriptor in an index names, as
/// `os/architecture[/variant]`.
pub fn platform_name(descriptor: &Descriptor) -> Option<String> {
    let p = descriptor.platform().as_ref()?;
    Some(match p.variant() {
        Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
        None => format!("{}/{}", p.os(), p.architecture()),
    })
}

/// The manifest in an index for linux on `arch` (GOARCH spelling).
pub fn linux_manifest<'a>(index: &'a ImageIndex, arch: &str) -> Option<&'a Descriptor> {
    index.manifests().iter().find(|m| {
        m.platform().as_ref().is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
    })
}

/// Canonical JSON bytes of a value (sorted keys come from the types'
/// field order and BTreeMaps; no whitespace), so equal values give equal
/// digests.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("image values serialize")
}

//! Daemonless OCI images (the foundation of `--backend oci`): writing
//! deterministic layers and extracting untrusted ones safely.
//!
//! Layers are immutable values: a layer is written once from a sorted list
//! of entries and described by its digests; extraction treats every layer
//! as hostile input and never writes outside the root it is given.

pub mod diff;
pub mod digest;
pub mod extract;
pub mod image;
pub mod layer;
pub mod layout;
pub mod parallel_gzip;
pub mod registry;
pub mod registry_cache;
pub mod source;
pub mod stat_cache;
pub mod store;
pub mod verify;

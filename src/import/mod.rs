//! `buildspec import`: a Dockerfile into a spec. `dockerfile.rs` splits
//! the text as BuildKit does; `generated.rs` reads back what buildspec's
//! own output says in comments and test gates; `write.rs` turns the instructions into spec
//! nodes, inferring each stage's role, and writes the KDL. Pure: the CLI
//! reads the files and writes the spec.

pub mod dockerfile;
pub mod generated;
pub mod packages;
pub mod write;

pub use dockerfile::ImportError;
pub use write::{Imported, StageReport};

/// A Dockerfile's text (and the .dockerignore beside it) as a spec.
pub fn import(text: &str, dockerignore: Option<&str>, file_name: &str) -> Result<Imported, ImportError> {
    let parsed = dockerfile::parse(text)?;
    write::import(&parsed, generated::recognize(text).as_ref(), dockerignore, file_name)
}

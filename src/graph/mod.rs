//! The stage graph: stages as nodes, edges for `from=`, `copy from=`,
//! `bind from=` and test gates. Built from a [`Spec`](crate::spec::Spec) by
//! [`build`], which resolves every reference and reports dangling ones and
//! cycles. Passes rewrite it; `emit` writes it out.

pub(crate) mod build;
pub mod image_ref;
mod walk;

pub use build::build;
pub use walk::{reachable, topological_order};

use crate::source::{Span, Spanned};
use crate::spec::{ArgDecl, Context, Role, Step, StepKind};

/// Index of a stage in [`Graph::stages`]; stable for the graph's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StageId(pub usize);

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Stage(StageId),
    /// An image reference (may hold `${ARG}`s that name no stage).
    Image(String),
    Scratch,
    /// A `from=` with `${ARG}`s that may expand to a stage name. The
    /// candidates are the earlier stages whose names fit the pattern.
    Dynamic { pattern: String, candidates: Vec<StageId> },
}

impl Base {
    /// The stages this base may be: one, the candidates of a `from=`
    /// chosen by an arg, or none (an image, scratch).
    pub fn stages(&self) -> &[StageId] {
        match self {
            Base::Stage(on) => std::slice::from_ref(on),
            Base::Dynamic { candidates, .. } => candidates,
            Base::Image(_) | Base::Scratch => &[],
        }
    }
}

/// Why one stage needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    From,
    CopyFrom,
    BindFrom,
    Gate,
}

/// `stage` needs `on` because of the reference at `span`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub on: StageId,
    pub kind: EdgeKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Stage {
    pub id: StageId,
    pub role: Role,
    pub name: Spanned<String>,
    pub from: Spanned<String>,
    pub base: Base,
    pub platform: Option<Spanned<String>>,
    pub gate: bool,
    pub steps: Vec<Step>,
    /// Test stages this stage waits for (filled by the test-gating pass).
    pub gates: Vec<StageId>,
    pub deps: Vec<Dep>,
    pub span: Span,
}

/// One rewrite a pass made, for `buildspec explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub pass: &'static str,
    pub stage: StageId,
    pub message: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub context: Context,
    pub args: Vec<ArgDecl>,
    /// Every stage of the spec, indexed by [`StageId`].
    pub stages: Vec<Stage>,
    /// The stages to emit, dependencies first.
    pub order: Vec<StageId>,
    /// The stage a plain `docker build` of the output builds.
    pub target: StageId,
    pub rewrites: Vec<Rewrite>,
}

impl Graph {
    pub fn stage(&self, id: StageId) -> &Stage {
        &self.stages[id.0]
    }

    pub fn find(&self, name: &str) -> Option<StageId> {
        self.stages.iter().find(|s| s.name.value == name).map(|s| s.id)
    }

    /// [`Graph::order`] in waves: a wave's stages need (as base, copy or
    /// bind source, or test gate) only stages of earlier waves, so they
    /// may be built at once. Each wave keeps build order.
    pub fn waves(&self) -> Vec<Vec<StageId>> {
        let needs = |id: StageId| -> Vec<StageId> {
            let stage = self.stage(id);
            let mut needs: Vec<StageId> = stage.deps.iter().map(|d| d.on).chain(stage.gates.iter().copied()).chain(stage.base.stages().iter().copied()).collect();
            // What a step names, looked up as the builders look it up.
            build::for_each_step(&stage.steps, &mut |step| match &step.kind {
                StepKind::Copy(copy) => needs.extend(copy.from.as_ref().and_then(|from| self.find(from))),
                StepKind::Run(run) => needs.extend(run.binds.iter().filter_map(|b| b.from.as_ref()).filter_map(|from| self.find(from))),
                _ => {}
            });
            needs
        };
        let mut left: Vec<StageId> = self.order.clone();
        let mut waves = Vec::new();
        while !left.is_empty() {
            let (ready, rest): (Vec<StageId>, Vec<StageId>) = left.iter().copied().partition(|id| needs(*id).iter().all(|n| !left.contains(n)));
            if ready.is_empty() {
                // Not reached: `build` refuses cycles. One at a time, then.
                waves.push(vec![left.remove(0)]);
                continue;
            }
            waves.push(ready);
            left = rest;
        }
        waves
    }

    /// The images `stage` names, in the order it names them: its base (at
    /// its `from=`), then each `copy from=` and `bind from=` that names no
    /// stage. Each with the kind of edge it would be and where it is written.
    pub fn image_refs<'g>(&'g self, stage: &'g Stage) -> Vec<(EdgeKind, &'g str, Span)> {
        let mut refs = Vec::new();
        if let Base::Image(image) = &stage.base {
            refs.push((EdgeKind::From, image.as_str(), stage.from.span));
        }
        let image = |from: &'g Spanned<String>| self.find(&from.value).is_none().then_some((from.value.as_str(), from.span));
        for step in &stage.steps {
            match &step.kind {
                StepKind::Copy(copy) => refs.extend(copy.from.as_ref().and_then(image).map(|(i, s)| (EdgeKind::CopyFrom, i, s))),
                StepKind::Run(run) => {
                    refs.extend(run.binds.iter().filter_map(|b| b.from.as_ref()).filter_map(image).map(|(i, s)| (EdgeKind::BindFrom, i, s)))
                }
                _ => {}
            }
        }
        refs
    }

    /// The stage and the stages it is built on (`from=` a stage), nearest
    /// first: the last one starts from an image, scratch or a stage chosen
    /// by an arg. (The graph has no cycles: `build` refuses them.)
    /// A value for every stage, folded along its `from=` chain:
    /// `at_root(stage)` for what the chain's first stage starts from (its
    /// image, scratch), then `step(value of the base, stage)` for each
    /// stage. One visit per stage; no recursion, so a chain of any length
    /// is fine.
    pub fn over_base_chains<T: Clone>(&self, at_root: impl Fn(&Stage) -> T, step: impl Fn(T, &Stage) -> T) -> Vec<T> {
        let n = self.stages.len();
        let mut values: Vec<Option<T>> = vec![None; n];
        for start in 0..n {
            let mut pending = Vec::new();
            let mut id = StageId(start);
            while values[id.0].is_none() && pending.len() <= n {
                pending.push(id);
                match self.stage(id).base {
                    Base::Stage(on) => id = on,
                    _ => break,
                }
            }
            for &stage in pending.iter().rev() {
                let inherited = match self.stage(stage).base {
                    Base::Stage(on) => values[on.0].clone().unwrap_or_else(|| at_root(self.stage(stage))),
                    _ => at_root(self.stage(stage)),
                };
                values[stage.0] = Some(step(inherited, self.stage(stage)));
            }
        }
        values.into_iter().map(|v| v.expect("every stage visited")).collect()
    }

    /// [`Graph::package_manager`] of every stage, in one pass.
    pub fn package_managers(&self) -> Vec<Option<crate::spec::PackageManager>> {
        // The chain's root decides; a dynamic base resolves to a stage or an
        // image by its default, which the per-stage walk handles.
        let roots = self.over_base_chains(|_| None, |root: Option<StageId>, stage| root.or(Some(stage.id)));
        roots.into_iter().map(|root| root.and_then(|r| self.package_manager(r))).collect()
    }

    pub fn base_chain(&self, id: StageId) -> Vec<StageId> {
        let mut chain = vec![id];
        while let Base::Stage(on) = &self.stage(*chain.last().expect("one stage")).base {
            chain.push(*on);
        }
        chain
    }

    /// Checks the invariants passes must keep: `order` lists each stage at
    /// most once, after all of its dependencies, and ends with `target`'s
    /// dependencies available. Panics on violation: a broken invariant is a
    /// bug, not a user error.
    pub fn validate(&self) {
        let mut seen = vec![false; self.stages.len()];
        for id in &self.order {
            assert!(!seen[id.0], "stage {} emitted twice", self.stage(*id).name.value);
            for dep in &self.stage(*id).deps {
                assert!(
                    seen[dep.on.0],
                    "stage {} emitted before its dependency {}",
                    self.stage(*id).name.value,
                    self.stage(dep.on).name.value
                );
            }
            seen[id.0] = true;
        }
        assert!(seen[self.target.0], "target not emitted");
    }
}

impl Graph {
    /// The system package manager of a stage, from its base image's name
    /// (following stage bases), when it can be told: `apk` for Alpine
    /// images, none for `scratch` and distroless, `apt` otherwise.
    pub fn package_manager(&self, id: StageId) -> Option<crate::spec::PackageManager> {
        let mut id = id;
        for _ in 0..self.stages.len() {
            match &self.stage(id).base {
                Base::Stage(on) => id = *on,
                Base::Scratch => return None,
                Base::Dynamic { pattern, .. } => {
                    // The arg's default decides; the spec can say manager= otherwise.
                    let default = image_ref::expand_defaults(pattern, &self.args);
                    match self.find(&default) {
                        Some(stage) => id = stage,
                        None => return manager_of_image(&default),
                    }
                }
                Base::Image(image) => return manager_of_image(&image_ref::expand_defaults(image, &self.args)),
            }
        }
        None
    }
}

/// The package manager an image's name implies: `apk` for Alpine, `apt`
/// for the Debian and Ubuntu based images most official images are, none
/// for images known to have neither.
fn manager_of_image(image: &str) -> Option<crate::spec::PackageManager> {
    use crate::spec::PackageManager;
    let image = image.to_ascii_lowercase();
    let name = image.rsplit('/').next().unwrap_or(&image);
    if image.contains('$') {
        return None;
    }
    if name.contains("alpine") {
        return Some(PackageManager::Apk);
    }
    const NEITHER: &[&str] = &["distroless", "scratch", "busybox", "fedora", "centos", "rockylinux", "almalinux", "ubi", "amazonlinux", "wolfi", "chainguard", "static"];
    if NEITHER.iter().any(|n| image.contains(n)) {
        return None;
    }
    Some(PackageManager::Apt)
}

//! Walking a monorepo (placeholder filled by the generate work).

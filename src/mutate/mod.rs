//! Mutants: one-change, authorization-shaped edits of a server's handler
//! files (negated conditions, dropped raises and checks, swapped operators and
//! roles), each with a stable id; and the triage file that accepts survivors.
//!
//! Pure and synchronous: it parses the source it is given (tree-sitter's
//! Python grammar, never patterns over text) and reads the triage file. It
//! imports only `support` and `spec`; `jobs/mutate.rs` lays mutants on a
//! revision and boots them.

mod python;
pub mod triage;

pub use python::{Mutant, Operator, generate};
pub use triage::{Reason, Serves, Triage, TriageEntry};

#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    #[error("cannot parse {file} as Python: line {line}, column {column}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Triage {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
}

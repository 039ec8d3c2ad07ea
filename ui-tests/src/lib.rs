//! Holds no code: the cases live in `cases/` and run from `tests/ui.rs`.
